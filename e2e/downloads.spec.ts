/**
 * Downloads in the GUI (issue 14 item 4) against the real app and a fake Hugging Face on loopback
 * (`hf_endpoint` pointed at it): search the Hub, pick a quantization, watch the new row download,
 * then load it and get an answer; pause and resume in the Downloads view; a not-downloaded row's
 * button says what a click downloads.
 */
import { rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page } from '@playwright/test';
import { seededBlob, startFakeHub } from '../test/fixtures/fakeHub';
import type { FakeHub } from '../test/fixtures/fakeHub';
import { expect, keepScreenshot, restartApp, row, tempRoot, test as appTest } from './support/app';

const test = appTest.extend<{ hub: FakeHub; root: string }>({
  hub: async ({}, use) => {
    const hub = await startFakeHub();
    try {
      await use(hub);
    } finally {
      await hub.close();
    }
  },
  // A folder of its own that outlives a stop, so a test can restart the app on the same data.
  root: async ({}, use) => {
    const root = tempRoot();
    try {
      await use(root);
    } finally {
      rmSync(root, { recursive: true, force: true });
    }
  },
  appOptions: async ({ hub, root }, use) => use({ root, args: hubArgs(hub) }),
});

const MiB = 1024 * 1024;
const hubArgs = (hub: FakeHub) => ['--hf-endpoint', hub.endpoint, '--download-reserve', '0'];

async function openAddModel(page: Page) {
  await page.locator('.toolbar').getByRole('button', { name: 'Add model' }).click();
  return page.getByRole('dialog', { name: 'Add model' });
}

test('G38 G39 G40: search the Hub, pick a quantization, the row appears and downloads, then it loads and answers', async ({ page, hub, app }) => {
  const q4 = await hub.addFile('me/Tiny-GGUF', 'tiny-Q4_K_M.gguf');
  await hub.addFile('me/Tiny-GGUF', 'tiny-Q8_0.gguf');
  await hub.addFile('other/Unrelated-GGUF', 'u-Q4_K_M.gguf');
  // Slow enough to see the row download (about 3 s).
  hub.knobs('me/Tiny-GGUF', 'tiny-Q4_K_M.gguf').throttle = Math.ceil(q4.data.length / 3);

  const dialog = await openAddModel(page);
  await dialog.getByLabel('Model to add').fill('tiny');
  await dialog.getByRole('button', { name: 'Search' }).click();
  const results = dialog.getByRole('list', { name: 'Search results' });
  await expect(results.getByRole('button')).toHaveCount(1);
  await results.getByRole('button', { name: /me\/Tiny-GGUF/ }).click();

  const quants = dialog.getByRole('table', { name: 'Quantizations' });
  await expect(quants.locator('tr[data-quant]')).toHaveCount(2);
  // A tiny file fits any machine; Q4_K_M is the default pick.
  await expect(quants.locator('tr[data-quant="Q4_K_M"]').getByTestId('fit')).toHaveText('fits');
  await expect(quants.getByRole('radio', { name: 'Q4_K_M' })).toBeChecked();
  await expect(dialog.getByLabel('Model name')).toHaveValue('Tiny-Q4_K_M');
  await expect(dialog.getByTestId('room')).toContainText('memory free');
  await keepScreenshot(page, 'downloads-add-model');

  await dialog.getByLabel('Model name').fill('tiny-dl');
  await dialog.getByRole('button', { name: /^Download \(\d+(\.\d)? KB\)$/ }).click();
  await expect(dialog).toHaveCount(0);

  // The row is there at once, downloading with progress, before the file is.
  const r = row(page, 'tiny-dl');
  await expect(r).toHaveAttribute('data-status', 'not_downloaded');
  await expect(r.getByTestId('state')).toHaveText('Downloading');
  await expect(r.getByRole('progressbar', { name: 'Download progress' })).toBeVisible();
  await expect(r).toHaveAttribute('data-status', 'ok', { timeout: 30_000 });

  await r.getByRole('button', { name: 'Load' }).click();
  await expect(r).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
  const conv = await app.call('createConversation', { model: 'tiny-dl' });
  if (!conv.ok) throw new Error(conv.error.message);
  const sent = await app.call('sendMessage', conv.value.id, 'Hello');
  expect(sent.ok).toBe(true);
  await expect
    .poll(async () => {
      const c = await app.call('conversation', conv.value.id);
      return c.ok ? c.value.messages.filter((m) => m.role === 'assistant' && !!m.finish && m.content.length > 0).length : 0;
    }, { timeout: 30_000 })
    .toBe(1);

  // The Downloads view lists it as done, checked against the Hub's sha256.
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Downloads' }).click();
  const job = page.locator('.job[data-target="tiny-Q4_K_M.gguf"]');
  await expect(job.getByTestId('job-state')).toHaveText('Done');
  await expect(job).toContainText('sha256 checked (config)');
});

test('G19 G34: pause and resume in the Downloads view; a page reload keeps the state; the paused row offers "Download (3.0 MB)"', async ({ page, hub }) => {
  await hub.addFile('me/Big-GGUF', 'big-Q4_K_M.gguf', { data: seededBlob(3 * MiB), knobs: { throttle: 256 * 1024 } });
  const dialog = await openAddModel(page);
  await dialog.getByLabel('Model to add').fill('me/Big-GGUF');
  await dialog.getByRole('button', { name: 'Open' }).click();
  await expect(dialog.getByRole('radio', { name: 'Q4_K_M' })).toBeChecked();
  await dialog.getByRole('button', { name: 'Download (3.0 MB)' }).click();
  await expect(dialog).toHaveCount(0);

  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Downloads' }).click();
  const job = page.locator('.job[data-target="big-Q4_K_M.gguf"]');
  await expect(job.getByTestId('job-state')).toHaveText('Downloading');
  await expect(job.getByTestId('speed')).toHaveText(/KB\/s|MB\/s/);
  await expect(job.getByTestId('eta')).toHaveText(/\d+ s left|\d+ min left/);
  await expect(job.getByTestId('bytes')).toHaveText(/of 3\.0 MB$/);
  await keepScreenshot(page, 'downloads-view');

  await job.getByRole('button', { name: 'Pause' }).click();
  await expect(job.getByTestId('job-state')).toHaveText('Paused');
  const pausedAt = await job.getByTestId('bytes').textContent();
  await page.waitForTimeout(1000);
  await expect(job.getByTestId('bytes')).toHaveText(pausedAt!);

  // The page keeps nothing itself: after a reload the core's list says the same.
  await page.reload();
  await expect(job.getByTestId('job-state')).toHaveText('Paused');
  await expect(job.getByTestId('bytes')).toHaveText(pausedAt!);
  await keepScreenshot(page, 'downloads-view-paused');

  // The model's row is not downloaded; its button says what a click fetches.
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Models' }).click();
  const r = row(page, 'Big-Q4_K_M');
  await expect(r).toHaveAttribute('data-status', 'not_downloaded');
  await expect(r.getByTestId('state')).toHaveText('Paused');
  await expect(r.getByRole('button', { name: 'Download (3.0 MB)' })).toBeVisible();

  hub.knobs('me/Big-GGUF', 'big-Q4_K_M.gguf').throttle = 0;
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Downloads' }).click();
  await job.getByRole('button', { name: 'Resume' }).click();
  await expect(job.getByTestId('job-state')).toHaveText('Done', { timeout: 20_000 });
  // It continued where it stopped: some range requests started past 0.
  expect(hub.requests.some((q) => q.server === 'cdn' && q.range && !q.range.startsWith('bytes=0-'))).toBe(true);
});

test('G40: a config naming a Hub file is a not-downloaded row; its Download button fetches the file and the row turns ok', async ({ page, hub, app }) => {
  const { uri } = await hub.addFile('me/Tiny-GGUF', 'tiny-Q4_K_M.gguf');
  // A LocalAI config copied from elsewhere: its file is not here and no download knows its size yet.
  writeFileSync(join(app.modelsDir, 'later.yaml'), `name: later\nparameters:\n  model: ${uri}\n`);
  const r = row(page, 'later');
  await expect(r).toHaveAttribute('data-status', 'not_downloaded');
  await expect(r.getByTestId('state')).toHaveText('Not downloaded');
  await expect(r.getByTestId('problem')).toContainText(uri);
  await r.getByRole('button', { name: 'Download', exact: true }).click();
  await expect(r).toHaveAttribute('data-status', 'ok', { timeout: 20_000 });
  await expect(r.getByRole('button', { name: 'Load' })).toBeEnabled();
});

test('G5 G38: a refused download says to set hf_token and offers Retry; with the Hub unreachable, search says so and pasting still works', async ({ page, hub, app }) => {
  const { uri } = await hub.addFile('me/Gated-GGUF', 'gated-Q4_K_M.gguf', { gated: true });
  const added = await app.call('addModel', { name: 'gated', files: [{ uri }] });
  if (!added.ok) throw new Error(added.error.message);
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Downloads' }).click();
  const job = page.locator('.job[data-target="gated-Q4_K_M.gguf"]');
  await expect(job.getByTestId('job-state')).toHaveText('Failed', { timeout: 20_000 });
  await expect(job.getByRole('alert')).toContainText('hf_token');
  await expect(job.getByRole('button', { name: 'Retry' })).toBeVisible();
  await keepScreenshot(page, 'downloads-view-failed');
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Models' }).click();
  await expect(row(page, 'gated').getByTestId('problem')).toContainText('Download failed');

  const saved = await app.call('updateSettings', { hf_endpoint: 'http://127.0.0.1:9' });
  expect(saved.ok).toBe(true);
  const dialog = await openAddModel(page);
  await dialog.getByLabel('Model to add').fill('tiny');
  await dialog.getByRole('button', { name: 'Search' }).click();
  await expect(dialog.getByTestId('add-problem')).toContainText('cannot be reached');
  await expect(dialog.getByTestId('add-problem')).toContainText('Paste a model URI instead');
  await keepScreenshot(page, 'downloads-add-model-offline');
  await dialog.getByLabel('Model to add').fill('huggingface://me/Some-GGUF/some-Q4_K_M.gguf');
  await dialog.getByRole('button', { name: 'Open' }).click();
  await expect(dialog.getByLabel('Model name')).toHaveValue('some-Q4_K_M');
  await expect(dialog.getByRole('button', { name: 'Download', exact: true })).toBeEnabled();
});

test('G20: a paused download is still paused, with what arrived, after the app restarts; Resume finishes it', async ({ page, hub, app }) => {
  await hub.addFile('me/Big-GGUF', 'big-Q4_K_M.gguf', { data: seededBlob(3 * MiB), knobs: { throttle: 256 * 1024 } });
  const added = await app.call('addModel', { name: 'big', files: [{ uri: 'huggingface://me/Big-GGUF/big-Q4_K_M.gguf' }] });
  if (!added.ok) throw new Error(added.error.message);
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Downloads' }).click();
  const job = page.locator('.job[data-target="big-Q4_K_M.gguf"]');
  await expect(job.getByTestId('job-state')).toHaveText('Downloading');
  await expect(job.getByTestId('bytes')).not.toHaveText(/^0 B/);
  await job.getByRole('button', { name: 'Pause' }).click();
  await expect(job.getByTestId('job-state')).toHaveText('Paused');
  const pausedAt = (await job.getByTestId('bytes').textContent())!;

  await app.stop();
  const again = await restartApp(app, { args: hubArgs(hub) });
  try {
    await page.goto(`${again.url}#/downloads`);
    await expect(job.getByTestId('job-state')).toHaveText('Paused');
    await expect(job.getByTestId('bytes')).toHaveText(pausedAt);
    await expect(row(page, 'big')).toHaveCount(0); // on the Downloads view
    hub.knobs('me/Big-GGUF', 'big-Q4_K_M.gguf').throttle = 0;
    await job.getByRole('button', { name: 'Resume' }).click();
    await expect(job.getByTestId('job-state')).toHaveText('Done', { timeout: 20_000 });
  } finally {
    await again.stop();
  }
});
