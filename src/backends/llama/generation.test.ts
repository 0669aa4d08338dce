/**
 * The llama-cpp backend's requests, against one real backend process and a generated tiny GGUF:
 * Predict / PredictStream (UTF-8, stop prompts, max tokens, seed, chat template), ModelIdentity,
 * cancellation, parallel slots, Embedding, TokenizeString, Free.
 */
import * as grpc from '@grpc/grpc-js';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModel } from '../../main/core/gguf/makeModel';
import type {
  EmbeddingResult__Output,
  PredictOptions,
  Reply__Output,
  Result__Output,
  StatusResponse__Output,
  TokenizationResponse__Output,
} from '../../wire';
import { loadOptions, startBackend, stream, text, unary, type Backend } from './testBackend';

// A template unlike any node-llama-cpp knows, so the output proves the GGUF's own one was used.
const TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + ' says:\\n' + message['content'] + '<|im_end|>\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant says:\\n' }}{% endif %}";
const render = (messages: Array<{ role: string; content: string }>): string =>
  messages.map((m) => `<|im_start|>${m.role} says:\n${m.content}<|im_end|>\n`).join('') + '<|im_start|>assistant says:\n';

const PROMPT = 'the little cat went down the river';
const decodeStrict = (bytes: Uint8Array): string => new TextDecoder('utf-8', { fatal: true }).decode(bytes);

let dir: string;
let modelFile: string;
let backend: Backend;

async function load(extra: Parameters<typeof loadOptions>[1] = {}): Promise<void> {
  const result = await unary<Result__Output>(backend.client, 'LoadModel', loadOptions(modelFile, extra));
  expect(result, result.message).toMatchObject({ success: true });
}
const predict = (req: PredictOptions): Promise<Reply__Output> => unary<Reply__Output>(backend.client, 'Predict', req);
const status = (): Promise<StatusResponse__Output> => unary<StatusResponse__Output>(backend.client, 'Status', {});
const grpcError = (p: Promise<unknown>): Promise<grpc.ServiceError> =>
  p.then(
    () => {
      throw new Error('expected the call to fail');
    },
    (e: grpc.ServiceError) => e,
  );

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llama-gen-'));
  [{ path: modelFile }, backend] = await Promise.all([
    makeModel(join(dir, 'tiny.gguf'), { preset: 'tiny', seed: 7, contextLength: 8192, chatTemplate: TEMPLATE }),
    startBackend(),
  ]);
});

afterAll(async () => {
  if (process.env.SHOW_STDERR) console.log(backend?.stderr());
  await backend?.kill();
  rmSync(dir, { recursive: true, force: true });
});

describe('before a model is loaded', () => {
  it('R1: requests fail with FAILED_PRECONDITION "no model loaded"', async () => {
    for (const method of ['Predict', 'TokenizeString', 'Embedding']) {
      const err = await grpcError(unary(backend.client, method, { Prompt: 'hi' }));
      expect(err.code, method).toBe(grpc.status.FAILED_PRECONDITION);
      expect(err.details, method).toContain('no model loaded');
    }
    const err = await grpcError(stream(backend.client, { Prompt: 'hi' }));
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect((await status()).state).toBe('UNINITIALIZED');
  });
});

describe('with the tiny model loaded', () => {
  beforeAll(() => load({ ContextSize: 4096, Embeddings: true }));

  it('R5: streamed chunks are valid UTF-8 and join to the Predict text (temperature 0)', async () => {
    // Enough tokens to outlast several of the writer's 16 ms windows (server.ts COALESCE_MS).
    const req: PredictOptions = { Prompt: PROMPT, Tokens: 256, Temperature: 0, Seed: 3 };
    const whole = await predict(req);
    const streamed = await stream(backend.client, req);
    for (const chunk of streamed.chunks) decodeStrict(Buffer.from(chunk.message));
    expect(streamed.chunks.length).toBeGreaterThan(5);
    expect(decodeStrict(streamed.bytes)).toBe(text(whole));
    expect(text(whole).length).toBeGreaterThan(20);
    // Totals and timings ride on the final reply.
    expect(streamed.last).toMatchObject({ tokens: 256, prompt_tokens: whole.prompt_tokens });
    expect(whole.tokens).toBe(256);
    expect(whole.prompt_tokens).toBeGreaterThan(5);
    expect(streamed.last!.timing_token_generation).toBeGreaterThan(0);
  });

  it('R5: a multi-byte character is never split across chunks', async () => {
    // The grammar forces characters the vocabulary only has as byte tokens (1-4 per character).
    const target = 'héllo 日本 €😀 ok';
    const streamed = await stream(backend.client, {
      Prompt: PROMPT,
      Tokens: 64,
      Grammar: `root ::= "${target}"`,
    });
    // Neither a reply nor a piece within one (a token's text, one SSE event each) splits one.
    for (const chunk of streamed.chunks) decodeStrict(Buffer.from(chunk.message));
    const pieces = streamed.chunks.flatMap((c) => (c.pieces.length > 0 ? c.pieces : [c.message]).map((p) => decodeStrict(Buffer.from(p))));
    expect(pieces.join('')).toBe(target);
    expect(pieces.join('')).not.toContain('\uFFFD');
    expect(pieces.filter((p) => p !== '').length).toBeGreaterThan(3);
  });

  it('R5: the same seed gives the same text at a temperature above 0', async () => {
    const req: PredictOptions = { Prompt: PROMPT, Tokens: 40, Temperature: 1.2, TopK: 40, TopP: 0.95, MinP: 0.01, Penalty: 1.1, Seed: 1234 };
    const a = text(await predict(req));
    const b = text(await predict(req));
    const c = text(await predict({ ...req, Seed: 99 }));
    expect(a).toBe(b);
    expect(c).not.toBe(a);
  });

  it('R5: Tokens caps the number of new tokens', async () => {
    for (const Tokens of [1, 7]) {
      const streamed = await stream(backend.client, { Prompt: PROMPT, Tokens });
      expect(streamed.last?.tokens).toBe(Tokens);
    }
  });

  it('R5: a stop prompt ends the text just before it, stream and Predict alike', async () => {
    const full = text(await predict({ Prompt: PROMPT, Tokens: 60 }));
    // A word from the middle of the greedy answer: the same prompt reproduces everything before it.
    const words = full.trim().split(/\s+/);
    const stop = words.slice(Math.floor(words.length / 2)).find((w) => w.length >= 3 && full.indexOf(w) > 10);
    expect(stop, `no usable stop word in ${JSON.stringify(full)}`).toBeDefined();
    const expected = full.slice(0, full.indexOf(stop!));
    const req: PredictOptions = { Prompt: PROMPT, Tokens: 60, StopPrompts: ['zzz-never', stop!] };
    expect(text(await predict(req))).toBe(expected);
    expect((await stream(backend.client, req)).bytes.toString('utf8')).toBe(expected);
  });

  it("C3: chat Messages with UseTokenizerTemplate go through the GGUF's own chat template", async () => {
    const messages = [
      { role: 'system', content: 'you are a small model' },
      { role: 'user', content: 'tell me about the river' },
    ];
    const chat = await predict({ UseTokenizerTemplate: true, Messages: messages, Prompt: 'ignored', Tokens: 30 });
    // The same text rendered by hand and sent as a raw prompt: same tokens in, same tokens out.
    const raw = await predict({ Prompt: render(messages), Tokens: 30 });
    expect(chat.prompt_tokens).toBe(raw.prompt_tokens);
    expect(text(chat)).toBe(text(raw));
    const tokenized = await unary<TokenizationResponse__Output>(backend.client, 'TokenizeString', { Prompt: render(messages) });
    expect(chat.prompt_tokens).toBe(tokenized.length + 1); // + BOS
    // Special tokens in a rendered prompt are parsed as such: <|im_start|> is one token.
    const special = await unary<TokenizationResponse__Output>(backend.client, 'TokenizeString', { Prompt: '<|im_start|>' });
    expect(special.length).toBe(1);
  });

  it('R1: a request for another model is rejected with FAILED_PRECONDITION', async () => {
    const req = { Prompt: PROMPT, Tokens: 3, ModelIdentity: 'someone-else' };
    for (const method of ['Predict', 'TokenizeString', 'Embedding']) {
      const err = await grpcError(unary(backend.client, method, req));
      expect(err.code, method).toBe(grpc.status.FAILED_PRECONDITION);
      expect(err.details, method).toMatch(/serves model "tiny", not "someone-else"/);
    }
    const err = await grpcError(stream(backend.client, req));
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    // The right identity is served.
    expect((await predict({ ...req, ModelIdentity: 'tiny' })).tokens).toBe(3);
  });

  it('R3: cancelling a stream stops generation within a token or so; the next request is served at once', async () => {
    let received = 0;
    let during: Promise<StatusResponse__Output> | undefined;
    const long = stream(backend.client, { Prompt: PROMPT, Tokens: 0 }, (reply, call) => {
      received = reply.tokens;
      during ??= status().finally(() => call.cancel());
    });
    const err = await grpcError(long);
    expect((await during)?.state).toBe('BUSY');
    expect(err.code).toBe(grpc.status.CANCELLED);
    const cancelledAt = performance.now();
    // Unlimited, this generation runs to the end of the 4096-token context (seconds); with one
    // slot, a next request would wait for it.
    const next = await predict({ Prompt: PROMPT, Tokens: 5 });
    const waited = performance.now() - cancelledAt;
    expect(next.tokens).toBe(5);
    expect(waited).toBeLessThan(1000);
    expect((await status()).state).toBe('READY');
    expect(received).toBeLessThan(500);
  });

  it('R2: with one slot a second stream waits its turn (FIFO)', async () => {
    const order: string[] = [];
    const a = stream(backend.client, { Prompt: PROMPT, Tokens: 150 }, () => order.push('a'));
    const b = stream(backend.client, { Prompt: 'the moon', Tokens: 150 }, () => order.push('b'));
    await Promise.all([a, b]);
    const firstB = order.indexOf('b');
    expect(order.slice(firstB)).not.toContain('a'); // b started after a had finished
  });

  it('R2: parallel:2 serves two streams at the same time', async () => {
    await load({ ContextSize: 1024, Options: ['parallel:2'] });
    const order: string[] = [];
    const a = stream(backend.client, { Prompt: PROMPT, Tokens: 150 }, () => order.push('a'));
    const b = stream(backend.client, { Prompt: 'the moon', Tokens: 150 }, () => order.push('b'));
    const [ra, rb] = await Promise.all([a, b]);
    expect(ra.last?.tokens).toBe(150);
    expect(rb.last?.tokens).toBe(150);
    // Interleaved: b's first chunk came before a's last one.
    expect(order.indexOf('b')).toBeLessThan(order.lastIndexOf('a'));
    const single = text(await predict({ Prompt: PROMPT, Tokens: 150 }));
    expect(ra.bytes.toString('utf8')).toBe(single);
  });

  it('R2: a request on a used slot starts while the other slots generate, not after them (joinGate.ts); its answer is the one it gets alone', async () => {
    await load({ ContextSize: 1024, Options: ['parallel:4'] });
    const alone = text(await predict({ Prompt: 'the moon', Tokens: 12 }));
    // Every slot holds an earlier answer, so the next request on any of them must clear it first.
    await Promise.all(['a', 'b', 'c', 'd'].map((p) => predict({ Prompt: `${PROMPT} ${p}`, Tokens: 8 })));
    const events: string[] = [];
    let joined: ReturnType<typeof stream> | undefined;
    const long = ['green', 'cold', 'quiet'].map((word, i) =>
      stream(backend.client, { Prompt: `the ${word} river`, Tokens: 300 }, (reply) => {
        if (i === 0 && reply.tokens >= 20 && !joined) {
          joined = stream(backend.client, { Prompt: 'the moon', Tokens: 12 });
          void joined.then(() => events.push('joined'));
        }
      }).then(() => events.push('long')),
    );
    await Promise.all(long);
    expect(joined).toBeDefined();
    const short = await joined!;
    // Without the gate the short answer waited for every long one to finish.
    expect(events[0]).toBe('joined');
    expect(short.bytes.toString('utf8')).toBe(alone);
    // The same prompt again reuses what its slot holds and still gives the same answer.
    expect(text(await predict({ Prompt: 'the moon', Tokens: 12 }))).toBe(alone);
  });

  it('Embedding returns a vector when loaded with Embeddings, a clear error otherwise', async () => {
    await load({ ContextSize: 1024, Embeddings: true });
    const res = await unary<EmbeddingResult__Output>(backend.client, 'Embedding', { Embeddings: 'the quiet river' });
    expect(res.dim).toBe(64);
    expect(res.embeddings).toHaveLength(64);
    expect(res.embeddings.some((x) => x !== 0)).toBe(true);
    expect(res.tokens).toBeGreaterThan(0);
    await load({ ContextSize: 1024, Embeddings: false });
    const err = await grpcError(unary(backend.client, 'Embedding', { Embeddings: 'the quiet river' }));
    expect(err.code).toBe(grpc.status.FAILED_PRECONDITION);
    expect(err.details).toContain('embeddings: true');
  });

  it('U1: Free unloads the model; a stream in flight ends with ABORTED', async () => {
    await load({ ContextSize: 4096 });
    let freeing: Promise<Result__Output> | undefined;
    const long = stream(backend.client, { Prompt: PROMPT, Tokens: 0 }, (reply) => {
      if (reply.tokens >= 10 && !freeing) freeing = unary<Result__Output>(backend.client, 'Free', {});
    });
    const err = await grpcError(long);
    expect(err.code).toBe(grpc.status.ABORTED);
    expect(await freeing).toMatchObject({ success: true });
    expect((await status()).state).toBe('UNINITIALIZED');
    const after = await grpcError(predict({ Prompt: PROMPT }));
    expect(after.details).toContain('no model loaded');
  });
});
