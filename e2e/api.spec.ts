/** The API view: server status, copyable base URL, the API key, the LAN warning and the live request log. */
import { expect, faultModel, keepScreenshot, test } from './support/app';

test.use({ appOptions: { configs: { 'echo.yaml': faultModel('echo', { options: ['fault_tokens:5'] }) } } });

test('API view: status and URL; real requests (Node fetch, no Origin) appear live with model, status, tokens and errors; LAN warning', async ({ page, app }) => {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'API' }).click();
  await expect(page).toHaveURL(/#\/api$/);
  const port = new URL(app.origin).port;
  await expect(page.getByTestId('api-status')).toContainText(`Listening on 127.0.0.1:${port}`);
  await expect(page.getByTestId('api-status')).toContainText('this computer only');
  const base = `${app.origin}/v1`;
  await expect(page.getByTestId('api-url')).toHaveText(base);
  await expect(page.getByText('No API requests yet')).toBeVisible();

  await page.context().grantPermissions(['clipboard-read', 'clipboard-write']);
  await page.getByRole('button', { name: 'Copy the base URL' }).click();
  await expect(page.getByRole('status').filter({ hasText: /^Copied$/ })).toBeVisible();
  expect(await page.evaluate(() => navigator.clipboard.readText())).toBe(base);

  // Real requests from outside the page, as another app would make them.
  const models = await fetch(`${base}/models`);
  expect(models.status).toBe(200);
  const log = page.getByTestId('request-log');
  const first = log.locator('tbody tr').first();
  await expect(first).toHaveAttribute('data-status', '200');
  await expect(first).toContainText('GET /v1/models');
  await expect(first).toContainText('127.0.0.1');

  const chat = await fetch(`${base}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'echo', messages: [{ role: 'user', content: 'hello' }] }),
  });
  expect(chat.status).toBe(200);
  const answer = (await chat.json()) as { usage: { completion_tokens: number } };
  expect(answer.usage.completion_tokens).toBe(5);
  // Newest first: the chat request is on top, with its model and token count.
  await expect(log.locator('tbody tr')).toHaveCount(2);
  const chatRow = log.locator('tbody tr').first();
  await expect(chatRow).toHaveAttribute('data-model', 'echo');
  await expect(chatRow).toHaveAttribute('data-status', '200');
  await expect(chatRow).toContainText('POST /v1/chat/completions');
  await expect(chatRow.locator('td.num').first()).toHaveText('5');

  const missing = await fetch(`${base}/chat/completions`, {
    method: 'POST',
    headers: { 'content-type': 'application/json' },
    body: JSON.stringify({ model: 'no-such-model', messages: [{ role: 'user', content: 'hello' }] }),
  });
  expect(missing.status).toBe(404);
  const { error } = (await missing.json()) as { error: { message: string } };
  const notFound = log.locator('tbody tr').first();
  await expect(notFound).toHaveAttribute('data-status', '404');
  await expect(notFound).toHaveClass(/req-failed/);
  await expect(notFound).toContainText('no-such-model');
  await expect(notFound.locator('.req-message')).toContainText(error.message);

  // The curl example names a real model and the real URL.
  await expect(page.locator('.snippet')).toContainText(`curl ${base}/chat/completions`);
  await expect(page.locator('.snippet')).toContainText('"model": "echo"');
  await keepScreenshot(page, 'api');

  // Opting in to the LAN: the warning, and the key (masked until shown).
  await expect(page.getByTestId('lan-warning')).toHaveCount(0);
  const saved = await app.call('updateSettings', { api_lan: true, api_key: 'sk-loadout-test-123' });
  expect(saved.ok).toBe(true);
  await expect(page.getByTestId('lan-warning')).toContainText('Every device on the same network can reach it');
  const key = page.getByTestId('api-key');
  await expect(key).not.toContainText('sk-loadout');
  await page.getByRole('button', { name: 'Show' }).click();
  await expect(key).toHaveText('sk-loadout-test-123');
  await expect(page.locator('.snippet')).toContainText('Authorization: Bearer $LOADOUT_API_KEY');
  await keepScreenshot(page, 'api-lan');
  await page.emulateMedia({ colorScheme: 'dark' });
  await keepScreenshot(page, 'api-dark');
});
