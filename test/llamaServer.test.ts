/**
 * Engine 1 with a real `llama-server` (the one `npm run build-llama-server` built, one on PATH, or
 * LOADOUT_LLAMA_SERVER): generated GGUF models through the core. Skipped, saying so, where no binary
 * exists (CI does not install cmake). The app-kill test runs with the stand-in everywhere, and with
 * the real binary too where there is one.
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { locateLlamaServer } from '../src/main/core/backends/llamaServer/locate';
import { makeModel } from '../src/main/core/gguf/makeModel';
import { defaultDataDir } from '../src/main/core/paths';
import { faultBackendPath } from './fixtures/backends';
import { disposeAll, pidAlive, startTestCore, waitUntil } from './harness';

const root = resolve(__dirname, '..');
const where = locateLlamaServer({ configured: process.env.LOADOUT_LLAMA_SERVER ?? '', dataDir: defaultDataDir() });
const real = where.found?.path ?? null;
if (!real) console.log(`test/llamaServer.test.ts: the real llama-server tests are skipped: ${where.found ? '' : where.why}`);
const fake = resolve(__dirname, 'fixtures', 'fakeLlamaServer.mjs');

const dirs: string[] = [];
const leftovers: number[] = [];
afterEach(async () => {
  await disposeAll();
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

const config = (name: string, extra = '') => `name: ${name}\nbackend: llama-server\nparameters:\n  model: ${name}.gguf\ncontext_size: 512\nthreads: 1\n${extra}`;

async function text(it: AsyncIterable<{ text: string }>): Promise<string> {
  let out = '';
  for await (const c of it) out += c.text;
  return out;
}

describe.skipIf(!real)('a real llama-server through the core', () => {
  it('Engine 1: loads a generated GGUF, streams chat deterministically at temperature 0, honours max_tokens and stop strings, tokenizes', async () => {
    const t = await startTestCore({ ggufs: { tiny: 3 }, configs: { 'tiny.yaml': config('tiny') }, settings: { llama_server_path: real! } });
    const row = await t.core.commands.load('tiny');
    expect(row).toMatchObject({ state: 'ready', backend: 'llama-server' });
    expect(pidAlive(row.pid!)).toBe(true);
    const req = { messages: [{ role: 'user', content: 'Tell me a story' }], temperature: 0, max_tokens: 16 };
    const chunks: string[] = [];
    for await (const c of t.core.commands.chat('tiny', req)) chunks.push(c.text);
    expect(chunks.length).toBeGreaterThan(3);
    expect(await text(t.core.commands.chat('tiny', req))).toBe(chunks.join(''));
    const tokens = await t.core.commands.tokenize('tiny', 'hello world');
    expect(tokens.length).toBeGreaterThan(0);
    // A stop string taken from the answer itself cuts it there.
    const full = chunks.join('');
    const stop = full.slice(4, 8);
    if (stop.trim()) expect(await text(t.core.commands.chat('tiny', { ...req, stop: [stop] }))).toBe(full.slice(0, full.indexOf(stop)));
  });

  it('Engine 1: a grammar constrains the answer, and a client that goes away frees the slot at once', async () => {
    const t = await startTestCore({ ggufs: { tiny: 3 }, configs: { 'tiny.yaml': config('tiny') }, settings: { llama_server_path: real! } });
    const yes = await text(t.core.commands.chat('tiny', { messages: [{ role: 'user', content: 'yes or no?' }], grammar: 'root ::= "yes" | "no"', temperature: 0 }));
    expect(['yes', 'no']).toContain(yes);
    const ac = new AbortController();
    let pieces = 0;
    await expect(
      (async () => {
        for await (const _ of t.core.commands.complete('tiny', { prompt: 'Once upon a time', max_tokens: 400 }, { signal: ac.signal })) if (++pieces === 3) ac.abort();
      })(),
    ).rejects.toMatchObject({ code: 'cancelled' });
    const started = Date.now();
    expect((await text(t.core.commands.complete('tiny', { prompt: 'Hi', max_tokens: 4 }))).length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(5000);
  });
});

/** A Loadout core in its own process (test/fixtures/coreProcess.ts) with one llama-server model loaded. */
async function coreWithLlamaServer(binary: string): Promise<{ app: ReturnType<typeof spawn>; pid: number }> {
  const dir = mkdtempSync(join(os.tmpdir(), 'loadout-lskill-'));
  dirs.push(dir);
  const models = join(dir, 'models');
  mkdirSync(models);
  await makeModel(join(models, 'ls.gguf'), { preset: 'tiny', seed: 1 });
  writeFileSync(join(models, 'ls.yaml'), config('ls'));
  const app = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/coreProcess.ts', join(dir, 'data'), models, faultBackendPath(), `--setting=llama_server_path=${binary}`, 'ls'], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  });
  let out = '';
  let err = '';
  app.stderr!.on('data', (d) => (err += d));
  const pids = await new Promise<Record<string, number>>((res, rej) => {
    app.stdout!.on('data', (d) => {
      out += d;
      const m = /ready (.*)\n/.exec(out);
      if (m) res(JSON.parse(m[1]!));
    });
    app.once('exit', (code) => rej(new Error(`core exited ${code}: ${err}`)));
  });
  leftovers.push(pids.ls!);
  return { app, pid: pids.ls! };
}

describe.skipIf(process.platform === 'win32')('the app killed outright with a llama-server model loaded', () => {
  for (const [what, binary] of [
    ['a stand-in that, like llama-server, does not watch its parent', fake],
    ['the real llama-server', real],
  ] as const) {
    it.skipIf(!binary)(`Engine 1/U4: ${what} is killed by the app's reaper`, async () => {
      const { app, pid } = await coreWithLlamaServer(binary!);
      expect(pidAlive(pid)).toBe(true);
      app.kill('SIGKILL');
      await waitUntil(() => !pidAlive(pid), 'llama-server to be gone after the app was SIGKILLed', { timeoutMs: 5000 });
    });
  }
});
