/**
 * The whole real path with the built-in llama-cpp backend: catalog -> loader -> spawned Node
 * backend -> node-llama-cpp on generated GGUF models -> streamed tokens. Plus the bad model
 * files a user will drop into the folder.
 */
import { writeFileSync, readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeModel } from '../src/main/core/gguf/makeModel';
import { disposeAll, pidAlive, startTestCore } from './harness';

afterEach(disposeAll);

async function text(it: AsyncIterable<{ text: string }>): Promise<string> {
  let out = '';
  for await (const c of it) out += c.text;
  return out;
}

const config = (name: string, file: string, extra = '') => `name: ${name}\nparameters:\n  model: ${file}\ncontext_size: 512\nthreads: 1\n${extra}`;

describe('built-in llama-cpp backend through the core', () => {
  it('L9/R5: loads a generated GGUF, streams a chat answer, is deterministic at temperature 0 with a seed', async () => {
    const t = await startTestCore({ ggufs: { tiny: 3 }, configs: { 'tiny.yaml': config('tiny', 'tiny.gguf') } });
    const row = await t.core.commands.load('tiny');
    expect(row).toMatchObject({ state: 'ready', backend: 'llama-cpp' });
    expect(pidAlive(row.pid!)).toBe(true);
    expect(row.memory.rssBytes).toBeGreaterThan(10 * 1024 * 1024);
    expect(row.gguf).toMatchObject({ architecture: 'llama', quantization: 'F32' });
    const req = { messages: [{ role: 'user', content: 'Tell me a story' }], temperature: 0, seed: 7, max_tokens: 24 };
    const chunks: string[] = [];
    // One piece per token (an SSE event each), several to a chunk when they come fast.
    for await (const c of t.core.commands.chat('tiny', req)) chunks.push(...(c.pieces?.length ? c.pieces : [c.text]));
    expect(chunks.length).toBeGreaterThan(3);
    expect(chunks.join('').length).toBeGreaterThan(10);
    expect(await text(t.core.commands.chat('tiny', req))).toBe(chunks.join(''));
  });

  it('R3: stopping a real generation mid-stream frees the model at once', async () => {
    const t = await startTestCore({ ggufs: { tiny: 3 }, configs: { 'tiny.yaml': config('tiny', 'tiny.gguf') } });
    const ac = new AbortController();
    let pieces = 0;
    await expect(
      (async () => {
        for await (const _ of t.core.commands.complete('tiny', { prompt: 'Once upon a time', max_tokens: 400 }, { signal: ac.signal })) {
          if (++pieces === 5) ac.abort();
        }
      })(),
    ).rejects.toMatchObject({ code: 'cancelled' });
    expect(t.row('tiny').state).toBe('ready');
    const started = Date.now();
    const next = await text(t.core.commands.complete('tiny', { prompt: 'Hi', max_tokens: 4 }));
    expect(next.length).toBeGreaterThan(0);
    expect(Date.now() - started).toBeLessThan(2000);
  });

  it('C2: a bare GGUF is a model on the built-in backend; tokenize and embeddings work', async () => {
    const t = await startTestCore({ ggufs: { bare: 5, emb: 6 }, configs: { 'emb.yaml': config('emb', 'emb.gguf', 'embeddings: true\n') } });
    expect(t.row('bare').backend).toBe('llama-cpp');
    const tokens = await t.core.commands.tokenize('bare', 'hello world');
    expect(tokens.length).toBeGreaterThan(0);
    const vector = await t.core.commands.embed('emb', 'hello world');
    expect(vector.length).toBe(64);
  });

  it('bad input: a truncated GGUF is an error on that model only; the others load', async () => {
    const t = await startTestCore({ ggufs: { good: 1, cut: 2 } });
    // Truncate after the core started: the watcher picks it up.
    const file = join(t.modelsDir, 'cut.gguf');
    writeFileSync(file, readFileSync(file).subarray(0, 4000));
    const row = await (async () => {
      for (let i = 0; i < 100; i++) {
        if (t.row('cut').status === 'error') return t.row('cut');
        await new Promise((r) => setTimeout(r, 50));
      }
      return t.row('cut');
    })();
    expect(row.status).toBe('error');
    expect(row.error).toMatch(/truncated/i);
    await expect(t.core.commands.load('cut')).rejects.toMatchObject({ code: 'invalid' });
    expect((await t.core.commands.load('good')).state).toBe('ready');
  });

  it('bad input: a GGUF that makes llama.cpp abort fails that model with the signal; the app and other models live on', async () => {
    const t = await startTestCore({ ggufs: { good: 1 } });
    await makeModel(join(t.modelsDir, 'abort.gguf'), { preset: 'tiny', seed: 4, omitKeys: ['llama.feed_forward_length'] });
    await t.core.commands.load('good');
    const deadline = Date.now() + 5000;
    while (!t.core.commands.snapshot().models.some((m) => m.name === 'abort') && Date.now() < deadline) await new Promise((r) => setTimeout(r, 50));
    const err = await t.core.commands.load('abort').catch((e) => e);
    expect(err.code).toBe('backend_failed');
    expect(err.message).toMatch(/SIGABRT|abort/i);
    expect(t.row('abort').state).toBe('failed');
    expect(t.row('good').state).toBe('ready');
    expect(await text(t.core.commands.complete('good', { prompt: 'Hi', max_tokens: 3 }))).not.toBe('');
  });

  it('bad input: a backend path that is not executable gives a clear error', async () => {
    const t = await startTestCore({});
    const file = join(t.modelsDir, 'not-a-program.txt');
    writeFileSync(file, 'hello');
    expect(() => t.core.commands.addBackend({ name: 'x', target: file })).toThrow(/not executable|chmod/i);
  });
});
