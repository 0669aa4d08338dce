import { execFile } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, symlinkSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { promisify } from 'node:util';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { PASSED_BINARY_TESTS_ENV as PASSED_TESTS_ENV } from '../src/backends/llama/runtime';
import { TARGET, patchNodeLlamaCpp, shippedText } from './patch-node-llama-cpp';

const run = promisify(execFile);
const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..');
const MODULES = join(ROOT, 'node_modules');

/**
 * A node_modules of its own with a copy of node-llama-cpp's JavaScript (the shared one stays
 * untouched) and links to everything else, the prebuilt binaries included.
 */
function sandbox(): { dir: string; pkg: string } {
  const dir = mkdtempSync(join(tmpdir(), 'nlc-patch-'));
  const modules = join(dir, 'node_modules');
  mkdirSync(modules);
  for (const name of readdirSync(MODULES)) {
    if (name !== 'node-llama-cpp') symlinkSync(join(MODULES, name), join(modules, name));
  }
  const shipped = join(MODULES, 'node-llama-cpp');
  const pkg = join(modules, 'node-llama-cpp');
  mkdirSync(pkg);
  for (const name of readdirSync(shipped)) {
    if (name === 'dist' || name === 'package.json') cpSync(join(shipped, name), join(pkg, name), { recursive: true });
    else symlinkSync(join(shipped, name), join(pkg, name));
  }
  // npm install has patched the shared copy already: the sandbox starts from the file as shipped.
  writeFileSync(join(pkg, TARGET), shippedText(readFileSync(join(shipped, TARGET), 'utf8')));
  writeFileSync(join(dir, 'package.json'), '{"type":"module"}');
  return { dir, pkg };
}

/**
 * A fresh process that loads llama.cpp's binary the way the backend does and prints how many
 * self-test children it forked (node-llama-cpp marks them with TEST_BINDING_CP).
 */
const PROBE = `
import childProcess from 'node:child_process';
import { syncBuiltinESMExports } from 'node:module';
let forks = 0;
const fork = childProcess.fork;
childProcess.fork = (file, args, options) => {
  if (options?.env?.TEST_BINDING_CP === 'true') forks++;
  return fork(file, args, options);
};
syncBuiltinESMExports();
const { getLlama } = await import('node-llama-cpp');
const llama = await getLlama({ build: 'never', skipDownload: true, gpu: false, progressLogs: false });
await llama.dispose();
console.log(JSON.stringify({ forks }));
`;

describe('node-llama-cpp patch: one binary self-test per binary', () => {
  let box: { dir: string; pkg: string };
  beforeAll(() => {
    box = sandbox();
    writeFileSync(join(box.dir, 'probe.mjs'), PROBE);
  });
  afterAll(() => rmSync(box.dir, { recursive: true, force: true }));

  async function probe(env: NodeJS.ProcessEnv): Promise<number> {
    const { stdout } = await run(process.execPath, ['probe.mjs'], { cwd: box.dir, env: { ...process.env, ...env } });
    return (JSON.parse(stdout.trim().split('\n').pop() ?? '{}') as { forks: number }).forks;
  }

  it('patches the shipped file once and recognises it afterwards', () => {
    expect(patchNodeLlamaCpp(box.pkg)).toBe('patched');
    expect(patchNodeLlamaCpp(box.pkg)).toBe('already patched');
  });

  it('tests a binary once, then starts without the self-test while binary and cache stay', async () => {
    const passed = join(box.dir, 'passed');
    expect(await probe({ [PASSED_TESTS_ENV]: passed })).toBe(1);
    expect(readdirSync(passed)).toHaveLength(1);
    expect(await probe({ [PASSED_TESTS_ENV]: passed })).toBe(0);
    // Another cache (another user, a cleared tmp) tests again; without the variable, always.
    expect(await probe({ [PASSED_TESTS_ENV]: join(box.dir, 'other') })).toBe(1);
    expect(await probe({ [PASSED_TESTS_ENV]: '' })).toBe(1);
  });

  it('leaves a file of another version alone', () => {
    const file = join(box.pkg, TARGET);
    writeFileSync(file, `${shippedText(readFileSync(join(MODULES, 'node-llama-cpp', TARGET), 'utf8'))}\n// 3.22\n`);
    expect(patchNodeLlamaCpp(box.pkg)).toBe('unknown version');
    expect(readFileSync(file, 'utf8')).toMatch(/\/\/ 3\.22\n$/);
  });
});
