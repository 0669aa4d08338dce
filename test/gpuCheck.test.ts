/** V15: `npm run gpu-check` runs here (no GPU) and on a GPU machine, and exits 0 with a report either way. */
import { spawnSync } from 'node:child_process';
import { createRequire } from 'node:module';
import path from 'node:path';
import { pathToFileURL } from 'node:url';
import { describe, expect, it } from 'vitest';

const root = path.resolve(__dirname, '..');

describe('V15 gpu-check', () => {
  it('reports what node-llama-cpp found and exits 0', () => {
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    const r = spawnSync(process.execPath, ['--import', tsx, path.join(root, 'scripts/gpu-check.ts'), '--tokens', '16'], { cwd: root, encoding: 'utf8', timeout: 110_000 });
    expect(r.status, r.stderr).toBe(0);
    if (r.stdout.startsWith('No GPU')) {
      // This machine: say so, with node-llama-cpp's reason.
      expect(r.stdout).toMatch(/^No GPU: node-llama-cpp runs on the CPU here\.\n {2}reason: \S.*\n/);
    } else {
      expect(r.stdout).toMatch(/^GPU: (cuda|vulkan|metal) /);
      expect(r.stdout).toMatch(/Layers offloaded: (\d+)\/\1\n/);
      expect(r.stdout).toMatch(/VRAM: estimate [\d.]+ [MG]B, measured/);
      expect(r.stdout).toMatch(/Tokens\/s: GPU [\d.]+, CPU [\d.]+/);
    }
  }, 120_000);
});
