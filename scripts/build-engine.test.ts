import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { engineBuildOffer } from './build-engine';

const root = mkdtempSync(join(tmpdir(), 'build-engine-'));
afterAll(() => rmSync(root, { recursive: true, force: true }));

/** A node-llama-cpp folder and a PATH holding the given tools (empty executables). */
function setup(tools: string[], writable = true): { pkg: string; env: NodeJS.ProcessEnv } {
  const dir = mkdtempSync(join(root, 'case-'));
  const pkg = join(dir, 'node-llama-cpp');
  mkdirSync(join(pkg, 'llama'), { recursive: true });
  const bin = join(dir, 'bin');
  mkdirSync(bin);
  for (const t of tools) writeFileSync(join(bin, t), '', { mode: 0o755 });
  if (!writable) chmodSync(join(pkg, 'llama'), 0o555);
  return { pkg, env: { PATH: bin } };
}

describe('build-engine: offered only where it can work (clarifications 9)', () => {
  it('is offered with a writable folder, cmake and a C++ compiler', () => {
    const { pkg, env } = setup(['cmake', 'g++']);
    expect(engineBuildOffer(pkg, env)).toMatchObject({ offered: true, reason: null });
  });

  it('says what is missing: cmake, then a compiler', () => {
    const a = setup(['g++']);
    expect(engineBuildOffer(a.pkg, a.env)).toMatchObject({ offered: false, reason: expect.stringContaining('cmake') });
    const b = setup(['cmake']);
    expect(engineBuildOffer(b.pkg, b.env)).toMatchObject({ offered: false, reason: expect.stringContaining('C++ compiler') });
  });

  it.skipIf(process.getuid?.() === 0)('is not offered where node-llama-cpp is read-only (an installed app)', () => {
    const { pkg, env } = setup(['cmake', 'clang++'], false);
    expect(engineBuildOffer(pkg, env)).toMatchObject({ offered: false, reason: expect.stringContaining('read-only') });
  });
});
