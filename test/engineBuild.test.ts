import { spawnSync } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { EngineBuilder, engineBuildOffer, nativeBuildFlags } from '../src/main/core/engineBuild';
import type { EngineBuildStatus } from '../src/shared/model';

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

/** A stand-in for node-llama-cpp's CLI: prints ninja-style progress, then makes a local build or fails. */
function standInCli(pkg: string, outcome: 'ok' | 'fail'): void {
  mkdirSync(join(pkg, 'dist', 'cli'), { recursive: true });
  const script = [
    "const fs = require('node:fs'); const path = require('node:path');",
    "console.log('Cloning llama.cpp');",
    "if (process.env.CXX) console.log(require('node:child_process').execFileSync(process.env.CXX, ['-c', 'x.cpp']).toString());",
    "for (let i = 1; i <= 3; i++) console.log(`[${i}/3] Building CXX object step${i}.o`);",
    outcome === 'ok'
      ? "fs.mkdirSync(path.join(__dirname, '..', '..', 'llama', 'localBuilds', 'linux-x64'), { recursive: true }); fs.writeFileSync(path.join(__dirname, '..', '..', 'llama', 'localBuilds', 'linux-x64', 'buildMetadata.json'), '{}');"
      : "console.error('error: no matching function for call'); process.exit(2);",
  ].join('\n');
  writeFileSync(join(pkg, 'dist', 'cli', 'cli.js'), script);
  writeFileSync(join(pkg, 'package.json'), '{"type": "commonjs"}');
}

function settled(builder: EngineBuilder): Promise<EngineBuildStatus[]> {
  const seen: EngineBuildStatus[] = [];
  return new Promise((resolve) => builder.events.on((s) => (seen.push(s), s.state !== 'building' && resolve(seen))));
}

describe('engine build: offered only where it can work (clarifications 9)', () => {
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

describe('engine build: runs node-llama-cpp\'s build and reports its progress (Engine 2)', () => {
  it('counts the build steps, then a local build is active until it is removed', async () => {
    const { pkg, env } = setup(['cmake', 'g++']);
    standInCli(pkg, 'ok');
    const builder = new EngineBuilder({ packageDir: pkg, env: { ...env, PATH: `${env.PATH}:${process.env.PATH}` } });
    expect(builder.status()).toMatchObject({ offered: true, active: false, state: 'idle' });
    const done = settled(builder);
    expect(builder.start()).toMatchObject({ state: 'building', step: 0 });
    expect(() => builder.start()).toThrow(/already running/);
    const seen = await done;
    expect(seen.filter((s) => s.state === 'building').map((s) => `${s.step}/${s.steps}`)).toEqual(['0/0', '1/3', '2/3', '3/3']);
    expect(builder.status()).toMatchObject({ state: 'done', active: true, step: 3, steps: 3, error: null });
    expect((await builder.remove()).active).toBe(false);
    expect(existsSync(join(pkg, 'llama', 'localBuilds'))).toBe(false);
  });

  it('a failed build says so with its last lines, and the prebuilt binary stays in use', async () => {
    const { pkg, env } = setup(['cmake', 'g++']);
    standInCli(pkg, 'fail');
    const builder = new EngineBuilder({ packageDir: pkg, env: { ...env, PATH: `${env.PATH}:${process.env.PATH}` } });
    const done = settled(builder);
    builder.start();
    await done;
    const s = builder.status();
    expect(s).toMatchObject({ state: 'failed', active: false });
    expect(s.error).toMatch(/exit 2/);
    expect(s.error).toMatch(/no matching function/);
  });

  it('refuses to start where it is not offered, saying why', () => {
    const { pkg, env } = setup(['g++']);
    expect(() => new EngineBuilder({ packageDir: pkg, env }).start()).toThrow(/cmake/);
  });
});

describe('engine build: no AMX kernels (they crash on K-quant models on some AMX machines)', () => {
  const AMX_OFF = ['-mno-amx-tile', '-mno-amx-int8', '-mno-amx-bf16'];
  const compiler = ['c++', 'g++', 'clang++'].map((c) => spawnSync(c, ['--version']).status === 0 && c).find(Boolean) || null;

  it.runIf(compiler)('on Linux x64 a compiler that knows the flags gets them; other platforms, none, or one that refuses them get none', () => {
    expect(nativeBuildFlags(compiler, 'linux', 'x64')).toEqual(AMX_OFF);
    expect(nativeBuildFlags(compiler, 'linux', 'arm64')).toEqual([]);
    expect(nativeBuildFlags(compiler, 'darwin', 'x64')).toEqual([]);
    expect(nativeBuildFlags(compiler, 'win32', 'x64')).toEqual([]);
    expect(nativeBuildFlags(null, 'linux', 'x64')).toEqual([]);
    const old = join(mkdtempSync(join(root, 'old-')), 'g++');
    writeFileSync(old, '#!/bin/sh\necho "unrecognized command-line option" >&2\nexit 1\n', { mode: 0o755 });
    expect(nativeBuildFlags(old, 'linux', 'x64')).toEqual([]);
  });

  it.runIf(process.platform === 'linux' && process.arch === 'x64')('the build calls the compiler through a wrapper that adds them (CMake keeps its path)', async () => {
    const { pkg, env } = setup(['cmake']);
    writeFileSync(join(env.PATH!, 'g++'), '#!/bin/sh\necho "compiler args: $*"\n', { mode: 0o755 });
    standInCli(pkg, 'fail');
    const builder = new EngineBuilder({ packageDir: pkg, env: { ...env, PATH: `${env.PATH}:${process.env.PATH}` } });
    const done = settled(builder);
    builder.start();
    await done;
    expect(builder.status().error).toContain(`compiler args: -c x.cpp ${AMX_OFF.join(' ')}`);
    expect(existsSync(join(pkg, 'llama', '.loadout-compilers', 'c++'))).toBe(true);
  });
});
