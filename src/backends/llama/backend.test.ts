/**
 * The llama-cpp backend as a process: start-up and Health, LoadModel (progress, bad files),
 * a taken port, SIGTERM, and exiting by itself when its parent dies (U4).
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { makeModel } from '../../main/core/gguf/makeModel';
import type { Result__Output, StatusResponse__Output } from '../../wire';
import {
  exitOf,
  freePort,
  isAlive,
  loadOptions,
  NODE_ARGS,
  rawClient,
  spawnBackend,
  startBackend,
  stream,
  unary,
  type Backend,
} from './testBackend';

let dir: string;
let modelFile: string;
const cleanups: Array<() => unknown> = [];

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llama-backend-'));
  ({ path: modelFile } = await makeModel(join(dir, 'tiny.gguf'), { preset: 'tiny', seed: 11 }));
});

afterEach(async () => {
  for (const cleanup of cleanups.splice(0).reverse()) await cleanup();
});

afterAll(() => rmSync(dir, { recursive: true, force: true }));

async function started(): Promise<Backend> {
  const backend = await startBackend();
  cleanups.push(() => backend.kill());
  return backend;
}

/** Resolves when `pid` is gone (a zombie counts as gone: it no longer runs). */
async function gone(pid: number, withinMs: number): Promise<number> {
  const t = performance.now();
  while (performance.now() - t < withinMs) {
    if (!isAlive(pid) || isZombie(pid)) return performance.now() - t;
    await new Promise((r) => setTimeout(r, 50));
  }
  throw new Error(`process ${pid} still running after ${withinMs} ms`);
}

function isZombie(pid: number): boolean {
  try {
    return readFileSync(`/proc/${pid}/stat`, 'utf8').split(') ')[1]?.startsWith('Z') ?? false;
  } catch {
    return false;
  }
}

describe('start-up', () => {
  it('L10: Health answers OK soon after spawn, before llama.cpp is loaded; LoadModel reports load_progress', async () => {
    const backend = await started();
    // Seconds, not the minutes a from-source build of llama.cpp would take (build: 'never').
    expect(backend.healthMs).toBeLessThan(10_000);
    const idle = await unary<StatusResponse__Output>(backend.client, 'Status', {});
    expect(idle.state).toBe('UNINITIALIZED');
    expect(idle.memory?.total).toBeGreaterThan(10_000_000);

    const t = performance.now();
    let loading = true;
    const load = unary<Result__Output>(backend.client, 'LoadModel', loadOptions(modelFile)).finally(() => (loading = false));
    const samples: StatusResponse__Output[] = [];
    while (loading) samples.push(await unary<StatusResponse__Output>(backend.client, 'Status', {}));
    const result = await load;
    const loadMs = performance.now() - t;
    expect(result, result.message).toMatchObject({ success: true });

    const during = samples.slice(0, -1); // the last one may have been answered after the load
    expect(during.some((s) => s.state === 'BUSY')).toBe(true);
    const progress = samples.filter((s) => s.state === 'BUSY').map((s) => s.load_progress);
    for (const p of progress) expect(p >= 0 && p < 1).toBe(true);
    expect(progress).toEqual([...progress].sort((a, b) => a - b));
    const ready = await unary<StatusResponse__Output>(backend.client, 'Status', {});
    expect(ready).toMatchObject({ state: 'READY', load_progress: 1 });
    expect(ready.memory?.breakdown.model).toBeGreaterThan(500_000);

    const phases = backend.stderr().match(/^\[llama\] (ready|getLlama|load model|create context)\b.*$/gm) ?? [];
    expect(phases).toHaveLength(4);
    // Health did not wait for llama.cpp: the server was up before getLlama finished.
    expect(phases[0]).toMatch(/^\[llama\] ready/);
    console.info(`spawn -> Health OK ${Math.round(backend.healthMs)} ms; LoadModel right after ${Math.round(loadMs)} ms\n${phases.join('\n')}`);
  });

  it('L11: a missing, a damaged or a non-GGUF file fails the load with a message naming it; the backend stays up', async () => {
    const backend = await started();
    const missing = join(dir, 'nope.gguf');
    const truncated = join(dir, 'truncated.gguf');
    writeFileSync(truncated, readFileSync(modelFile).subarray(0, 300_000));
    const junk = join(dir, 'junk.gguf');
    writeFileSync(junk, Buffer.from('this is not a model, just some text\n'.repeat(100)));

    const cases: Array<[string, RegExp]> = [
      [missing, /not found/],
      [truncated, /corrupted or incomplete/],
      [junk, /GGUF/],
      [dir, /not a file/],
    ];
    for (const [file, reason] of cases) {
      const result = await unary<Result__Output>(backend.client, 'LoadModel', loadOptions(file));
      expect(result.success, file).toBe(false);
      expect(result.message).toContain(file);
      expect(result.message).toMatch(reason);
    }
    // A relative ModelFile is looked up in ModelPath.
    const relative = await unary<Result__Output>(backend.client, 'LoadModel', loadOptions('tiny.gguf', { ModelPath: dir }));
    expect(relative, relative.message).toMatchObject({ success: true });
    expect(backend.child.exitCode).toBeNull();
  });

  it('L9: a port that is taken fails at once with exit code 1 and says so', async () => {
    const port = await freePort();
    const blocker: Server = createServer();
    await new Promise<void>((resolve) => blocker.listen(port, '127.0.0.1', resolve));
    cleanups.push(() => new Promise((resolve) => blocker.close(resolve)));
    const child = spawnBackend(`127.0.0.1:${port}`);
    cleanups.push(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    const { code } = await exitOf(child);
    expect(code).toBe(1);
    expect(stderr).toContain(`address 127.0.0.1:${port} is in use`);
  });

  it('L9: without --addr it prints its usage and exits 2', async () => {
    const child = spawn(process.execPath, NODE_ARGS, { stdio: ['ignore', 'ignore', 'pipe'] });
    cleanups.push(() => child.kill('SIGKILL'));
    let stderr = '';
    child.stderr?.on('data', (d: Buffer) => (stderr += d.toString()));
    expect((await exitOf(child)).code).toBe(2);
    expect(stderr).toContain('usage: main --addr');
  });
});

describe('stopping', () => {
  it('U1: SIGTERM while generating stops the backend promptly with exit code 0', async () => {
    const backend = await started();
    const loaded = await unary<Result__Output>(backend.client, 'LoadModel', loadOptions(modelFile, { ContextSize: 2048 }));
    expect(loaded.success).toBe(true);
    let sentAt = 0;
    const generating = stream(backend.client, { Prompt: 'the cat', Tokens: 0 }, () => {
      if (!sentAt) {
        sentAt = performance.now();
        backend.child.kill('SIGTERM');
      }
    }).catch((e: Error) => e);
    const { code, signal } = await backend.exited;
    expect({ code, signal }).toEqual({ code: 0, signal: null });
    expect(performance.now() - sentAt).toBeLessThan(3000);
    await generating;
  });

  /**
   * Runs the backend under an intermediate Node process, as the app would, then SIGKILLs that
   * process: the backend must notice and exit by itself.
   */
  async function orphanedBackend(stdin: 'pipe' | 'ignore'): Promise<{ ms: number; log: string }> {
    const addr = `127.0.0.1:${await freePort()}`;
    const logFile = join(dir, `orphan-${stdin}.log`);
    const parentCode = `
      const { spawn } = require('node:child_process');
      const { openSync } = require('node:fs');
      const [args, stdin, logFile] = JSON.parse(process.argv[1]);
      const child = spawn(process.execPath, args, { stdio: [stdin, 'ignore', openSync(logFile, 'w')] });
      console.log(child.pid);
      setInterval(() => {}, 1000);`;
    const parent: ChildProcess = spawn(
      process.execPath,
      ['-e', parentCode, JSON.stringify([[...NODE_ARGS, '--addr', addr], stdin, logFile])],
      { stdio: ['ignore', 'pipe', 'inherit'] },
    );
    cleanups.push(() => parent.kill('SIGKILL'));
    const pid = await new Promise<number>((resolve) => parent.stdout!.once('data', (d: Buffer) => resolve(Number(d.toString().trim()))));
    cleanups.push(() => isAlive(pid) && process.kill(pid, 'SIGKILL'));
    // Only once it serves: the parent dies under a running backend, not one still starting.
    const client = rawClient(addr);
    cleanups.push(() => client.close());
    await new Promise<void>((resolve, reject) => client.waitForReady(Date.now() + 20_000, (e) => (e ? reject(e) : resolve())));
    expect(isAlive(pid)).toBe(true);
    parent.kill('SIGKILL');
    await exitOf(parent);
    const ms = await gone(pid, 5000);
    return { ms, log: readFileSync(logFile, 'utf8') };
  }

  it('U4: the backend exits within seconds when its parent is killed (stdin closes)', async () => {
    const { ms, log } = await orphanedBackend('pipe');
    expect(log).toContain('stopping: stdin closed');
    console.info(`orphaned backend (stdin pipe) gone ${Math.round(ms)} ms after its parent`);
  });

  it('U4: the backend exits when its parent is killed even with stdin ignored (parent pid changes)', async () => {
    const { ms, log } = await orphanedBackend('ignore');
    expect(log).toMatch(/stopping: parent process \d+ is gone/);
    console.info(`orphaned backend (stdin ignored) gone ${Math.round(ms)} ms after its parent`);
  });
});
