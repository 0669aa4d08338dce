/**
 * Client mistakes are 4xx, server faults 5xx (Trust 15): OpenAI clients retry a 5xx, so a request
 * that can never succeed must say so with a 400 that names the problem, and a stuck backend is a
 * server fault (504 `timeout`), not the client's. Against a real core and fault-backend processes.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../src/main/core/server/httpServer';
import type { HttpServerHandle } from '../src/main/core/server/httpServer';
import { disposeAll, faultModel, startTestCore } from './harness';
import type { TestCoreOptions } from './harness';

const servers: HttpServerHandle[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
});

async function startApi(o: TestCoreOptions) {
  const t = await startTestCore(o);
  const server = await startHttpServer(t.core, { port: 0, ui: false });
  servers.push(server);
  const post = async (path: string, body: unknown) => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: typeof body === 'string' ? body : JSON.stringify(body) });
    const text = await res.text();
    return { status: res.status, text, body: JSON.parse(text) as { error?: { message: string; code: string; type: string; param: string | null } } & Record<string, any> };
  };
  return { t, post };
}

const hi = [{ role: 'user', content: 'hi' }];

describe('client mistakes answer 400 naming the problem', () => {
  it('embeddings on a model without "embeddings: true" is refused before anything loads', async () => {
    const { t, post } = await startApi({ configs: { 'a.yaml': faultModel('a') } });
    const r = await post('/v1/embeddings', { model: 'a', input: 'hello' });
    expect(r.status).toBe(400);
    expect(r.body.error).toMatchObject({ code: 'invalid', param: 'model', type: 'invalid_request_error' });
    expect(r.body.error!.message).toContain('add "embeddings: true" to its config');
    expect(t.row('a').state).toBe('unloaded');
  });

  it('a response_format schema nested 1,000 deep, or 100 deep, or referring to itself: 400, no stack overflow', async () => {
    const { post } = await startApi({ configs: { 'a.yaml': faultModel('a') } });
    const nested = (depth: number) => {
      let s: unknown = { type: 'string' };
      for (let i = 0; i < depth; i++) s = { type: 'object', properties: { a: s } };
      return s;
    };
    const format = (schema: unknown) => ({ model: 'a', messages: hi, response_format: { type: 'json_schema', json_schema: { name: 'x', schema } } });
    const deep = await post('/v1/chat/completions', format(nested(1000)));
    expect(deep.status).toBe(400);
    expect(deep.body.error!.message).toMatch(/nests objects or lists more than 256 levels deep/);
    const hundred = await post('/v1/chat/completions', format(nested(100)));
    expect(hundred.status).toBe(400);
    expect(hundred.body.error).toMatchObject({ param: 'response_format' });
    expect(hundred.body.error!.message).toMatch(/nested more than 64 levels deep/);
    const self = await post('/v1/chat/completions', format({ $ref: '#' }));
    expect(self.status).toBe(400);
    expect(self.body.error!.message).toMatch(/"#" refers back to itself/);
  });

  it('an empty prompt, or one far larger than the context, is 400 with the limit; nothing loads', async () => {
    const { t, post } = await startApi({ configs: { 'a.yaml': faultModel('a', { extra: 'context_size: 64' }) } });
    const empty = await post('/v1/completions', { model: 'a', prompt: '' });
    expect(empty.status).toBe(400);
    expect(empty.body.error).toMatchObject({ param: 'prompt' });
    const huge = await post('/v1/completions', { model: 'a', prompt: 'word '.repeat(60_000) });
    expect(huge.status).toBe(400);
    expect(huge.body.error!.message).toMatch(/300,000 bytes: far more than a's context of 64 tokens/);
    const hugeChat = await post('/v1/chat/completions', { model: 'a', messages: [{ role: 'user', content: 'x'.repeat(10_000) }] });
    expect(hugeChat.status).toBe(400);
    expect(hugeChat.body.error).toMatchObject({ param: 'messages' });
    const emptyInput = await post('/v1/embeddings', { model: 'a', input: [''] });
    expect(emptyInput.status).toBe(400);
    expect(t.row('a').state).toBe('unloaded');
  });

  it('logit_bias and top_logprobs are refused by name; presence and frequency penalties reach the backend', async () => {
    const { post } = await startApi({ configs: { 'a.yaml': faultModel('a', { options: ['fault_echo_request:1'] }) } });
    const bias = await post('/v1/chat/completions', { model: 'a', messages: hi, logit_bias: { '50256': -100 } });
    expect(bias.status).toBe(400);
    expect(bias.body.error).toMatchObject({ param: 'logit_bias' });
    const top = await post('/v1/chat/completions', { model: 'a', messages: hi, top_logprobs: 3 });
    expect(top.status).toBe(400);
    expect(top.body.error).toMatchObject({ param: 'top_logprobs' });
    const range = await post('/v1/chat/completions', { model: 'a', messages: hi, presence_penalty: 3 });
    expect(range.status).toBe(400);
    const ok = await post('/v1/chat/completions', { model: 'a', messages: hi, presence_penalty: 0.5, frequency_penalty: -0.25 });
    expect(ok.status).toBe(200);
    const sent = JSON.parse(ok.body.choices[0].message.content);
    expect(sent).toMatchObject({ PresencePenalty: 0.5, FrequencyPenalty: -0.25 });
  });

  it('model names with spaces at the ends or control characters are refused, in the body and the path', async () => {
    const { post } = await startApi({ configs: { 'a.yaml': faultModel('a') } });
    for (const model of ['a ', ' a', 'a\u0000', 'a\n']) {
      const r = await post('/v1/chat/completions', { model, messages: hi });
      expect(r.status, JSON.stringify(model)).toBe(400);
      expect(r.body.error).toMatchObject({ param: 'model' });
    }
    const path = await post('/api/models/a%20/load', {});
    expect(path.status).toBe(400);
    expect(path.body.error!.message).toMatch(/must not start or end with spaces/);
    const nul = await post('/api/models/a%00/load', {});
    expect(nul.status).toBe(400);
  });
});

describe('server faults are 5xx', () => {
  it('a request ended by the stall watchdog is 504 timeout naming stall_timeout', async () => {
    const { post } = await startApi({
      configs: { 'h.yaml': faultModel('h', { options: ['fault_stream_hang_after:2', 'fault_tokens:100'] }) },
      settings: { stall_timeout: 1 },
      watchdogIntervalMs: 200,
    });
    const r = await post('/v1/completions', { model: 'h', prompt: 'p' });
    expect(r.status).toBe(504);
    expect(r.body.error).toMatchObject({ code: 'timeout', type: 'server_error' });
    expect(r.body.error!.message).toContain('stall_timeout');
  });
});
