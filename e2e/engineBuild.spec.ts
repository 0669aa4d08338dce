/**
 * Engine 2 in the GUI: Settings > Backends offers "optimize for this machine", shows the build's
 * progress and then that the local build is in use, and goes back to the prebuilt engine. The
 * build is a stand-in for node-llama-cpp's CLI (a real one takes about 10 minutes): it prints
 * ninja-style steps a second apart (the panel polls once a second) and writes a local build, as the
 * real one does.
 */
import { chmodSync, mkdirSync, mkdtempSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { expect, openView, test } from './support/app';

function standInPackage(): { pkg: string; bin: string } {
  const dir = mkdtempSync(join(tmpdir(), 'loadout-e2e-engine-'));
  const pkg = join(dir, 'node-llama-cpp');
  mkdirSync(join(pkg, 'llama'), { recursive: true });
  mkdirSync(join(pkg, 'dist', 'cli'), { recursive: true });
  writeFileSync(join(pkg, 'package.json'), '{"type": "commonjs"}');
  writeFileSync(
    join(pkg, 'dist', 'cli', 'cli.js'),
    [
      "const fs = require('node:fs'); const path = require('node:path');",
      'let i = 0;',
      'const timer = setInterval(() => {',
      '  i++; console.log(`[${i}/4] Building CXX object step${i}.o`);',
      "  if (i === 4) { clearInterval(timer); const out = path.join(__dirname, '..', '..', 'llama', 'localBuilds', 'linux-x64'); fs.mkdirSync(out, { recursive: true }); fs.writeFileSync(path.join(out, 'buildMetadata.json'), '{}'); }",
      '}, 1000);',
    ].join('\n'),
  );
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const tool of ['cmake', 'c++']) {
    writeFileSync(join(bin, tool), tool === 'c++' ? '#!/bin/sh\necho "c++ (stand-in) 12.2.0"\n' : '#!/bin/sh\n');
    chmodSync(join(bin, tool), 0o755);
  }
  return { pkg, bin };
}

const { pkg, bin } = standInPackage();

test.describe('optimize for this machine', () => {
  test.use({ appOptions: { env: { LOADOUT_ENGINE_PACKAGE_DIR: pkg, PATH: `${bin}:${process.env.PATH}` } } });
  test('Settings > Backends builds the engine with progress, then uses it until told to go back', async ({ page }) => {
    await openView(page, 'Settings');
    const panel = page.getByTestId('engine-build');
    await expect(panel).toContainText('K-quant');
    await panel.getByRole('button', { name: 'Optimize for this machine' }).click();
    await expect(panel.getByRole('status')).toContainText(/step [1-3] of 4/);
    await expect(panel.getByRole('status')).toContainText('c++ (stand-in) 12.2.0');
    await expect(panel).toContainText('uses a build for this machine (just built)', { timeout: 15_000 });
    await panel.getByRole('button', { name: 'Use the prebuilt engine again' }).click();
    await expect(panel.getByRole('button', { name: 'Optimize for this machine' })).toBeVisible();
  });
});

test.describe('in an installed app', () => {
  test.use({ appOptions: { env: { LOADOUT_ENGINE_PACKAGE_DIR: '/nonexistent/node-llama-cpp' } } });
  test('says why it is not offered, and offers no button', async ({ page }) => {
    await openView(page, 'Settings');
    const panel = page.getByTestId('engine-build');
    await expect(panel).toContainText('Not offered here');
    await expect(panel).toContainText('read-only');
    await expect(panel.getByRole('button')).toHaveCount(0);
  });
});
