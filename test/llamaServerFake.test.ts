/**
 * Engine 1: the `llama-server` backend kind through the whole core (catalog -> loader -> a real
 * process -> HTTP), against a stand-in that speaks llama-server's HTTP API shape, so the adapter's
 * logic and its fault cases are tested everywhere (test/llamaServer.test.ts runs the real binary).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { disposeAll, pidAlive, startTestCore, waitUntil } from './harness';

const fake = resolve(__dirname, 'fixtures', 'fakeLlamaServer.mjs');
const dirs: string[] = [];
afterEach(async () => {
  await disposeAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The fake with its fault mode and timings fixed by a wrapper, as a user's llama-server path. */
function fakeWith(env: Record<string, string>): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'loadout-fakels-'));
  dirs.push(dir);
  const path = join(dir, 'llama-server');
  const vars = Object.entries(env).map(([k, v]) => `${k}='${v}' `).join('');
  writeFileSync(path, `#!/bin/sh\n${vars}exec '${process.execPath}' '${fake}' "$@"\n`);
  chmodSync(path, 0o755);
  return path;
}

const config = (extra = '') => `name: m\nbackend: llama-server\nparameters:\n  model: m.gguf\ncontext_size: 256\nthreads: 1\n${extra}`;

async function start(env: Record<string, string> = {}, extra = '', settings = {}) {
  return startTestCore({ ggufs: { m: 1 }, configs: { 'm.yaml': config(extra) }, settings: { llama_server_path: fakeWith(env), ...settings } });
}

async function text(it: AsyncIterable<{ text: string }>): Promise<string> {
  let out = '';
  for await (const c of it) out += c.text;
  return out;
}

describe('the llama-server backend kind (against a stand-in speaking its API)', () => {
  it('Engine 1: starts one llama-server per model with the model\'s settings, waits for /health, and reads its VRAM from the log', async () => {
    const t = await start({ FAKE_LS_LOAD_MS: '300' }, 'options:\n  - "parallel:2"\nflash_attention: "on"\nmmap: false\n');
    const row = await t.core.commands.load('m');
    expect(row).toMatchObject({ state: 'ready', backend: 'llama-server' });
    expect(pidAlive(row.pid!)).toBe(true);
    const log = t.core.commands.logs('m').map((l) => l.text).join('\n');
    const args = JSON.parse(/fake: args (.*)/.exec(log)![1]!) as string[];
    const after = (flag: string) => args[args.indexOf(flag) + 1];
    expect(after('-m')).toBe(join(t.modelsDir, 'm.gguf'));
    expect(after('-c')).toBe('512'); // 256 per slot, as the built-in backend gives each slot
    expect(after('-np')).toBe('2');
    expect(after('-t')).toBe('1');
    expect(after('-fa')).toBe('on');
    expect(args).toContain('--no-mmap');
    // The /health wait held the load until the model was in: 503 "Loading model" for 300 ms.
    expect(log).toContain('model buffer size');
    // CUDA0 buffers only: 100 + 16 + 4 MiB (CPU_Mapped and CUDA_Host are RAM).
    await waitUntil(() => t.row('m').memory.vramBytes === 120 * 1024 * 1024, 'the VRAM from the log on the row');
  });

  it('Engine 1: chat goes through the GGUF template (/apply-template), a config template renders in the core; stop strings, usage and tokenize/embeddings map', async () => {
    const t = await start();
    const chat = await text(t.core.commands.chat('m', { messages: [{ role: 'user', content: 'hi' }], stop: [' STOP'] }));
    expect(chat).toBe('echo: [<user>hi<assistant>]');
    const completion = await text(t.core.commands.complete('m', { prompt: 'plain', max_tokens: 3 }));
    expect(completion).toBe('echo: [');
    expect(await t.core.commands.tokenize('m', 'a b c d')).toEqual([1, 2, 3, 4]);
    expect([...(await t.core.commands.embed('m', 'x'))]).toEqual([0.25, 0.5, 0.75]);
  });

  it('Engine 1: the client\'s mistakes are 4xx-style `invalid` errors with llama-server\'s reason; the model stays ready', async () => {
    const t = await start();
    await expect(text(t.core.commands.complete('m', { prompt: 'x'.repeat(3000) }))).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('context size') });
    await expect(text(t.core.commands.chat('m', { messages: [{ role: 'user', content: 'x' }], grammar: 'root ::= bad' }))).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('grammar') });
    expect(t.row('m').state).toBe('ready');
  });

  it('Engine 1: a client that goes away ends the HTTP request, so llama-server stops generating', async () => {
    const t = await start({ FAKE_LS_TOKEN_MS: '200' });
    const ac = new AbortController();
    await expect(
      (async () => {
        for await (const _ of t.core.commands.complete('m', { prompt: 'long' }, { signal: ac.signal })) ac.abort();
      })(),
    ).rejects.toMatchObject({ code: 'cancelled' });
    await waitUntil(() => t.core.commands.logs('m').some((l) => /client went away after \d pieces/.test(l.text)), 'llama-server to see the request end');
    expect(t.row('m').state).toBe('ready');
  });

  it('Engine 1 faults: a crash at start fails the load with llama-server\'s last line', async () => {
    const t = await start({ FAKE_LS_MODE: 'crash_at_start' });
    await expect(t.core.commands.load('m')).rejects.toMatchObject({ code: 'backend_failed', message: expect.stringContaining('crash_at_start') });
  });

  it('Engine 1 faults: a crash mid-stream is backend_crashed and the row says so', async () => {
    const t = await start({ FAKE_LS_MODE: 'crash_mid_stream' });
    await t.core.commands.load('m');
    await expect(text(t.core.commands.complete('m', { prompt: 'x' }))).rejects.toMatchObject({ code: 'backend_crashed' });
    await waitUntil(() => t.row('m').state !== 'ready', 'the row to leave ready');
  });

  it('Engine 1 faults: a llama-server that never gets healthy fails the load at load_timeout and is stopped', async () => {
    const t = await start({ FAKE_LS_MODE: 'hang' }, '', { load_timeout: 1 });
    await expect(t.core.commands.load('m')).rejects.toMatchObject({ code: 'timeout' });
    const pid = /pid (\d+)/.exec(t.core.commands.logs('m').map((l) => l.text).join('\n'));
    if (pid) await waitUntil(() => !pidAlive(Number(pid[1])), 'the hung llama-server to be stopped');
  });

  it('Engine 1: no binary found fails the load with how to get one', async () => {
    const t = await start({}, '', { llama_server_path: '/nonexistent/llama-server' });
    await expect(t.core.commands.load('m')).rejects.toMatchObject({ code: 'backend_failed', message: expect.stringContaining('llama_server_path') });
  });

  it('Engine 1: Settings > Backends learns the binary\'s --version and devices; a CPU build is "faster" only while the built-in engine runs on the CPU', async () => {
    const onCpu = await start({}, '', { gpu: 'cpu' });
    expect(await onCpu.core.commands.llamaServer()).toMatchObject({ version: 'version: 1 (fake)', devices: [], source: 'setting', faster: true });
    await onCpu.dispose();
    const onGpu = await start({}, '', { gpu: 'cuda' });
    expect(await onGpu.core.commands.llamaServer()).toMatchObject({ devices: [], faster: false });
  });
});
