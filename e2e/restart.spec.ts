/**
 * Restarting headless Loadout under an open page: the same command on the same data dir and port
 * keeps the page's token, so the page reconnects by itself (no reload) and the URL stays good;
 * when the token was replaced in between, the page says its link is out of date instead of
 * "reconnecting" for ever.
 */
import { rmSync } from 'node:fs';
import { join } from 'node:path';
import { test } from '@playwright/test';
import type { Page } from '@playwright/test';
import { SERVER_TOKEN_FILE } from '../src/main/core/server/serverToken';
import { expect, faultModel, restartApp, row, startApp, tempRoot } from './support/app';
import type { App } from './support/app';

/** Errors the page logs, but the ones a test expects (a refused reconnect while Loadout is down, ...). */
function watchErrors(page: Page, expected: RegExp[]): string[] {
  const errors: string[] = [];
  const allowed = [/WebSocket connection to .* failed/, /ERR_CONNECTION_REFUSED/, ...expected];
  page.on('pageerror', (e) => errors.push(e.message));
  page.on('console', (m) => {
    if (m.type() === 'error' && !allowed.some((re) => re.test(m.text()))) errors.push(m.text());
  });
  return errors;
}

/** Marks the document, to tell later whether the page was reloaded. */
const markDocument = (page: Page) => page.evaluate(() => Object.assign(window, { loadoutTestMark: true }));
const sameDocument = (page: Page) => page.evaluate(() => (window as { loadoutTestMark?: boolean }).loadoutTestMark === true);

let dir = '';
const apps: App[] = [];
test.beforeEach(() => {
  dir = tempRoot();
});
test.afterEach(async () => {
  for (const a of apps.splice(0)) await a.stop();
  rmSync(dir, { recursive: true, force: true });
});

async function start(o: Parameters<typeof startApp>[0] = {}, previous?: App): Promise<App> {
  const app = previous ? await restartApp(previous, o) : await startApp({ ...o, root: dir });
  apps.push(app);
  return app;
}

/** Opens the page on a first run, marks the document (to tell a reload), stops Loadout. */
async function openThenStop(page: Page): Promise<App> {
  const first = await start();
  await page.goto(first.url);
  await expect(row(page, 'demo')).toBeVisible();
  await markDocument(page);
  await first.stop();
  await expect(page.getByTestId('disconnected')).toContainText('reconnecting');
  return first;
}

test('a restart on the same data dir and port: the open page reconnects by itself, without a reload, and its URL still works', async ({ page }) => {
  const errors = watchErrors(page, []);
  const first = await openThenStop(page);
  // A model added while Loadout was stopped shows only if the page resyncs with the new run.
  const second = await start({ configs: { 'later.yaml': faultModel('later') } }, first);
  expect(second.url).toBe(first.url);
  await expect(page.getByTestId('disconnected')).toBeHidden({ timeout: 15_000 });
  await expect(row(page, 'later')).toBeVisible();
  await expect(row(page, 'demo')).toBeVisible();
  await expect(page.getByTestId('link-out-of-date')).toHaveCount(0);
  expect(await sameDocument(page)).toBe(true);

  // The bookmark (the same URL) works after the restart too.
  await page.reload();
  await expect(row(page, 'later')).toBeVisible();
  expect(errors, 'errors in the page').toEqual([]);
});

test('the token file deleted between the runs: the open page says its link is out of date, and the new URL works', async ({ page }) => {
  // The page's token check gets its 401, which Chromium logs.
  const errors = watchErrors(page, [/status of 401/]);
  const first = await openThenStop(page);
  rmSync(join(first.dataDir, SERVER_TOKEN_FILE));
  const second = await start({}, first);
  expect(second.token).not.toBe(first.token);
  const banner = page.getByTestId('link-out-of-date');
  await expect(banner).toContainText('This link is out of date', { timeout: 15_000 });
  await expect(banner).toContainText('Open the URL Loadout printed when it started');
  await expect(page.getByTestId('disconnected')).toHaveCount(0);
  expect(await sameDocument(page)).toBe(true);

  await page.goto(second.url);
  await expect(row(page, 'demo')).toBeVisible();
  await expect(banner).toHaveCount(0);
  expect(errors, 'errors in the page').toEqual([]);
});
