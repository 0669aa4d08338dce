/** `npm run bench:ui`: the GUI benchmark (e2e/bench), not part of `npm test`. */
import { defineConfig } from '@playwright/test';
import base from './playwright.config';

export default defineConfig({
  ...base,
  testDir: 'e2e/bench',
  testIgnore: [],
  timeout: 10 * 60_000,
  reporter: [['list']],
  outputDir: 'test-results/bench',
});
