/**
 * The screenshots for the README (written to docs/screenshots by `npm run screenshots` only): one realistic state - a real model loaded,
 * groups, a pinned model, a load in progress, a broken config - in light and dark, and the plan
 * dialog. Also checks what those pictures promise.
 */
import { expect, faultModel, keepScreenshot, openView, readmeScreenshot, row, test } from './support/app';

test.use({
  // Sized to the content, for the README.
  viewport: { width: 1280, height: 540 },
  appOptions: {
    ggufs: { 'tinyllama-1.1b-chat': 3 },
    configs: {
      'qwen-30b.yaml': faultModel('qwen-30b', { groups: ['gpu-heavy'] }),
      'llama-70b.yaml': faultModel('llama-70b', { groups: ['gpu-heavy'] }),
      'embedder.yaml': faultModel('embedder', { pinned: true }),
      'coder-7b.yaml': faultModel('coder-7b', { options: ['fault_load_ms:12000', 'fault_progress:1'] }),
      'mistral-7b.yaml': 'name: mistral-7b\nbackend: fault\ncontext_size: eight-k\n',
    },
    args: ['--max-active', '3'],
  },
});

test('screenshots of the main views in one realistic state', async ({ page }) => {
  for (const m of ['tinyllama-1.1b-chat', 'qwen-30b', 'embedder']) {
    await row(page, m).getByRole('button', { name: 'Load' }).click();
    await expect(row(page, m)).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
  }
  await row(page, 'coder-7b').getByRole('button', { name: 'Load' }).click();
  await page.getByRole('dialog').getByRole('button', { name: 'Unload 1 and load' }).click();
  await expect(row(page, 'coder-7b').locator('.load-progress')).toContainText(/[2-9]\d%/, { timeout: 15_000 });
  await expect(row(page, 'mistral-7b').getByTestId('problem')).toBeVisible();
  await readmeScreenshot(page, 'showcase-models', 'models');
  await page.emulateMedia({ colorScheme: 'dark' });
  await readmeScreenshot(page, 'showcase-models-dark', 'models-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  await row(page, 'llama-70b').getByRole('button', { name: 'Load' }).click();
  await expect(page.getByRole('dialog').locator('[data-unload="qwen-30b"]')).toBeVisible();
  await readmeScreenshot(page, 'showcase-plan', 'plan');
  await page.getByRole('dialog').getByRole('button', { name: 'Cancel' }).click();

  await openView(page, 'LRU');
  await expect(page.getByTestId('slots')).toContainText('of 3 slots');
  await keepScreenshot(page, 'showcase-lru');
  await page.emulateMedia({ colorScheme: 'dark' });
  await openView(page, 'Groups');
  await keepScreenshot(page, 'showcase-groups-dark');
});
