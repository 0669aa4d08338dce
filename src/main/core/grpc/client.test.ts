import { afterEach, describe, expect, it } from 'vitest';
import { faultBackendPath, freePort, killAllBackends, spawnBackend, waitUntil, type SpawnedBackend } from '../../../../test/fixtures/backends';
import { createBackendClient, GrpcCallError, isConnectionError, isDeadlineError } from './client';
import type { Reply__Output } from '../../../wire';
import type { BackendClient } from './types';

const clients: BackendClient[] = [];

afterEach(async () => {
  for (const c of clients.splice(0)) c.close();
  await killAllBackends();
});

function clientOf(address: string): BackendClient {
  const c = createBackendClient(address);
  clients.push(c);
  return c;
}

/** A running fault backend with a model loaded with `options`. */
async function loaded(options: string[], env: Record<string, string> = {}): Promise<{ b: SpawnedBackend; c: BackendClient }> {
  const b = await spawnBackend(faultBackendPath(), [], env);
  const c = clientOf(b.address);
  await c.waitReady({ timeoutMs: 10_000 });
  const res = await c.loadModel({ Model: 'm1', Options: options });
  expect(res.success).toBe(true);
  return { b, c };
}

const text = (r: Reply__Output) => Buffer.from(r.message).toString('utf8');

async function counters(c: BackendClient) {
  const s = await c.status();
  return { state: s.state, ...(s.memory?.breakdown ?? {}) } as Record<string, number> & { state: string };
}

async function rejection(p: Promise<unknown>): Promise<GrpcCallError> {
  const e = await p.then(
    () => undefined,
    (err: unknown) => err,
  );
  expect(e).toBeInstanceOf(GrpcCallError);
  return e as GrpcCallError;
}

describe('backend gRPC client', () => {
  it('L10: waitReady reconnects fast to a backend that binds after 300 ms (whole start < 1 s)', async () => {
    const t0 = Date.now();
    const b = await spawnBackend(faultBackendPath(), [], { FAULT_START_DELAY_MS: '300' });
    let listening = 0;
    b.child.stdout?.on('data', () => (listening ||= b.stdout().includes('listening on') ? Date.now() : 0));
    const c = clientOf(b.address);
    await c.waitReady({ timeoutMs: 5000 });
    const ready = Date.now();
    expect(ready - t0).toBeGreaterThanOrEqual(300);
    expect(ready - t0).toBeLessThan(1000);
    // The part the client controls: ready soon after the backend listens (grpc-js' default
    // reconnect backoff alone would add up to a second here).
    expect(listening).toBeGreaterThan(0);
    expect(ready - listening).toBeLessThan(200);
    expect(text(await c.health())).toBe('OK');
  });

  it('L10: waitReady gives up with a deadline error within its budget when the backend never binds', async () => {
    const b = await spawnBackend(faultBackendPath(), [], { FAULT_START: 'hang' });
    const c = clientOf(b.address);
    const t0 = Date.now();
    const e = await rejection(c.waitReady({ timeoutMs: 600 }));
    const took = Date.now() - t0;
    expect(e.kind).toBe('deadline');
    expect(isDeadlineError(e)).toBe(true);
    expect(e.message).toMatch(/did not become ready within 600 ms/);
    expect(took).toBeGreaterThanOrEqual(590);
    expect(took).toBeLessThan(900);
  });

  it('L12: waitReady stops at once when its signal aborts', async () => {
    const b = await spawnBackend(faultBackendPath(), [], { FAULT_START: 'hang' });
    const c = clientOf(b.address);
    const ac = new AbortController();
    const p = c.waitReady({ timeoutMs: 10_000, signal: ac.signal });
    const t0 = Date.now();
    setTimeout(() => ac.abort(), 50);
    const e = await rejection(p);
    expect(e.kind).toBe('cancelled');
    expect(Date.now() - t0).toBeLessThan(500);
  });

  it('R5: predictStream yields every token in order, and predict joins them', async () => {
    const { c } = await loaded(['fault_tokens:5']);
    const pieces: string[] = [];
    for await (const r of c.predictStream({ Prompt: 'hello there' })) {
      pieces.push(text(r));
      expect(r.prompt_tokens).toBe(2);
    }
    expect(pieces.join('')).toBe('tok0 tok1 tok2 tok3 tok4');
    const whole = await c.predict({ Prompt: 'x', Tokens: 3 });
    expect(text(whole)).toBe('tok0 tok1 tok2');
    expect(whole.tokens).toBe(3);
  });

  it('R3: breaking out of the loop cancels the stream on the backend', async () => {
    const { c } = await loaded(['fault_tokens:1000', 'fault_token_ms:20']);
    let n = 0;
    for await (const r of c.predictStream({ Prompt: 'x' })) {
      expect(text(r)).toContain(`tok${n}`);
      if (++n === 3) break;
    }
    // The backend saw the cancel and is idle again long before the 20 s the answer would take.
    const after = await waitUntil(async () => {
      const s = await counters(c);
      return s.state === 'READY' && s.generations_cancelled === 1 ? s : null;
    }, 'the backend to see the cancel', { timeoutMs: 2000 });
    expect(after.generations_completed).toBe(0);
  });

  it('R3: an AbortSignal cancels a unary predict', async () => {
    const { c } = await loaded(['fault_tokens:1000', 'fault_token_ms:20']);
    const ac = new AbortController();
    const p = c.predict({ Prompt: 'x' }, { signal: ac.signal });
    await waitUntil(async () => (await counters(c)).generations_started === 1, 'the generation to start');
    ac.abort();
    const e = await rejection(p);
    expect(e.kind).toBe('cancelled');
    expect(e.code).toBe(1);
    await waitUntil(async () => (await counters(c)).generations_cancelled === 1, 'the backend to see the cancel');
    // An already aborted signal never starts a call.
    const e2 = await rejection(c.predict({ Prompt: 'x' }, { signal: AbortSignal.abort() }));
    expect(e2.kind).toBe('cancelled');
    expect((await counters(c)).generations_started).toBe(1);
  });

  it('R3: an AbortSignal cancels a stream; the next next() rejects with kind cancelled', async () => {
    const { c } = await loaded(['fault_tokens:1000', 'fault_token_ms:20']);
    const ac = new AbortController();
    const it = c.predictStream({ Prompt: 'x' }, { signal: ac.signal })[Symbol.asyncIterator]();
    const first = await it.next();
    expect(first.done).toBe(false);
    ac.abort();
    const e = await rejection(it.next());
    expect(e.kind).toBe('cancelled');
    expect((await it.next()).done).toBe(true);
    await waitUntil(async () => {
      const s = await counters(c);
      return s.state === 'READY' && s.generations_cancelled === 1;
    }, 'the backend to see the cancel');
  });

  it('R4: a passed deadline gives kind deadline, on unary calls and streams', async () => {
    const { c } = await loaded(['fault_tokens:1000', 'fault_token_ms:20']);
    const t0 = Date.now();
    const e = await rejection(c.predict({ Prompt: 'x' }, { timeoutMs: 150 }));
    expect(e.kind).toBe('deadline');
    expect(isDeadlineError(e)).toBe(true);
    expect(isConnectionError(e)).toBe(false);
    expect(e.message).toMatch(/did not answer Predict in time: no answer within 150 ms/);
    expect(Date.now() - t0).toBeLessThan(1000);

    const got: string[] = [];
    const stream = async () => {
      for await (const r of c.predictStream({ Prompt: 'x' }, { timeoutMs: 200 })) got.push(text(r));
    };
    const e2 = await rejection(stream());
    expect(e2.kind).toBe('deadline');
    expect(got.length).toBeGreaterThan(0); // tokens before the deadline were delivered
  });

  it('U3: a backend crash mid-stream yields the first tokens, then rejects with kind unavailable', async () => {
    const { b, c } = await loaded(['fault_tokens:100', 'fault_stream_crash_after:3']);
    const got: string[] = [];
    const e = await rejection(
      (async () => {
        for await (const r of c.predictStream({ Prompt: 'x' })) got.push(text(r));
      })(),
    );
    expect(got).toEqual(['tok0', ' tok1', ' tok2']);
    expect(e.kind).toBe('unavailable');
    expect(isConnectionError(e)).toBe(true);
    expect(e.message).toMatch(/cannot be reached/);
    expect((await b.exited).signal).toBe('SIGKILL');
  });

  it('U6: a request for another model (ModelIdentity mismatch) gives kind precondition', async () => {
    const { c } = await loaded([]);
    const e = await rejection(c.predict({ Prompt: 'x', ModelIdentity: 'other-model' }));
    expect(e.kind).toBe('precondition');
    expect(e.details).toMatch(/other-model/);
    const e2 = await rejection(
      (async () => {
        for await (const _ of c.predictStream({ Prompt: 'x', ModelIdentity: 'other-model' })) void _;
      })(),
    );
    expect(e2.kind).toBe('precondition');
    expect(text(await c.predict({ Prompt: 'x', Tokens: 1, ModelIdentity: 'm1' }))).toBe('tok0');
  });

  it('U6: a refused connection fails fast and isConnectionError says so', async () => {
    const c = clientOf(`127.0.0.1:${await freePort()}`);
    const t0 = Date.now();
    const e = await rejection(c.health({ timeoutMs: 5000 }));
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(e.kind).toBe('unavailable');
    expect(isConnectionError(e)).toBe(true);
    expect(isDeadlineError(e)).toBe(false);
    expect(e.message).toContain(c.address);
  });

  it('R5: a consumer that stops reading holds the backend back (bounded buffering), then gets everything', async () => {
    const total = 20_000;
    const { c } = await loaded([`fault_tokens:${total}`, 'fault_token_ms:0']);
    const it = c.predictStream({ Prompt: 'x' })[Symbol.asyncIterator]();
    expect((await it.next()).done).toBe(false);
    // Not reading: flow control must stop the backend well before the end of the answer.
    await new Promise((r) => setTimeout(r, 300));
    const held = await counters(c);
    expect(held.generations_active).toBe(1);
    expect(held.generations_completed).toBe(0);
    let n = 1;
    for (;;) {
      const r = await it.next();
      if (r.done) break;
      n++;
    }
    expect(n).toBe(total);
    expect((await counters(c)).generations_completed).toBe(1);
  });

  it('client: embedding, tokenize, status, free', async () => {
    const { c } = await loaded(['embedding_dim:4096']);
    const emb = await c.embedding({ Embeddings: 'hello world' });
    expect(emb.embeddings).toHaveLength(4096);
    expect(emb.dim).toBe(4096);
    const tok = await c.tokenizeString({ Prompt: 'one two three' });
    expect(tok.length).toBe(3);
    expect(tok.tokens).toHaveLength(3);
    const st = await c.status();
    expect(st.state).toBe('READY');
    expect(st.memory?.total).toBeGreaterThan(1024 * 1024);
    expect((await c.free()).success).toBe(true);
    expect((await c.status()).state).toBe('UNINITIALIZED');
    const e = await rejection(c.predict({ Prompt: 'x' }));
    expect(e.kind).toBe('precondition');
  });
});
