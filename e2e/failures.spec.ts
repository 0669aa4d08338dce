/** Failures are shown where they happen, in words: a killed backend, a crash while loading, a broken config. */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, faultModel, keepScreenshot, row, test } from './support/app';

const STDERR_LINE = 'ggml_init: warning: 1 thread only (fake device fault0)';

test.use({
  appOptions: {
    faultBackends: { noisy: STDERR_LINE },
    configs: {
      'victim.yaml': faultModel('victim', { backend: 'noisy' }),
      'crasher.yaml': faultModel('crasher', { options: ['fault_load_crash:1'] }),
      'broken.yaml': 'name: broken\nbackend: fault\nconcurrency_groups: [unclosed\n',
      'elsewhere.yaml': 'name: elsewhere\nparameters:\n  model: huggingface://example/tiny/tiny.gguf\n',
    },
  },
});

test('U3: killing a backend process shows the failed state with its last stderr line, in the row, the details and the log', async ({ page, app }) => {
  const victim = row(page, 'victim');
  await victim.getByRole('button', { name: 'Load' }).click();
  await expect(victim).toHaveAttribute('data-state', 'ready');
  const snap = await app.call('snapshot');
  const pid = snap.ok ? snap.value.models.find((m) => m.name === 'victim')!.pid! : 0;
  expect(pid).toBeGreaterThan(0);
  process.kill(pid, 'SIGKILL');

  await expect(victim).toHaveAttribute('data-state', 'failed');
  await expect(victim.getByTestId('state')).toHaveText('Failed');
  await expect(victim.getByTestId('failure')).toContainText('SIGKILL');
  await expect(victim.getByTestId('failure')).toContainText(STDERR_LINE);
  // It can be loaded again.
  await expect(victim.getByRole('button', { name: 'Load' })).toBeEnabled();
  await page.getByRole('button', { name: /^Problems/ }).click();
  await expect(victim).toBeVisible();
  await keepScreenshot(page, 'failures');

  await victim.getByRole('link', { name: 'victim' }).click();
  const details = page.getByRole('complementary', { name: 'Details of victim' });
  await expect(details.getByRole('alert')).toContainText(STDERR_LINE);
  await details.getByRole('link', { name: 'open its log' }).click();
  await expect(page).toHaveURL(/#\/logs\/victim$/);
  await expect(page.getByTestId('log').locator('.log-line.stderr')).toContainText([STDERR_LINE]);
  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.getByRole('button', { name: 'Copy all' }).click();
  await expect(page.getByRole('status').filter({ hasText: /^Copied \d+ lines\.$/ })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toContain(STDERR_LINE);
  await keepScreenshot(page, 'logs');
});

test('L10/L11: a backend that crashes while loading fails the load with its stderr line; the error stays on the row', async ({ page }) => {
  const crasher = row(page, 'crasher');
  await crasher.getByRole('button', { name: 'Load' }).click();
  await expect(crasher).toHaveAttribute('data-state', 'failed');
  await expect(crasher.getByRole('alert')).toContainText('fatal: model load crashed');
  await crasher.getByRole('button', { name: /Dismiss the error/ }).click();
  await expect(crasher.getByTestId('failure')).toContainText('exit code 4');
});

test('C4: a broken config shows its error on its row and cannot be loaded; a model not downloaded says so; the others work', async ({ page, app }) => {
  const broken = row(page, 'broken');
  await expect(broken).toHaveAttribute('data-status', 'error');
  await expect(broken.getByTestId('problem')).toContainText('Config error');
  await expect(broken.getByRole('button', { name: 'Load' })).toBeDisabled();
  await expect(row(page, 'elsewhere').getByTestId('problem')).toContainText('Not downloaded');
  await expect(row(page, 'elsewhere').getByTestId('problem')).toContainText('huggingface://');
  await expect(page.getByRole('button', { name: /^Problems/ })).toHaveText(/Problems\s*2/);

  // Fixed on disk: the row recovers by itself (the folder is watched).
  writeFileSync(join(app.modelsDir, 'broken.yaml'), faultModel('broken'));
  await expect(broken).toHaveAttribute('data-status', 'ok');
  await broken.getByRole('button', { name: 'Load' }).click();
  await expect(broken).toHaveAttribute('data-state', 'ready');
});
