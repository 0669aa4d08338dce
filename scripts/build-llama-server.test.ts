/** `npm run build-llama-server` says what is missing, in words, before it starts (Engine 1). */
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, symlinkSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** Runs the script with a PATH holding only the named programs. */
function buildWith(programs: string[]): { status: number | null; stderr: string } {
  const bin = mkdtempSync(join(tmpdir(), 'loadout-buildls-'));
  dirs.push(bin);
  for (const p of programs) {
    const found = spawnSync('sh', ['-c', `command -v ${p}`], { encoding: 'utf8' }).stdout.trim();
    if (found) symlinkSync(found, join(bin, p));
  }
  symlinkSync(process.execPath, join(bin, 'node'));
  const r = spawnSync(process.execPath, ['--import', 'tsx', 'scripts/build-llama-server.ts'], { cwd: root, encoding: 'utf8', env: { ...process.env, PATH: bin, CXX: '' } });
  return { status: r.status, stderr: r.stderr };
}

describe.skipIf(process.platform === 'win32')('npm run build-llama-server without its tools', () => {
  it('no cmake: says to install it and builds nothing', () => {
    const r = buildWith(['git']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('cmake is not installed');
  });

  it.skipIf(!spawnSync('sh', ['-c', 'command -v cmake']).stdout.length)('no C++ compiler: says to install one', () => {
    const r = buildWith(['git', 'cmake']);
    expect(r.status).toBe(1);
    expect(r.stderr).toContain('no C++ compiler found');
  });
});
