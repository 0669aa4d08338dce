/** Settings: every loader setting from the schema, and external backends with a connection test. */
import { SETTING_KEYS } from '../src/shared/settings';
import { expect, faultBackend, keepScreenshot, test, openView } from './support/app';

test('every setting is in the form; a backend can be tested, added and removed, with errors in words', async ({ page, app }) => {
  await openView(page, 'Settings');
  for (const key of SETTING_KEYS) await expect(page.locator(`[name="${key}"]`)).toHaveCount(1);
  await expect(page.getByLabel('Models dir')).toHaveValue(app.modelsDir);

  const add = page.getByRole('form', { name: 'Add a backend' });
  // Nothing listens on port 9 of this machine: the test says so instead of failing silently.
  await add.getByLabel('Program path or host:port').fill('127.0.0.1:9');
  await add.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByTestId('backend-test')).toContainText('did not answer', { timeout: 15_000 });
  await add.getByLabel('Program path or host:port').fill(faultBackend);
  await add.getByRole('button', { name: 'Test connection' }).click();
  await expect(page.getByTestId('backend-test')).toContainText('exists');
  await add.getByLabel('Name').fill('my backend!');
  await add.getByRole('button', { name: 'Add backend' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'is not valid' })).toBeVisible();
  await add.getByLabel('Name').fill('localai-llama');
  await add.getByRole('button', { name: 'Add backend' }).click();
  const entry = page.locator('tr[data-backend="localai-llama"]');
  await expect(entry).toContainText(faultBackend);
  await expect(entry).toContainText('program');
  await keepScreenshot(page, 'settings-backends');
  await entry.getByRole('button', { name: 'Remove backend localai-llama' }).click();
  await expect(entry).toHaveCount(0);
});
