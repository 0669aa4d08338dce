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
    expect(pieces.length).toBeGreaterThan(3);
    expect(usage).toMatchObject({ completion_tokens: 24 });
    expect(usage!.prompt_tokens).toBeGreaterThan(3);
    expect(finish).toBe('length');

    const whole = await client.chat.completions.create(ask);
    expect(whole.choices[0].message.content).toBe(pieces.join(''));
    expect(whole.usage).toEqual(usage);
  });
});
