/** A first start: the demo model, what to do next, empty states, light and dark, the token and the connection state. */
import { request } from 'node:http';
import { expect, keepScreenshot, row, test, openView } from './support/app';

function status(url: string): Promise<number> {
  return new Promise((res, rej) => request(url, (r) => (r.resume(), res(r.statusCode ?? 0))).on('error', rej).end());
}

test('first run: the demo model and a welcome that says what to do; every view has an empty state', async ({ page, app }) => {
  await expect(row(page, 'demo')).toBeVisible();
  await expect(page.getByRole('note')).toContainText('random weights');
  await expect(page.getByRole('note')).toContainText(app.modelsDir);
  await expect(row(page, 'demo').getByRole('button', { name: 'Load' })).toBeEnabled();
  await keepScreenshot(page, 'first-run-light');
  await page.emulateMedia({ colorScheme: 'dark' });
  await keepScreenshot(page, 'first-run-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  await openView(page, 'LRU');
  await expect(page.getByText('Nothing is loaded')).toBeVisible();
  // The warm standby backend (on by default) shows up once started: a process with no model, no slot.
  await expect(page.getByTestId('standby')).toContainText(/llama-cpp backend process \(pid \d+/, { timeout: 20_000 });
  await openView(page, 'Groups');
  await expect(page.getByText('No groups yet')).toBeVisible();
  await openView(page, 'Activity');
  await expect(page.getByText('Nothing has been unloaded yet')).toBeVisible();
  await openView(page, 'Logs');
  await expect(page.getByRole('heading', { name: 'Pick a model' })).toBeVisible();
});

test('the page needs its token; a stopped server shows "disconnected - reconnecting"', async ({ page, app }) => {
  expect(await status(`${app.origin}/`)).toBe(401);
  expect(await status(`${app.origin}/?token=wrong`)).toBe(401);
  expect(await status(app.url)).toBe(200);
  await expect(row(page, 'demo')).toBeVisible();
  await app.stop();
  await expect(page.getByTestId('disconnected')).toContainText('reconnecting');
});
