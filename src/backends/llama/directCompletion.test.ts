/**
 * The direct loop (directCompletion.ts) against node-llama-cpp's LlamaCompletion: two real
 * backends on the same generated model, one loaded with a single slot and one libuv worker (the
 * direct loop, as the loader runs it) and one with `parallel:2` (LlamaCompletion), answer every
 * kind of request the direct loop takes with the same text and token counts, and a slot reused
 * with a shared prefix answers as a fresh one.
 */
import { mkdtempSync, readFileSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { dirname, join } from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModel } from '../../main/core/gguf/makeModel';
import type { PredictOptions, Reply__Output, Result__Output } from '../../wire';
import { loadOptions, startBackend, stream, text, unary, type Backend } from './testBackend';

// The model's turn ends with " the", a word the greedy answers are full of: the template's stop
// trigger is then ordinary text, which the direct loop matches as a stop string.
const TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + ' the' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";
const PROMPT = 'the little cat went down the river';

let dir: string;
let direct: Backend;
let completion: Backend;

beforeAll(async () => {
  dir = mkdtempSync(join(tmpdir(), 'llama-direct-'));
  let file: string;
  [{ path: file }, direct, completion] = await Promise.all([
    makeModel(join(dir, 'tiny.gguf'), { preset: 'tiny', seed: 11, contextLength: 4096, chatTemplate: TEMPLATE }),
    // As the loader starts a one-slot backend (builtinBackendEnv): one libuv worker, so the
    // loop queues each sampling behind its decode.
    startBackend(20_000, { ...process.env, UV_THREADPOOL_SIZE: '1' }),
    startBackend(),
  ]);
  const loads: Array<[Backend, { Options?: string[] }]> = [
    [direct, {}],
    [completion, { Options: ['parallel:2'] }],
  ];
  for (const [backend, extra] of loads) {
    // Batches of 16 tokens: longer prompts are decoded in several.
    const result = await unary<Result__Output>(backend.client, 'LoadModel', loadOptions(file, { ContextSize: 2048, NBatch: 16, ...extra }));
    expect(result, result.message).toMatchObject({ success: true });
  }
});

afterAll(async () => {
  if (process.env.SHOW_STDERR) console.log(direct?.stderr(), completion?.stderr());
  await Promise.all([direct?.kill(), completion?.kill()]);
  if (dir) rmSync(dir, { recursive: true, force: true });
});

const predict = (backend: Backend, req: PredictOptions): Promise<Reply__Output> => unary<Reply__Output>(backend.client, 'Predict', req);

async function both(req: PredictOptions): Promise<{ direct: Reply__Output; completion: Reply__Output }> {
  return { direct: await predict(direct, req), completion: await predict(completion, req) };
}

describe('the direct generation loop', () => {
  it('is the one node-llama-cpp version its internals were read from', () => {
    const entry = createRequire(import.meta.url).resolve('node-llama-cpp');
    const pkg = JSON.parse(readFileSync(join(dirname(dirname(entry)), 'package.json'), 'utf8')) as { version: string };
    // A new node-llama-cpp: check directCompletion.ts's internals against it, then update this.
    expect(pkg.version).toBe('3.21.1');
  });

  it.each<[string, PredictOptions]>([
    ['greedy', { Prompt: PROMPT, Tokens: 48 }],
    ['a repeat penalty over the last 16 tokens', { Prompt: PROMPT, Tokens: 48, Penalty: 1.5, Repeat: 16 }],
    ['frequency and presence penalties', { Prompt: PROMPT, Tokens: 48, FrequencyPenalty: 0.8, PresencePenalty: 0.5 }],
    ['a seed at temperature 0.9 with top-k, top-p and min-p', { Prompt: PROMPT, Tokens: 48, Temperature: 0.9, TopK: 20, TopP: 0.9, MinP: 0.02, Seed: 77 }],
    ['a one-token prompt', { Prompt: 'the', Tokens: 20 }],
    ['a prompt of several batches', { Prompt: Array.from({ length: 8 }, (_, i) => `${i} ${PROMPT}`).join(', '), Tokens: 32 }],
    ['a stop string', { Prompt: PROMPT, Tokens: 48, StopPrompts: [' river'] }],
  ])('gives the same answer as LlamaCompletion: %s', async (_, req) => {
    const r = await both(req);
    expect(text(r.direct)).toBe(text(r.completion));
    expect(r.direct.tokens).toBe(r.completion.tokens);
    expect(r.direct.prompt_tokens).toBe(r.completion.prompt_tokens);
    expect(text(r.direct).length).toBeGreaterThan(0);
  });

  it("stops at the chat template's end of turn, matched in the text as stop strings are", async () => {
    const req: PredictOptions = { UseTokenizerTemplate: true, Messages: [{ role: 'user', content: 'tell me about the river' }], Prompt: 'ignored', Tokens: 64 };
    const r = await both(req);
    // LlamaCompletion matches the marker against each token decoded alone, which drops a word's
    // leading space here, so it misses " the" at the start of " ther"; the direct loop matches the
    // text the user sees, as it does for a request's stop strings, and ends the answer there.
    const full = text(r.completion);
    const at = full.indexOf(' the');
    expect(at, full).toBeGreaterThan(0);
    expect(text(r.direct)).toBe(full.slice(0, at));
    expect(r.direct.tokens).toBeLessThan(64);
    expect(direct.stderr()).toMatch(/generation: the direct loop/);
  });

  it('a request that shares a prefix with the last answer reuses it and answers as a fresh slot does', async () => {
    const first = text(await predict(direct, { Prompt: PROMPT, Tokens: 24 }));
    // The conversation so far plus more: the slot keeps the common part and evaluates the rest.
    const next: PredictOptions = { Prompt: `${PROMPT}${first} and then`, Tokens: 24 };
    const reused = await predict(direct, next);
    // An unrelated request in between clears the slot; the same request then starts from nothing.
    await predict(direct, { Prompt: 'a completely different start', Tokens: 4 });
    const fresh = await predict(completion, next);
    expect(text(reused)).toBe(text(fresh));
    expect(reused.tokens).toBe(fresh.tokens);
    // And the streamed pieces of the reused slot join to the same text.
    expect((await stream(direct.client, next)).bytes.toString('utf8')).toBe(text(fresh));
  });

  it('cancelling a stream stops the loop; the next request on the slot is answered correctly', async () => {
    const long: PredictOptions = { Prompt: PROMPT, Tokens: 1500 };
    const s = stream(direct.client, long, (_, call) => call.cancel());
    await s.catch(() => undefined);
    const after = await both({ Prompt: PROMPT, Tokens: 32 });
    expect(text(after.direct)).toBe(text(after.completion));
  });
});
