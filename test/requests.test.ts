/** Requests on loaded models (R1-R6) through the real loader and real backend processes. */
import { afterEach, describe, expect, it } from 'vitest';
import type { LoadoutError } from '../src/shared/errors';
import { disposeAll, faultModel, startTestCore, waitUntil } from './harness';

afterEach(disposeAll);

function consume(it: AsyncIterable<{ text: string }>, onChunk?: (text: string) => void): Promise<{ text: string; chunks: number; error: LoadoutError | null }> {
  return (async () => {
    let text = '';
    let chunks = 0;
    try {
      for await (const c of it) {
        text += c.text;
        chunks++;
        onChunk?.(text);
      }
      return { text, chunks, error: null };
    } catch (e) {
      return { text, chunks, error: e as LoadoutError };
    }
  })();
}

describe('requests', () => {
  it('R1: a request marks the model busy for its duration and sets last used at start and end', async () => {
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:30', 'fault_tokens:10'] }) } });
    await t.core.commands.load('a');
    const before = Date.parse(t.row('a').lastUsed!);
    const run = consume(t.core.commands.complete('a', { prompt: 'p' }));
    const busy = await t.waitState('a', 'busy');
    expect(busy.inFlight).toBe(1);
    const atStart = Date.parse(busy.lastUsed!);
    expect(atStart).toBeGreaterThanOrEqual(before);
    await run;
    const idle = t.row('a');
    expect(idle.state).toBe('ready');
    expect(idle.inFlight).toBe(0);
    expect(Date.parse(idle.lastUsed!)).toBeGreaterThanOrEqual(atStart + 250);
  });

  it('R2: parallel slots from options; extra requests queue FIFO; beyond max_queue they fail with queue_full', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a', { options: ['parallel:2', 'fault_token_ms:40', 'fault_tokens:10'] }) },
      settings: { max_queue: 1 },
    });
    await t.core.commands.load('a');
    const order: number[] = [];
    const runs = [0, 1, 2].map((i) => consume(t.core.commands.complete('a', { prompt: `${i}` })).then((r) => (order.push(i), r)));
    await waitUntil(() => t.row('a').inFlight === 2 && t.row('a').queued === 1, 'two running and one queued');
    const fourth = await consume(t.core.commands.complete('a', { prompt: 'x' }));
    expect(fourth.error?.code).toBe('queue_full');
    const results = await Promise.all(runs);
    expect(results.every((r) => r.error === null)).toBe(true);
    expect(order[2]).toBe(2);
  });

  it('R3: cancelling a stream stops generation in the backend at once', async () => {
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:20', 'fault_tokens:500'] }) } });
    await t.core.commands.load('a');
    const ac = new AbortController();
    const r = await consume(t.core.commands.complete('a', { prompt: 'p' }, { signal: ac.signal }), (text) => {
      if (text.includes('tok5')) ac.abort();
    });
    expect(r.error?.code).toBe('cancelled');
    expect(r.text).toContain('tok5');
    await waitUntil(() => t.core.commands.logs('a').some((l) => /generation cancelled by the client after \d+ tokens/.test(l.text)), 'the backend to see the cancel');
    const line = t.core.commands.logs('a').find((l) => l.text.includes('generation cancelled'))!;
    expect(Number(/after (\d+) tokens/.exec(line.text)![1])).toBeLessThan(12);
    expect(t.row('a').state).toBe('ready');
  });

  it('R4: a request to a model that is loading waits for it', async () => {
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a', { options: ['fault_load_ms:600'] }) } });
    const r = await consume(t.core.commands.complete('a', { prompt: 'p', max_tokens: 3 }));
    expect(r.error).toBeNull();
    expect(r.text).toBe('tok0 tok1 tok2');
  });

  it('R5: generation always streams; joined pieces equal the answer', async () => {
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a') } });
    const r = await consume(t.core.commands.chat('a', { messages: [{ role: 'user', content: 'hello' }], max_tokens: 5 }));
    expect(r.chunks).toBe(5);
    expect(r.text).toBe('tok0 tok1 tok2 tok3 tok4');
  });

  it('R6: models generating at once share the thread budget; one that would exceed it waits its turn', async () => {
    const t = await startTestCore({
      configs: {
        'a.yaml': faultModel('a', { options: ['fault_token_ms:30', 'fault_tokens:20'], extra: 'threads: 2' }),
        'b.yaml': faultModel('b', { options: ['fault_tokens:3'], extra: 'threads: 1' }),
      },
      cores: 2,
    });
    await t.core.commands.load('a');
    await t.core.commands.load('b');
    let aDoneAt = 0;
    const a = consume(t.core.commands.complete('a', { prompt: 'p' })).then((r) => ((aDoneAt = Date.now()), r));
    await t.waitState('a', 'busy');
    const b = consume(t.core.commands.complete('b', { prompt: 'p' }));
    await waitUntil(() => t.row('b').queued === 1, 'b to queue for threads');
    expect(t.row('b').inFlight).toBe(0);
    const rb = await b;
    const bDoneAt = Date.now();
    expect(rb.error).toBeNull();
    await a;
    expect(bDoneAt).toBeGreaterThanOrEqual(aDoneAt);
  });

  it('R4/L6 (Trust 6): at max_active 1, two clients alternating models get their answers; no model is unloaded before it answers', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a', { options: ['fault_tokens:3'] }), 'b.yaml': faultModel('b', { options: ['fault_tokens:3'] }) },
      settings: { max_active_models: 1 },
    });
    const client = async (model: string) => {
      const codes: string[] = [];
      for (let i = 0; i < 4; i++) {
        const r = await consume(t.core.commands.complete(model, { prompt: 'p' }, { origin: 'api' }));
        codes.push(r.error ? r.error.code : 'ok');
      }
      return codes;
    };
    const results = (await Promise.all([client('a'), client('b')])).flat();
    expect(results).toEqual(Array(8).fill('ok'));
    expect(t.core.commands.journal().every((e) => e.reason === 'lru')).toBe(true);
  });
});
