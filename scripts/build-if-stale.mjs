/**
 * Builds the app's bundles (out/) with electron-vite when they are missing or older than their
 * inputs. `npm run serve` runs from them, and the benchmarks that start backends use them, so what
 * they measure is what the app ships (node-llama-cpp inlined into the backend's chunk, say).
 */
import { spawnSync } from 'node:child_process';
import { existsSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

export const root = join(dirname(fileURLToPath(import.meta.url)), '..');
const stamp = join(root, 'out', '.build-stamp');
// The lock file too: the backend's bundle holds node-llama-cpp and its dependencies.
const inputs = ['src', 'proto', 'package.json', 'package-lock.json', 'electron.vite.config.ts', 'vite.renderer.config.ts', 'vite.module-urls.ts'];

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

/** Returns false when the build failed (electron-vite's output went to stderr). */
export function buildIfStale() {
  const built = existsSync(stamp) ? statSync(stamp).mtimeMs : 0;
  const sources = Math.max(...inputs.map((p) => newest(join(root, p))));
  if (built >= sources && existsSync(join(root, 'out', 'main', 'cli.js')) && existsSync(join(root, 'out', 'main', 'backend', 'index.js'))) return true;
  // stdout is for callers' own output (serve's first line is its URL): build chatter goes to stderr.
  process.stderr.write('Building Loadout from its sources (first run, or sources changed)...\n');
  const started = Date.now();
  const bin = join(root, 'node_modules', 'electron-vite', 'bin', 'electron-vite.js');
  const result = spawnSync(process.execPath, [bin, 'build'], { cwd: root, stdio: ['ignore', 2, 2] });
  if (result.status !== 0) return false;
  writeFileSync(stamp, `${new Date().toISOString()}\n`);
  process.stderr.write(`Built in ${((Date.now() - started) / 1000).toFixed(1)} s.\n`);
  return true;
}
