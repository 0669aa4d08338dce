/** Models view: load and unload a real model, search and filter, the LRU view as models are used. */
import { expect, faultModel, keepScreenshot, row, test, openView } from './support/app';

test.describe('a real tiny GGUF on the built-in llama backend', () => {
  test.use({ appOptions: { ggufs: { 'tiny-chat': 7 }, configs: { 'helper.yaml': faultModel('helper', { groups: ['gpu-heavy'] }) } } });

  test('L14: Load shows it starting, then loaded with measured memory; Unload puts it back; the journal says it was you', async ({ page, app }) => {
    const tiny = row(page, 'tiny-chat');
    await expect(tiny).toContainText('llama-cpp');
    await expect(tiny).toContainText('F32');
    await tiny.getByRole('button', { name: 'Load' }).click();
    // Nothing else is loaded, so no plan dialog: it starts at once.
    await expect(page.getByRole('dialog')).toHaveCount(0);
    await expect(tiny).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
    await expect(tiny.getByTestId('state')).toHaveText('Loaded');
    await expect(tiny).toContainText('used');
    await expect(page.locator('.summary')).toContainText('1 loaded');
    await keepScreenshot(page, 'models-loaded');
    await page.emulateMedia({ colorScheme: 'dark' });
    await keepScreenshot(page, 'models-loaded-dark');
    await page.emulateMedia({ colorScheme: 'light' });

    // Details: the file's metadata and the backend process.
    await tiny.getByRole('link', { name: 'tiny-chat' }).click();
    const details = page.getByRole('complementary', { name: 'Details of tiny-chat' });
    await expect(details).toContainText('Architecture');
    await expect(details.getByTestId('pid')).toHaveText(/^\d+$/);
    await page.keyboard.press('Escape');
    await expect(details).toHaveCount(0);

    await tiny.getByRole('button', { name: 'Unload' }).click();
    await expect(tiny).toHaveAttribute('data-state', 'unloaded', { timeout: 15_000 });
    await openView(page, 'Activity');
    const entry = page.getByTestId('journal').locator('tr[data-model="tiny-chat"]');
    await expect(entry).toHaveAttribute('data-reason', 'user');
    await expect(entry).toContainText('by you');

    // Its log has the backend's output.
    await openView(page, 'Logs');
    await page.getByLabel('Model whose log to show').selectOption('tiny-chat');
    await expect(page.getByTestId('log')).not.toBeEmpty();
  });

  test('search and filters narrow the list; the keyboard moves, opens and loads', async ({ page }) => {
    await expect(row(page, 'helper')).toBeVisible();
    await page.keyboard.press('/');
    await page.keyboard.type('gpu-heavy');
    await expect(row(page, 'helper')).toBeVisible();
    await expect(row(page, 'tiny-chat')).toHaveCount(0);
    await expect(page.getByText('1 of 2 shown')).toBeVisible();
    await page.getByLabel('Search models').fill('');
    await page.getByRole('button', { name: /^Pinned/ }).click();
    await expect(page.getByText('No model matches')).toBeVisible();
    await page.getByRole('button', { name: /^All/ }).click();

    // Arrow down from the search box into the list, Enter opens the details, l loads.
    await page.getByLabel('Search models').focus();
    await page.keyboard.press('ArrowDown');
    await expect(page.locator('.vrow.active .model-row')).toHaveAttribute('data-model', 'helper');
    await page.keyboard.press('l');
    await expect(row(page, 'helper')).toHaveAttribute('data-state', 'ready');
    await page.keyboard.press('Enter');
    await expect(page.getByRole('complementary', { name: 'Details of helper' })).toBeVisible();
    await expect(page).toHaveURL(/#\/models\/helper$/);
  });
});

test.describe('a slow load', () => {
  test.use({ appOptions: { configs: { 'slow.yaml': faultModel('slow', { options: ['fault_load_ms:20000', 'fault_progress:1'] }) } } });

  test('L12/L14: a load shows its progress and elapsed time, and Cancel stops it', async ({ page }) => {
    const slow = row(page, 'slow');
    await slow.getByRole('button', { name: 'Load' }).click();
    await expect(slow).toHaveAttribute('data-state', 'loading');
    await expect(slow.getByRole('progressbar', { name: 'Load progress' })).toBeVisible();
    await expect(slow.locator('.elapsed')).toHaveText(/^\d+\.\d s$/);
    await expect(slow.locator('.load-progress')).toContainText(/[1-9]\d?%/);
    await expect(page.locator('.summary')).toContainText('1 loading');
    await slow.getByRole('button', { name: 'Cancel' }).click();
    await expect(slow).toHaveAttribute('data-state', 'unloaded');
    // Cancelling is not an error to show.
    await expect(slow.getByRole('alert')).toHaveCount(0);
  });
});

test.describe('LRU', () => {
  test.use({
    appOptions: {
      configs: { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b'), 'c.yaml': faultModel('c') },
      args: ['--max-active', '3'],
    },
  });

  test('L1/L6: the LRU view lists loaded models least recently used first, reorders as they are used, and names the one that goes next', async ({ page, app }) => {
    for (const m of ['a', 'b', 'c']) {
      await row(page, m).getByRole('button', { name: 'Load' }).click();
      await expect(row(page, m)).toHaveAttribute('data-state', 'ready');
    }
    await openView(page, 'LRU');
    const order = page.getByTestId('lru-list').locator('li');
    await expect.poll(() => order.evaluateAll((els) => els.map((e) => e.getAttribute('data-model')))).toEqual(['a', 'b', 'c']);
    await expect(page.getByTestId('slots')).toContainText('3 of 3 slots');
    await expect(order.first().getByTestId('next')).toBeVisible();

    // Using a (a load of a loaded model is a cache hit that refreshes its place, L1) moves it to the end.
    expect((await app.call('load', 'a')).ok).toBe(true);
    await expect.poll(() => order.evaluateAll((els) => els.map((e) => e.getAttribute('data-model')))).toEqual(['b', 'c', 'a']);
    await expect(page.locator('li[data-model="b"]').getByTestId('next')).toBeVisible();
    await keepScreenshot(page, 'lru');
    expect((await app.call('load', 'b')).ok).toBe(true);
    await expect.poll(() => order.evaluateAll((els) => els.map((e) => e.getAttribute('data-model')))).toEqual(['c', 'a', 'b']);
  });
});
