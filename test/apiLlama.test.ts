/**
 * The whole real path once: the openai package -> /v1 -> core -> built-in llama-cpp backend ->
 * node-llama-cpp on a generated tiny GGUF, streamed back as SSE.
 */
import OpenAI from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../src/main/core/server/httpServer';
import type { HttpServerHandle } from '../src/main/core/server/httpServer';
import { disposeAll, startTestCore } from './harness';

const servers: HttpServerHandle[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
});

async function start(extra = '', contextSize = 2048) {
  const t = await startTestCore({ ggufs: { tiny: 3 }, configs: { 'tiny.yaml': `name: tiny\nparameters:\n  model: tiny.gguf\ncontext_size: ${contextSize}\nthreads: 1\n${extra}` } });
  const server = await startHttpServer(t.core, { port: 0, ui: false });
  servers.push(server);
  return { t, server, client: new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 }) };
}

describe('/v1 on the built-in llama-cpp backend', () => {
  it('R5: a streamed chat answer equals the non-streamed one (temperature 0, seed), with usage; loaded on demand', async () => {
    const t = await startTestCore({ ggufs: { tiny: 3 }, configs: { 'tiny.yaml': 'name: tiny\nparameters:\n  model: tiny.gguf\ncontext_size: 512\nthreads: 1\n' } });
    const server = await startHttpServer(t.core, { port: 0, ui: false });
    servers.push(server);
    const client = new OpenAI({ apiKey: 'unused', baseURL: `http://127.0.0.1:${server.port}/v1`, maxRetries: 0 });
    const ask = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Tell me a story' }], temperature: 0, seed: 7, max_tokens: 24 };

    const stream = await client.chat.completions.create({ ...ask, stream: true, stream_options: { include_usage: true } });
    const pieces: string[] = [];
    let usage = null;
    let finish = null;
    for await (const c of stream) {
      if (c.choices[0]?.delta.content) pieces.push(c.choices[0].delta.content);
      finish = c.choices[0]?.finish_reason ?? finish;
      usage = c.usage ?? usage;
    }
    expect(t.row('tiny')).toMatchObject({ state: 'ready', backend: 'llama-cpp' });
    // House B: one event per sampled token, though the backend sends the tokens of a few ms in one
    // reply (server.ts coalesces; the reply's `pieces` keep them apart).
    console.log(`R5: ${pieces.length} content events for 24 tokens`);
    expect(pieces.length).toBe(24);
    expect(usage).toMatchObject({ completion_tokens: 24 });
    expect(usage!.prompt_tokens).toBeGreaterThan(3);
    expect(finish).toBe('length');

    const whole = await client.chat.completions.create(ask);
    expect(whole.choices[0].message.content).toBe(pieces.join(''));
    expect(whole.usage).toEqual(usage);
  });

  it('response_format json_schema: the answer parses and matches the schema despite random weights (the grammar); cut by max_tokens it says length', async () => {
    const { client } = await start();
    const schema = {
      type: 'object',
      properties: {
        name: { type: 'string', maxLength: 12 },
        age: { type: 'integer', minimum: 0, maximum: 120 },
        mood: { enum: ['happy', 'sad'] },
        tags: { type: 'array', items: { type: 'string', maxLength: 6 }, maxItems: 3 },
        ok: { type: 'boolean' },
        note: { type: ['string', 'null'], maxLength: 4 },
      },
      required: ['name', 'age', 'mood', 'tags', 'ok'],
      additionalProperties: false,
    };
    const ask = { model: 'tiny', messages: [{ role: 'user' as const, content: 'Describe someone' }], temperature: 0, seed: 3, response_format: { type: 'json_schema' as const, json_schema: { name: 'person', schema } } };
    // Greedy decoding on random weights takes every whitespace the grammar allows: room for it.
    const whole = await client.chat.completions.create({ ...ask, max_tokens: 2000 });
    expect(whole.choices[0].finish_reason).toBe('stop');
    const value = JSON.parse(whole.choices[0].message.content!);
    expect(Object.keys(value).every((k) => k in schema.properties)).toBe(true);
    expect(typeof value.name === 'string' && value.name.length <= 12).toBe(true);
    expect(Number.isInteger(value.age) && value.age >= 0 && value.age <= 120).toBe(true);
    expect(['happy', 'sad']).toContain(value.mood);
    expect(Array.isArray(value.tags) && value.tags.length <= 3 && value.tags.every((x: unknown) => typeof x === 'string' && x.length <= 6)).toBe(true);
    expect(typeof value.ok).toBe('boolean');
    if ('note' in value) expect(value.note === null || (typeof value.note === 'string' && value.note.length <= 4)).toBe(true);

    // R5: streamed, the same answer.
    const stream = await client.chat.completions.create({ ...ask, max_tokens: 2000, stream: true });
    let streamed = '';
    for await (const c of stream) streamed += c.choices[0]?.delta.content ?? '';
    expect(streamed).toBe(whole.choices[0].message.content);

    // Cut short, the JSON is incomplete and the answer says so.
    const cut = await client.chat.completions.create({ ...ask, max_tokens: 8 });
    expect(cut.choices[0].finish_reason).toBe('length');
    expect(() => JSON.parse(cut.choices[0].message.content!)).toThrow();
    expect(whole.choices[0].message.content!.startsWith(cut.choices[0].message.content!)).toBe(true);

    // json_object: an object from the first character (without the grammar these weights write words).
    const obj = await client.chat.completions.create({ ...ask, response_format: { type: 'json_object' }, max_tokens: 40 });
    expect(obj.choices[0].message.content).toMatch(/^\{/);
    const free = await client.chat.completions.create({ ...ask, response_format: { type: 'text' }, max_tokens: 40 });
    expect(free.choices[0].message.content).not.toMatch(/^\{/);
  });

  it('response_format json_object with no max_tokens: the answer runs to the end of the context, unfinished, and says length', async () => {
    const { client } = await start('', 256);
    // Random weights never close a string: the grammar keeps it JSON until the context is full.
    const r = await client.chat.completions.create({ model: 'tiny', messages: [{ role: 'user', content: 'hi' }], temperature: 0, response_format: { type: 'json_object' } });
    expect(r.choices[0].message.content).toMatch(/^\{/);
    expect(r.choices[0].finish_reason).toBe('length');
    expect(r.usage!.prompt_tokens + r.usage!.completion_tokens).toBeGreaterThan(200);
  });

  it('embeddings: usage counts the prompt tokens with the model\'s tokenizer', async () => {
    const { client, t } = await start('embeddings: true\n');
    const input = ['the little house by the river', 'hello'];
    const r = await client.embeddings.create({ model: 'tiny', input, encoding_format: 'float' });
    const counts = await Promise.all(input.map(async (text) => (await t.core.commands.tokenize('tiny', text)).length));
    expect(counts[0]).toBeGreaterThan(3);
    expect(r.usage).toEqual({ prompt_tokens: counts[0] + counts[1], total_tokens: counts[0] + counts[1] });
    expect(r.data[0].embedding.length).toBeGreaterThan(8);
  });
});

describe('the built-in backend refusing a request is the client\'s 400 (Trust 15)', () => {
  it('a prompt longer than the context is 400 with the token count and the limit, not 502', async () => {
    const { client } = await start('', 64);
    const err = await client.completions.create({ model: 'tiny', prompt: 'one two three four five six seven eight nine ten '.repeat(20), max_tokens: 4 }).then(
      () => null,
      (e: { status?: number; message?: string }) => e,
    );
    expect(err?.status).toBe(400);
    expect(err?.message).toMatch(/The prompt is \d+ tokens but the context holds \d+/);
  });
});
