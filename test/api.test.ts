/**
 * The local HTTP API through the official `openai` client and plain fetch: /v1 (models, chat,
 * completions, embeddings, errors, loading on demand) and the management /api, against a real
 * core with fault-backend models in real processes.
 */
import OpenAI, { APIError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import type { ModelRow, RequestLogEntry, Snapshot } from '../src/shared/model';
import { startHttpServer } from '../src/main/core/server/httpServer';
import type { HttpServerHandle } from '../src/main/core/server/httpServer';
import { disposeAll, faultModel, startTestCore, waitUntil } from './harness';
import type { TestCoreOptions } from './harness';

const servers: HttpServerHandle[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
});

async function startApi(o: TestCoreOptions = {}) {
  const t = await startTestCore(o);
  const server = await startHttpServer(t.core, { port: 0, ui: false });
  servers.push(server);
  const base = `http://127.0.0.1:${server.port}`;
  // maxRetries 0: the SDK would otherwise retry our 429/503s by itself.
  const client = new OpenAI({ apiKey: 'not-needed-on-loopback', baseURL: `${base}/v1`, maxRetries: 0 });
  return { t, server, base, client };
}

async function json(res: Response): Promise<any> {
  return res.json();
}

async function apiError(p: Promise<unknown>): Promise<APIError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(APIError);
    return e as APIError;
  }
  throw new Error('expected the call to fail');
}

const hi = [{ role: 'user' as const, content: 'one two three' }];

describe('/v1 through the openai package', () => {
  it('GET /v1/models lists every catalog model whose status is ok; retrieve knows them', async () => {
    const { client } = await startApi({
      configs: {
        'a.yaml': faultModel('a'),
        'b.yaml': faultModel('b'),
        'off.yaml': faultModel('off', { extra: 'disabled: true' }),
        'broken.yaml': 'name: [unclosed\n',
      },
    });
    const page = await client.models.list();
    expect(page.data.map((m) => m.id).sort()).toEqual(['a', 'b']);
    expect(page.data[0]).toMatchObject({ object: 'model', owned_by: 'loadout' });
    expect((await client.models.retrieve('a')).id).toBe('a');
    const err = await apiError(client.models.retrieve('nope'));
    expect(err).toMatchObject({ status: 404, code: 'model_not_found' });
  });

  it('chat, not streaming: the answer, usage counts, finish_reason stop and length', async () => {
    const { client } = await startApi({ configs: { 'a.yaml': faultModel('a', { options: ['fault_tokens:6'] }) } });
    const full = await client.chat.completions.create({ model: 'a', messages: hi });
    expect(full.object).toBe('chat.completion');
    expect(full.choices[0].message).toMatchObject({ role: 'assistant', content: 'tok0 tok1 tok2 tok3 tok4 tok5' });
    expect(full.choices[0].finish_reason).toBe('stop');
    // The fault backend counts the words of "user: one two three" as the prompt.
    expect(full.usage).toEqual({ prompt_tokens: 4, completion_tokens: 6, total_tokens: 10 });

    const cut = await client.chat.completions.create({ model: 'a', messages: hi, max_tokens: 3 });
    expect(cut.choices[0].message.content).toBe('tok0 tok1 tok2');
    expect(cut.choices[0].finish_reason).toBe('length');
    expect(cut.usage?.completion_tokens).toBe(3);
  });

  it('chat, streaming: deltas join to the answer; include_usage adds a last chunk with usage and no choices', async () => {
    const { client } = await startApi({ configs: { 'a.yaml': faultModel('a', { options: ['fault_tokens:5'] }) } });
    const stream = await client.chat.completions.create({ model: 'a', messages: hi, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks[0].choices[0].delta.role).toBe('assistant');
    expect(chunks.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('tok0 tok1 tok2 tok3 tok4');
    expect(chunks.every((c) => c.object === 'chat.completion.chunk' && c.id === chunks[0].id)).toBe(true);
    const finish = chunks.find((c) => c.choices[0]?.finish_reason);
    expect(finish?.choices[0].finish_reason).toBe('stop');
    const last = chunks[chunks.length - 1];
    expect(last.choices).toEqual([]);
    expect(last.usage).toEqual({ prompt_tokens: 4, completion_tokens: 5, total_tokens: 9 });

    const plain = await client.chat.completions.create({ model: 'a', messages: hi, stream: true, max_completion_tokens: 2 });
    const rest: OpenAI.Chat.Completions.ChatCompletionChunk[] = [];
    for await (const c of plain) rest.push(c);
    expect(rest.some((c) => c.usage)).toBe(false);
    expect(rest.map((c) => c.choices[0]?.delta.content ?? '').join('')).toBe('tok0 tok1');
    expect(rest[rest.length - 1].choices[0].finish_reason).toBe('length');
  });

  it('sampling reaches the backend: temperature, top_p, seed, stop; max_completion_tokens wins over max_tokens', async () => {
    const { client } = await startApi({ configs: { 'echo.yaml': faultModel('echo', { options: ['fault_echo_request:1'] }), 'a.yaml': faultModel('a') } });
    const r = await client.chat.completions.create({
      model: 'echo',
      messages: [{ role: 'system', content: 'be brief' }, { role: 'user', content: 'hi' }],
      temperature: 0.25,
      top_p: 0.5,
      seed: 42,
      max_tokens: 99,
      max_completion_tokens: 7,
      stop: ['XYZ'],
    });
    const sent = JSON.parse(r.choices[0].message.content!);
    expect(sent).toMatchObject({ Seed: 42, Tokens: 7, StopPrompts: ['XYZ'], UseTokenizerTemplate: true, ModelIdentity: 'echo' });
    expect(sent.Messages).toEqual([expect.objectContaining({ role: 'system', content: 'be brief' }), expect.objectContaining({ role: 'user', content: 'hi' })]);
    expect(sent.Temperature).toBeCloseTo(0.25, 5);
    expect(sent.TopP).toBeCloseTo(0.5, 5);
    // The backend ends the answer at a stop string.
    const stopped = await client.chat.completions.create({ model: 'a', messages: hi, stop: 'tok3' });
    expect(stopped.choices[0].message.content).toBe('tok0 tok1 tok2');
  });

  it('completions: not streaming, streaming with usage, echo', async () => {
    const { client } = await startApi({ configs: { 'a.yaml': faultModel('a') } });
    const r = await client.completions.create({ model: 'a', prompt: 'x y', max_tokens: 3 });
    expect(r).toMatchObject({ object: 'text_completion', model: 'a', usage: { prompt_tokens: 2, completion_tokens: 3, total_tokens: 5 } });
    expect(r.choices[0]).toMatchObject({ text: 'tok0 tok1 tok2', finish_reason: 'length', index: 0 });

    const stream = await client.completions.create({ model: 'a', prompt: 'x y', max_tokens: 4, stream: true, stream_options: { include_usage: true } });
    const chunks: OpenAI.Completions.Completion[] = [];
    for await (const c of stream) chunks.push(c);
    expect(chunks.map((c) => c.choices[0]?.text ?? '').join('')).toBe('tok0 tok1 tok2 tok3');
    expect(chunks[chunks.length - 1].usage).toEqual({ prompt_tokens: 2, completion_tokens: 4, total_tokens: 6 });

    const echoed = await client.completions.create({ model: 'a', prompt: 'Once:', max_tokens: 2, echo: true });
    expect(echoed.choices[0].text).toBe('Once:tok0 tok1');
  });

  it('embeddings: one or many inputs; the SDK default (base64) decodes to the float answer', async () => {
    const { client } = await startApi({ configs: { 'e.yaml': faultModel('e', { options: ['embedding_dim:16'], extra: 'embeddings: true' }) } });
    const viaBase64 = await client.embeddings.create({ model: 'e', input: ['hello world', 'other'] });
    const viaFloat = await client.embeddings.create({ model: 'e', input: ['hello world', 'other'], encoding_format: 'float' });
    expect(viaBase64.data.map((d) => d.index)).toEqual([0, 1]);
    expect(viaFloat.data[0].embedding).toHaveLength(16);
    viaFloat.data[0].embedding.forEach((x, i) => expect(viaBase64.data[0].embedding[i]).toBeCloseTo(x, 5));
    expect(viaFloat.data[0].embedding).not.toEqual(viaFloat.data[1].embedding);
    // Usage counts the backend's tokens (the fault backend counts words: 2 + 1).
    expect(viaFloat.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
    expect(viaBase64.usage).toEqual({ prompt_tokens: 3, total_tokens: 3 });
  });

  it('errors in OpenAI format: unknown model 404 model_not_found, bad field 400 with param, queue_full 429 with Retry-After', async () => {
    const { client, t } = await startApi({
      configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:30', 'fault_tokens:200'] }) },
      settings: { max_queue: 0 },
    });
    const missing = await apiError(client.chat.completions.create({ model: 'nope', messages: hi }));
    expect(missing).toMatchObject({ status: 404, code: 'model_not_found', param: 'model', type: 'invalid_request_error' });
    expect(missing.message).toContain('GET /v1/models');

    const bad = await apiError(client.chat.completions.create({ model: 'a', messages: hi, temperature: 5 }));
    expect(bad).toMatchObject({ status: 400, code: 'invalid', param: 'temperature' });

    const busy = await client.chat.completions.create({ model: 'a', messages: hi, stream: true });
    const reading = (async () => {
      for await (const _ of busy) {
        // drain
      }
    })();
    await waitUntil(() => t.row('a').inFlight === 1, 'the first request to run');
    const full = await apiError(client.chat.completions.create({ model: 'a', messages: hi }));
    expect(full).toMatchObject({ status: 429, code: 'queue_full', type: 'rate_limit_error' });
    expect(Number(full.headers?.get('retry-after'))).toBeGreaterThanOrEqual(1);
    busy.controller.abort();
    await reading.catch(() => {});
  });

  it('a backend that crashes mid-stream: the SDK raises the SSE error event (backend_crashed)', async () => {
    const { client } = await startApi({ configs: { 'c.yaml': faultModel('c', { options: ['fault_stream_crash_after:3', 'fault_token_ms:5'] }) } });
    const stream = await client.chat.completions.create({ model: 'c', messages: hi, stream: true });
    let text = '';
    const err = await apiError(
      (async () => {
        for await (const c of stream) text += c.choices[0]?.delta.content ?? '';
      })(),
    );
    expect(err.code).toBe('backend_crashed');
    expect(text).toBe('tok0 tok1 tok2');
  });

  it('tools: 400 saying so for the built-in backend; an external backend gets them and a plain answer without them', async () => {
    const { client } = await startApi({ ggufs: { tiny: 1 }, configs: { 'a.yaml': faultModel('a'), 'echo.yaml': faultModel('echo', { options: ['fault_echo_request:1'] }) } });
    const tools = [{ type: 'function' as const, function: { name: 'weather', parameters: { type: 'object', properties: {} } } }];
    const builtin = await apiError(client.chat.completions.create({ model: 'tiny', messages: hi, tools }));
    expect(builtin).toMatchObject({ status: 400, param: 'tools' });
    expect(builtin.message).toMatch(/not supported.*llama-cpp/);

    const external = await client.chat.completions.create({ model: 'a', messages: hi, tools, tool_choice: 'auto', max_tokens: 2 });
    expect(external.choices[0].message.content).toBe('tok0 tok1');
    const sent = JSON.parse((await client.chat.completions.create({ model: 'echo', messages: hi, tools, tool_choice: 'required' })).choices[0].message.content!);
    expect(JSON.parse(sent.Tools)).toEqual(tools);
    expect(JSON.parse(sent.ToolChoice)).toBe('required');
  });

  it('tools: a backend\'s Reply.chat_deltas tool calls become message.tool_calls (finish_reason tool_calls) and streamed delta.tool_calls', async () => {
    const { client, base } = await startApi({ configs: { 'f.yaml': faultModel('f', { options: ['fault_tool_call:lookup,fetch'] }) } });
    const tools = ['lookup', 'fetch'].map((name) => ({ type: 'function' as const, function: { name, parameters: { type: 'object', properties: { q: { type: 'string' } } } } }));
    const args = JSON.stringify({ q: 'one two three' });

    const whole = await client.chat.completions.create({ model: 'f', messages: hi, tools });
    expect(whole.choices[0].finish_reason).toBe('tool_calls');
    expect(whole.choices[0].message.content).toBeNull();
    expect(whole.choices[0].message.tool_calls).toEqual([
      { id: 'call_fault_0', type: 'function', function: { name: 'lookup', arguments: args } },
      { id: 'call_fault_1', type: 'function', function: { name: 'fetch', arguments: args } },
    ]);
    // 4 deltas per call, each counted as a token by the backend.
    expect(whole.usage).toMatchObject({ completion_tokens: 8 });

    // Streamed: the first delta of a call has its index, id, type and name; the rest add arguments.
    const stream = await client.chat.completions.create({ model: 'f', messages: hi, tools, stream: true });
    const deltas: OpenAI.Chat.Completions.ChatCompletionChunk.Choice.Delta.ToolCall[] = [];
    let finish = null;
    for await (const c of stream) {
      deltas.push(...(c.choices[0]?.delta.tool_calls ?? []));
      finish = c.choices[0]?.finish_reason ?? finish;
    }
    expect(finish).toBe('tool_calls');
    expect(deltas[0]).toEqual({ index: 0, id: 'call_fault_0', type: 'function', function: { name: 'lookup', arguments: '' } });
    expect(deltas[1]).toEqual({ index: 0, function: { arguments: args.slice(0, 5) } });
    expect(deltas.filter((d) => d.index === 1).map((d) => d.function?.arguments).join('')).toBe(args);
    // The SDK's own stream helper puts the calls back together.
    const helper = client.chat.completions.stream({ model: 'f', messages: hi, tools });
    const final = await helper.finalChatCompletion();
    expect(final.choices[0].message.tool_calls?.map((c) => [c.id, c.function.name, c.function.arguments])).toEqual([
      ['call_fault_0', 'lookup', args],
      ['call_fault_1', 'fetch', args],
    ]);
    // Raw SSE: one JSON object per event, the tool calls in OpenAI's shape.
    const raw = await (await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 'f', messages: hi, tools, stream: true }) })).text();
    const events = raw.split('\n\n').filter(Boolean);
    expect(events.at(-1)).toBe('data: [DONE]');
    expect(JSON.parse(events[0].slice(6)).choices[0].delta).toEqual({ role: 'assistant', content: null, tool_calls: [{ index: 0, id: 'call_fault_0', type: 'function', function: { name: 'lookup', arguments: '' } }] });

    // Without tools in the request the same model answers in text.
    const plain = await client.chat.completions.create({ model: 'f', messages: hi, max_tokens: 2 });
    expect(plain.choices[0]).toMatchObject({ finish_reason: 'length', message: { content: 'tok0 tok1' } });
    expect(plain.choices[0].message.tool_calls).toBeUndefined();
  });

  it('response_format: json_object and json_schema reach an external backend as a GBNF Grammar; an unusable schema is a 400 naming response_format', async () => {
    const { client } = await startApi({ configs: { 'echo.yaml': faultModel('echo', { options: ['fault_echo_request:1'] }), 'a.yaml': faultModel('a') } });
    const ask = (response_format: any) => client.chat.completions.create({ model: 'echo', messages: hi, response_format });
    const schema = { type: 'object', properties: { city: { type: 'string', maxLength: 20 } }, required: ['city'], additionalProperties: false };
    const viaSchema = await ask({ type: 'json_schema', json_schema: { name: 'place', schema, strict: true } });
    const grammar: string = JSON.parse(viaSchema.choices[0].message.content!).Grammar;
    expect(grammar).toMatch(/^root ::= /);
    expect(grammar).toContain('"\\"city\\""');
    // The echo is JSON, so the answer is complete.
    expect(viaSchema.choices[0].finish_reason).toBe('stop');
    const viaObject = JSON.parse((await ask({ type: 'json_object' })).choices[0].message.content!).Grammar;
    expect(viaObject).toMatch(/^root ::= object\n/);
    const viaText = JSON.parse((await ask({ type: 'text' })).choices[0].message.content!);
    expect(viaText.Grammar).toBe('');

    const bad = await apiError(ask({ type: 'json_schema', json_schema: { name: 'x', schema: { type: 'object', properties: { age: { type: 'integr' } } } } }));
    expect(bad).toMatchObject({ status: 400, code: 'invalid', param: 'response_format' });
    expect(bad.message).toContain('response_format.json_schema.schema.properties.age.type');
    expect(bad.message).toContain('"integr" is not a JSON Schema type');
    const unsupported = await apiError(ask({ type: 'json_schema', json_schema: { name: 'x', schema: { type: 'string', pattern: '^a+$' } } }));
    expect(unsupported).toMatchObject({ status: 400, param: 'response_format' });
    expect(unsupported.message).toMatch(/pattern.*remove it/);
    expect(await apiError(ask({ type: 'xml' }))).toMatchObject({ status: 400, param: 'response_format' });

    // A backend that ignores the grammar answers in text: its own end stands (the built-in one's cut answers: apiLlama.test.ts).
    const ignored = await client.chat.completions.create({ model: 'a', messages: hi, response_format: { type: 'json_object' } });
    expect(ignored.choices[0]).toMatchObject({ finish_reason: 'stop', message: { content: expect.stringMatching(/^tok0/) } });
  });
});

describe('loading on demand through /v1', () => {
  it('L12: a request loads a cold model and waits for it; a client that gives up leaves the load going', async () => {
    const { client, t, base } = await startApi({ configs: { 'a.yaml': faultModel('a', { options: ['fault_load_ms:400'] }), 'b.yaml': faultModel('b', { options: ['fault_load_ms:400'] }) } });
    const r = await client.chat.completions.create({ model: 'a', messages: hi, max_tokens: 2 });
    expect(r.choices[0].message.content).toBe('tok0 tok1');
    expect(t.row('a').state).toBe('ready');

    const ac = new AbortController();
    const gaveUp = fetch(`${base}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'b', prompt: 'p' }), signal: ac.signal });
    await t.waitState('b', 'loading');
    ac.abort();
    await expect(gaveUp).rejects.toThrow();
    await t.waitState('b', 'ready');
  });

  it('L12: past api_load_wait the request gets 503 loading with Retry-After, state, progress and elapsed time; the load goes on', async () => {
    const { t, base, client } = await startApi({
      configs: { 's.yaml': faultModel('s', { options: ['fault_load_ms:1500', 'fault_progress:1'] }) },
      settings: { api_load_wait: 0.4 },
    });
    const started = Date.now();
    const res = await fetch(`${base}/v1/chat/completions`, { method: 'POST', body: JSON.stringify({ model: 's', messages: hi }) });
    expect(res.status).toBe(503);
    expect(Date.now() - started).toBeGreaterThanOrEqual(380);
    expect(Number(res.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const body = await json(res);
    expect(body.error).toMatchObject({ code: 'loading', type: 'server_error', loading: { model: 's', state: expect.stringMatching(/starting|loading/) } });
    expect(body.error.loading.elapsedMs).toBeGreaterThanOrEqual(300);
    expect(body.error.message).toMatch(/still loading.*goes on/);
    expect(['starting', 'loading']).toContain(t.row('s').state);
    await t.waitState('s', 'ready');
    const after = await client.chat.completions.create({ model: 's', messages: hi, max_tokens: 1 });
    expect(after.choices[0].message.content).toBe('tok0');
  });

  it('L13: a failed on-demand load answers 502 with the reason, then 503 cooldown with Retry-After', async () => {
    const { client } = await startApi({ configs: { 'f.yaml': faultModel('f', { options: ['fault_load_fail:weights are corrupt'] }) } });
    const first = await apiError(client.chat.completions.create({ model: 'f', messages: hi }));
    expect(first).toMatchObject({ status: 502, code: 'backend_failed', type: 'server_error' });
    expect(first.message).toContain('weights are corrupt');
    const second = await apiError(client.chat.completions.create({ model: 'f', messages: hi }));
    expect(second).toMatchObject({ status: 503, code: 'cooldown' });
    expect(Number(second.headers?.get('retry-after'))).toBeGreaterThanOrEqual(9);
  });
});

describe('management /api', () => {
  const post = (base: string, path: string, body?: unknown) =>
    fetch(`${base}${path}`, { method: 'POST', body: body === undefined ? undefined : JSON.stringify(body), headers: body === undefined ? {} : { 'content-type': 'application/json' } });

  it('state, load, plan, pin, logs, unload, journal: the shared names; a POST may have no body', async () => {
    const { base } = await startApi({ configs: { 'a.yaml': faultModel('a', { groups: ['gpu'] }), 'b.yaml': faultModel('b', { groups: ['gpu'] }) } });
    const state = (await json(await fetch(`${base}/api/state`))) as Snapshot;
    expect(Object.keys(state).sort()).toEqual(['cluster', 'downloads', 'flags', 'gpuNotice', 'gpus', 'groups', 'lru', 'models', 'pending', 'settings', 'settingsProblem', 'standby']);
    expect(state.groups).toEqual({ gpu: ['a', 'b'] });
    // V11: no GPU here (and none detected before a built-in load): an empty list.
    expect(state.gpus).toEqual([]);

    const loaded = await post(base, '/api/models/a/load');
    expect(loaded.status).toBe(200);
    expect(((await json(loaded)) as ModelRow).state).toBe('ready');
    expect(((await json(await fetch(`${base}/api/state`))) as Snapshot).lru).toEqual(['a']);

    const plan = await json(await fetch(`${base}/api/models/b/plan`));
    expect(plan).toMatchObject({ model: 'b', ok: true, unloads: [{ name: 'a', reason: 'group' }] });

    const pinned = await post(base, '/api/models/a/pin', { pinned: true });
    expect(((await json(pinned)) as ModelRow).pinned).toBe(true);
    expect(await json(await fetch(`${base}/api/models/b/plan`))).toMatchObject({ ok: false, failure: { code: 'pinned_conflict' } });
    const refused = await post(base, '/api/models/b/load', {});
    expect(refused.status).toBe(409);
    expect((await json(refused)).error).toMatchObject({ code: 'pinned_conflict', message: expect.stringContaining('a') });
    await post(base, '/api/models/a/pin', { pinned: false });

    const logs = await json(await fetch(`${base}/api/models/a/logs`));
    expect(logs.some((l: { text: string }) => l.text.includes('LoadModel'))).toBe(true);

    const unloaded = await post(base, '/api/models/a/unload', { force: false });
    expect(((await json(unloaded)) as ModelRow).state).toBe('unloaded');
    const journal = await json(await fetch(`${base}/api/journal?model=a`));
    expect(journal).toEqual([expect.objectContaining({ model: 'a', reason: 'user', by: null, sentence: expect.any(String), at: expect.any(String) })]);
  });

  it('{name} is percent-decoded; unknown models, endpoints and methods get {"error": {code, message}}', async () => {
    const { base } = await startApi({ configs: { 'sp.yaml': faultModel('my model') } });
    const r = await post(base, '/api/models/my%20model/load');
    expect(r.status).toBe(200);
    expect(((await json(r)) as ModelRow).name).toBe('my model');
    expect(((await json(await fetch(`${base}/api/models/my%20model`))) as ModelRow).state).toBe('ready');

    const missing = await post(base, '/api/models/ghost/load');
    expect(missing.status).toBe(404);
    expect(await json(missing)).toEqual({ error: { code: 'not_found', message: expect.stringContaining('ghost') } });
    expect((await fetch(`${base}/api/models/ghost/plan`)).status).toBe(404);
    expect((await fetch(`${base}/api/nothing-here`)).status).toBe(404);
    const wrongMethod = await fetch(`${base}/api/state`, { method: 'POST' });
    expect(wrongMethod.status).toBe(405);
    expect(wrongMethod.headers.get('allow')).toBe('GET, HEAD');
    expect((await json(wrongMethod)).error.code).toBe('invalid');
    const badName = await fetch(`${base}/api/models/%E0%A4%A/plan`);
    expect(badName.status).toBe(400);
    const badPin = await post(base, '/api/models/my%20model/pin', { pinned: 'yes' });
    expect(badPin.status).toBe(400);
    expect((await json(badPin)).error).toMatchObject({ code: 'invalid', message: expect.stringContaining('pinned') });
  });

  it('a failed load answers with its error; unload {"force": true} ends an in-flight stream with unloaded (U2)', async () => {
    const { base, t } = await startApi({
      configs: { 'f.yaml': faultModel('f', { options: ['fault_load_fail:no such tensor'] }), 'a.yaml': faultModel('a', { options: ['fault_token_ms:20', 'fault_tokens:1000'] }) },
    });
    const failed = await post(base, '/api/models/f/load');
    expect(failed.status).toBe(502);
    expect((await json(failed)).error).toMatchObject({ code: 'backend_failed', message: expect.stringContaining('no such tensor') });

    const stream = await fetch(`${base}/v1/completions`, { method: 'POST', body: JSON.stringify({ model: 'a', prompt: 'p', stream: true }) });
    expect(stream.status).toBe(200);
    const text = stream.text();
    await waitUntil(() => t.row('a').inFlight === 1, 'the stream to run');
    const started = Date.now();
    const unloaded = await post(base, '/api/models/a/unload', { force: true });
    expect(((await json(unloaded)) as ModelRow).state).toBe('unloaded');
    expect(Date.now() - started).toBeLessThan(3000);
    const body = await text;
    expect(body).toMatch(/data: \{"error":\{[^\n]*"code":"unloaded"/);
    expect(body).not.toContain('[DONE]');
  });

  it('GET and PUT /api/settings: merges the keys given; bad keys and values are 400 and change nothing', async () => {
    const { base } = await startApi();
    const put = (body: string) => fetch(`${base}/api/settings`, { method: 'PUT', body, headers: { 'content-type': 'application/json' } });
    const r = await put(JSON.stringify({ max_active_models: 2, idle_timeout: 30 }));
    expect(r.status).toBe(200);
    expect(await json(r)).toMatchObject({ max_active_models: 2, idle_timeout: 30, api_port: 8765 });
    expect(await json(await fetch(`${base}/api/settings`))).toMatchObject({ max_active_models: 2, idle_timeout: 30 });
    const bad = await put(JSON.stringify({ max_active_models: -1, bogus: true }));
    expect(bad.status).toBe(400);
    expect((await json(bad)).error.message).toMatch(/max_active_models.*bogus|bogus.*max_active_models/);
    expect((await put('[1]')).status).toBe(400);
    expect((await put('')).status).toBe(400);
    expect(await json(await fetch(`${base}/api/settings`))).toMatchObject({ max_active_models: 2 });
    // Trust 1: keys named like Object.prototype members are unknown settings (400), not a crash (502).
    for (const key of ['toString', '__proto__', 'constructor', 'hasOwnProperty']) {
      const proto = await put(`{"${key}": 1}`);
      expect(proto.status, key).toBe(400);
      expect((await json(proto)).error.message).toContain(`unknown setting "${key}"`);
    }
    // Trust 2: a key every HTTP client can send, or a 400 that says why.
    for (const [key, why] of [
      ['a\nb', /printable ASCII/],
      ['a\u0000b', /printable ASCII/],
      ['clé', /printable ASCII/],
      ['two words', /printable ASCII/],
      ['   ', /only spaces/],
      ['k'.repeat(100_000), /at most 512/],
    ] as const) {
      const r = await put(JSON.stringify({ api_key: key }));
      expect(r.status, JSON.stringify(key.slice(0, 10))).toBe(400);
      expect((await json(r)).error.message).toMatch(why);
    }
    expect(await json(await fetch(`${base}/api/settings`))).toMatchObject({ api_key: '' });
  });
});

describe('request log', () => {
  it('every /v1 and /api request is recorded for the GUI: client, model, tokens, status, duration', async () => {
    const { client, t, base } = await startApi({ configs: { 'a.yaml': faultModel('a', { options: ['fault_tokens:4'] }) } });
    await client.chat.completions.create({ model: 'a', messages: hi });
    const stream = await client.completions.create({ model: 'a', prompt: 'p', stream: true });
    for await (const _ of stream) {
      // drain
    }
    await fetch(`${base}/api/state`);
    await apiError(client.chat.completions.create({ model: 'ghost', messages: hi }));
    const log = await waitUntil(() => (t.core.commands.requestLog().length >= 4 ? t.core.commands.requestLog() : null), 'four log entries');
    const [chat, completion, state, missing] = log;
    expect(chat).toMatchObject<Partial<RequestLogEntry>>({ method: 'POST', path: '/v1/chat/completions', model: 'a', status: 200, tokens: 4, error: null });
    expect(chat.client).toMatch(/^127\.0\.0\.1 \(OpenAI\/JS/);
    expect(chat.durationMs).toBeGreaterThan(0);
    expect(Date.parse(chat.at)).not.toBeNaN();
    expect(completion).toMatchObject({ path: '/v1/completions', status: 200, tokens: 4 });
    expect(state).toMatchObject({ method: 'GET', path: '/api/state', model: null, status: 200, tokens: null });
    expect(missing).toMatchObject({ status: 404, model: 'ghost', error: expect.stringContaining('not_found') });
    expect(t.events.filter((e) => e.type === 'request')).toHaveLength(4);
  });
});
