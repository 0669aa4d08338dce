/**
 * Browser tests of the GUI against the real headless app (`npm run serve -- --port 0`), in Debian's
 * Chromium when it is installed, else Playwright's own. Each test starts its own app (e2e/support/app.ts).
 * The GUI benchmark (e2e/bench) has its own config: `npm run bench:ui`.
 */
import { existsSync } from 'node:fs';
import { chromium, defineConfig } from '@playwright/test';

/** Debian's /usr/bin/chromium first; else the browser `npx playwright install chromium` fetched; else say how to get one. */
export function chromiumPath(): string | undefined {
  if (existsSync('/usr/bin/chromium')) return '/usr/bin/chromium';
  let own = '';
  try {
    own = chromium.executablePath();
  } catch {
    // no bundled browser registered
  }
  if (own && existsSync(own)) return undefined;
  throw new Error('The browser tests need Chromium: install it with `apt-get install chromium` (Debian/Ubuntu) or `npx playwright install chromium`.');
}

export const chromiumArgs = ['--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--disable-quic', '--no-first-run'];

export default defineConfig({
  testDir: 'e2e',
  testIgnore: ['bench/**'],
  workers: 1,
  fullyParallel: false,
  timeout: 60_000,
  expect: { timeout: 10_000 },
  reporter: process.env.CI ? [['list']] : [['list']],
  outputDir: 'test-results/playwright',
  use: {
    browserName: 'chromium',
    viewport: { width: 1360, height: 820 },
    launchOptions: { executablePath: chromiumPath(), args: chromiumArgs },
    screenshot: 'only-on-failure',
  },
});
