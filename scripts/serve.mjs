#!/usr/bin/env node
/**
 * `npm run serve`: runs headless Loadout from the same bundles the desktop app ships (out/),
 * building them first when they are missing or older than the sources, so a fresh clone needs
 * no separate build step. Running the bundle rather than TypeScript through a loader keeps
 * the core's memory and every backend's start-up as lean as in the desktop app.
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';

const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'out', '.build-stamp');
const inputs = ['src', 'proto', 'package.json', 'electron.vite.config.ts', 'vite.renderer.config.ts'];

function newest(path) {
  if (!existsSync(path)) return 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  let latest = st.mtimeMs;
  for (const name of readdirSync(path)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    latest = Math.max(latest, newest(join(path, name)));
  }
  return latest;
}

const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
const sources = Math.max(...inputs.map((p) => newest(join(root, p))));
if (built < sources || !existsSync(join(root, 'out', 'main', 'cli.js'))) {
  // stdout's first line is the URL contract: build chatter goes to stderr.
  process.stderr.write('Building Loadout from its sources (first run, or sources changed)...\n');
  const started = Date.now();
  const bin = join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js');
  const result = spawnSync(process.execPath, [bin, 'build'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (result.status !== 0) {
    process.stderr.write('loadout: the build failed (see above). Run `npm ci` and try again.\n');
    process.exit(1);
  }
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  process.stderr.write(`Built in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`);
}

const cli = await import(pathToFileURL(join(root, 'out', 'main', 'cli.js')).href);
await cli.main(process.argv.slice(2));
