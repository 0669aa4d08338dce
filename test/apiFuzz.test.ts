/**
 * Keep it found (Trust): property-based fuzzing of the HTTP API and the contract's commands
 * against one real core with fault-backend models. Every route with every kind of argument and
 * hostile headers and bodies: a client's input never gets a 5xx and never crashes the server.
 * Every command with arguments of random types: always an Outcome with a code of the closed set,
 * never a JavaScript error's text. A failure prints fast-check's seed and the shrunk input.
 */
import { request } from 'node:http';
import type { OutgoingHttpHeaders } from 'node:http';
import fc from 'fast-check';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { COMMAND_NAMES } from '../src/shared/contract';
import type { Outcome } from '../src/shared/contract';
import { ERROR_STATUS } from '../src/shared/errors';
import { SETTING_KEYS } from '../src/shared/settings';
import type { WireServerMessage } from '../src/shared/wire';
import { contractHandlers, dispatch } from '../src/main/core/handlers';
import { startHttpServer } from '../src/main/core/server/httpServer';
import type { HttpServerHandle } from '../src/main/core/server/httpServer';
import { disposeAll, faultModel, startTestCore } from './harness';
import type { TestCore } from './harness';

let t: TestCore;
let server: HttpServerHandle;

beforeAll(async () => {
  t = await startTestCore({
    configs: {
      'a.yaml': faultModel('a', { options: ['fault_tokens:2', 'parallel:4'] }),
      'e.yaml': faultModel('e', { options: ['fault_tokens:2', 'embedding_dim:4'], extra: 'embeddings: true\ncontext_size: 256' }),
    },
    // hubSearch/hubFiles/addModel get fuzzed too: a Hub that refuses at once on loopback, never the real one.
    settings: { warm_standby: false, hf_endpoint: 'http://127.0.0.1:9' },
  });
  server = await startHttpServer(t.core, { port: 0 });
}, 30_000);

afterAll(async () => {
  await server?.close();
  await disposeAll();
});

/** What a JavaScript mistake looks like when it leaks into an answer. */
const JS_ERROR = /TypeError|ReferenceError|RangeError|is not a function|Cannot read propert|Cannot convert|undefined is not|Maximum call stack|Invalid regular expression/;

// ------------------------------------------------------------------------------------ HTTP

const MODEL = fc.oneof({ weight: 6, arbitrary: fc.constantFrom('a', 'e') }, fc.constantFrom('a', 'e', 'nope', 'a ', 'a\u0000', '', '../etc/passwd', '%', 'a/b'), fc.string({ maxLength: 40 }));
const ANY = fc.oneof(fc.jsonValue({ maxDepth: 3 }), fc.constantFrom(-1, 0, 1.5, 1e308, -1e308, '', 'x'.repeat(5000), [], {}, null, true));
const SMALL_TOKENS = fc.oneof({ weight: 15, arbitrary: fc.integer({ min: 1, max: 4 }) }, ANY.filter((v) => typeof v !== 'number'));

/** Bodies shaped like real requests, with each field sometimes of the wrong type. */
const field = <T>(arb: fc.Arbitrary<T>) => fc.option(fc.oneof({ weight: 15, arbitrary: arb }, { weight: 1, arbitrary: ANY }), { nil: undefined, freq: 2 });
const message = fc.record({
  role: fc.oneof({ weight: 15, arbitrary: fc.constantFrom('user', 'system', 'assistant', 'tool', 'developer') }, ANY),
  content: fc.oneof({ weight: 15, arbitrary: fc.string({ minLength: 1, maxLength: 30 }) }, ANY),
});
const SCHEMA = fc.letrec((tie) => ({
  schema: fc.oneof(
    { depthSize: 'small' },
    fc.record({ type: fc.constantFrom('string', 'integer', 'number', 'boolean', 'null', 'bogus') }),
    fc.record({ type: fc.constant('object'), properties: fc.dictionary(fc.string({ maxLength: 5 }), tie('schema'), { maxKeys: 3 }) }),
    fc.record({ type: fc.constant('array'), items: tie('schema') }),
    fc.record({ $ref: fc.constantFrom('#', '#/$defs/x', 'http://x', '#/properties/a') }),
    fc.record({ anyOf: fc.array(tie('schema'), { maxLength: 3 }) }),
    ANY,
  ),
})).schema;
const chatBody = fc.record(
  {
    model: MODEL,
    messages: fc.oneof({ weight: 10, arbitrary: fc.array(message, { minLength: 1, maxLength: 3 }) }, ANY),
    stream: field(fc.boolean()),
    stream_options: field(fc.record({ include_usage: field(fc.boolean()) })),
    max_tokens: SMALL_TOKENS,
    temperature: field(fc.double({ min: -1, max: 3, noNaN: true })),
    top_p: field(fc.double({ min: -1, max: 2, noNaN: true })),
    presence_penalty: field(fc.double({ min: -3, max: 3, noNaN: true })),
    frequency_penalty: field(fc.double({ min: -3, max: 3, noNaN: true })),
    seed: field(fc.integer()),
    stop: field(fc.oneof(fc.string({ maxLength: 5 }), fc.array(fc.string({ maxLength: 5 }), { maxLength: 3 }))),
    logit_bias: field(fc.dictionary(fc.string({ maxLength: 4 }), fc.integer({ min: -100, max: 100 }))),
    top_logprobs: field(fc.integer({ min: 0, max: 5 })),
    tools: field(fc.array(fc.jsonValue({ maxDepth: 2 }), { maxLength: 2 })),
    response_format: field(fc.oneof(fc.record({ type: fc.constantFrom('text', 'json_object') }), fc.record({ type: fc.constant('json_schema'), json_schema: fc.record({ name: fc.string(), schema: SCHEMA }) }))),
  },
  { requiredKeys: ['max_tokens'] },
);
const completionBody = fc.record(
  { model: MODEL, prompt: fc.oneof({ weight: 10, arbitrary: fc.string({ maxLength: 30 }) }, fc.array(fc.string({ maxLength: 5 }), { maxLength: 2 }), ANY), stream: field(fc.boolean()), echo: field(fc.boolean()), max_tokens: SMALL_TOKENS, suffix: field(fc.string({ maxLength: 3 })), best_of: field(fc.integer({ min: 0, max: 3 })) },
  { requiredKeys: ['max_tokens'] },
);
const embeddingBody = fc.record({ model: MODEL, input: fc.oneof({ weight: 10, arbitrary: fc.string({ maxLength: 30 }) }, fc.array(fc.string({ maxLength: 10 }), { maxLength: 3 }), ANY), encoding_format: field(fc.constantFrom('float', 'base64', 'hex')), dimensions: field(fc.integer()) });
/** Settings that leave the server reachable (the key, the port, the folders and the LAN stay as they are). */
const SAFE_SETTINGS = ['eviction_wait', 'unload_grace', 'close_to_tray'];
const settingsBody = fc.oneof(
  fc.dictionary(fc.constantFrom(...SAFE_SETTINGS), ANY, { maxKeys: 2 }),
  fc.dictionary(fc.constantFrom(...SETTING_KEYS.filter((k) => !SAFE_SETTINGS.includes(k))), ANY.filter((v) => typeof v !== 'string' && typeof v !== 'boolean'), { maxKeys: 2 }),
  fc.dictionary(fc.constantFrom('__proto__', 'toString', 'constructor', 'hasOwnProperty', 'valueOf'), ANY, { maxKeys: 2 }),
  fc.dictionary(fc.string({ maxLength: 10 }), ANY, { maxKeys: 3 }),
);
const text = (arb: fc.Arbitrary<unknown>) => arb.map((v) => JSON.stringify(v));

const BODY = fc.oneof(
  { weight: 4, arbitrary: text(chatBody) },
  { weight: 3, arbitrary: text(completionBody) },
  { weight: 2, arbitrary: text(embeddingBody) },
  text(settingsBody),
  text(fc.jsonValue({ maxDepth: 4 })),
  fc.constantFrom('', '{', '{"model":', 'null', '[]', '"x"', '{"a":1}{', '\u0000', '{"model":"a","messages":[{"role":"user","content":"hi"}],"max_tokens":2}'),
  fc.integer({ min: 257, max: 3000 }).map((n) => '['.repeat(n) + ']'.repeat(n)),
  fc.string({ maxLength: 200 }),
);

const PATHS = fc.oneof(
  { weight: 4, arbitrary: fc.constantFrom('/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/api/settings') },
  fc.constantFrom('/v1/models', '/v1/chat/completions', '/v1/completions', '/v1/embeddings', '/api/state', '/api/settings', '/api/journal', '/api/journal?model=a', '/v1', '/api', '/v1/nothing', '/api/nothing', '/v1/models/a', '/api/models/a'),
  fc.tuple(fc.constantFrom('/v1/models/', '/api/models/'), MODEL, fc.constantFrom('', '/load', '/unload', '/pin', '/plan', '/logs', '/bogus')).map(([a, n, b]) => `${a}${encodeURIComponent(n)}${b}`),
  fc.tuple(fc.constantFrom('/api/models/', '/v1/models/'), fc.constantFrom('%', '%E0%A4%A', '%00', '%20a', 'a%2F..%2F..')).map(([a, b]) => a + b),
);

/** Mostly a well-behaved client (so requests reach the routes), sometimes a hostile one. */
const METHOD = fc.oneof({ weight: 5, arbitrary: fc.constant('POST') }, { weight: 3, arbitrary: fc.constant('GET') }, fc.constantFrom('PUT', 'HEAD', 'DELETE', 'OPTIONS', 'PATCH'));
const HOSTILE_HEADERS = fc.record(
  {
    'content-type': fc.constantFrom('application/json', 'text/plain', 'application/x-www-form-urlencoded', 'multipart/form-data; boundary=x', ''),
    origin: fc.constantFrom('http://evil.example', 'null', 'http://127.0.0.1:1', ''),
    authorization: fc.constantFrom('Bearer x', 'Basic Zm9vOmJhcg==', 'Bearer', ''),
    host: fc.constantFrom('127.0.0.1', 'localhost', 'evil.example', '[::1]', ''),
    upgrade: fc.constantFrom('h2c', 'websocket', 'foo'),
    connection: fc.constantFrom('keep-alive', 'close', 'Upgrade'),
    accept: fc.constantFrom('text/event-stream', '*/*'),
    'x-forwarded-for': fc.constantFrom('1.2.3.4'),
  },
  { requiredKeys: [] },
);
/** A route with a body made for it (to get deep into it), or anything at all. */
const REQUEST = fc.oneof(
  { weight: 4, arbitrary: fc.tuple(fc.constant('POST'), fc.constant('/v1/chat/completions'), text(chatBody)) },
  { weight: 3, arbitrary: fc.tuple(fc.constant('POST'), fc.constant('/v1/completions'), text(completionBody)) },
  { weight: 2, arbitrary: fc.tuple(fc.constant('POST'), fc.constant('/v1/embeddings'), text(embeddingBody)) },
  { weight: 1, arbitrary: fc.tuple(fc.constant('PUT'), fc.constant('/api/settings'), text(settingsBody)) },
  { weight: 4, arbitrary: fc.tuple(METHOD, PATHS, BODY) },
);
const HEADERS = fc.oneof({ weight: 3, arbitrary: fc.constant({ 'content-type': 'application/json' }) }, HOSTILE_HEADERS);

interface Reply {
  status: number;
  body: string;
}

function send(method: string, path: string, headers: OutgoingHttpHeaders, body: string): Promise<Reply | 'refused-by-client'> {
  return new Promise((resolve, reject) => {
    let req;
    try {
      const h: OutgoingHttpHeaders = { ...headers };
      for (const [k, v] of Object.entries(h)) if (v === '') delete h[k];
      if (!h.host) h.host = `127.0.0.1:${server.port}`;
      req = request({ host: '127.0.0.1', port: server.port, method, path, headers: h, agent: false, timeout: 10_000 }, (res) => {
        let text = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => (text += d));
        res.on('end', () => resolve({ status: res.statusCode ?? 0, body: text }));
        res.on('error', () => resolve({ status: res.statusCode ?? 0, body: text }));
      });
    } catch {
      resolve('refused-by-client'); // a header node itself will not send
      return;
    }
    req.on('timeout', () => req.destroy(new Error(`no answer in 10 s: ${method} ${path}`)));
    req.on('error', (e) => reject(e));
    // A WebSocket upgrade that is accepted ends the HTTP exchange: nothing more to check here.
    req.on('upgrade', (res, socket) => {
      socket.destroy();
      resolve({ status: res.statusCode ?? 101, body: '' });
    });
    if (method === 'GET' || method === 'HEAD') req.end();
    else req.end(body);
  });
}

describe('fuzz: the HTTP API', () => {
  it('any route, method, headers and body: never a 5xx for client input, never a JavaScript error, the server keeps answering', async () => {
    await fc.assert(
      fc.asyncProperty(REQUEST, HEADERS, async ([method, path, body], headers) => {
        const reply = await send(method, path, headers, body);
        if (reply === 'refused-by-client') return;
        expect(reply.status, `${method} ${path} ${body.slice(0, 300)} -> ${reply.body.slice(0, 300)}`).toBeLessThan(500);
        expect(reply.body).not.toMatch(JS_ERROR);
      }),
      { numRuns: 400 },
    );
    const alive = await fetch(`http://127.0.0.1:${server.port}/v1/models`);
    expect(alive.status).toBe(200);
  }, 60_000);
});

// ------------------------------------------------------------------------------- commands

const ARG = fc.oneof(fc.anything({ maxDepth: 2 }), fc.constantFrom('a', 'e', 'nope', 'a ', '', 'x'.repeat(40_000)), fc.constant(undefined));

function expectOutcome(name: string, args: unknown, outcome: Outcome<unknown>): void {
  const where = `${name}(${String(JSON.stringify(args))?.slice(0, 200)})`;
  expect(typeof outcome.ok, where).toBe('boolean');
  if (!outcome.ok) {
    expect(Object.keys(ERROR_STATUS), where).toContain(outcome.error.code);
    expect(typeof outcome.error.message, where).toBe('string');
    expect(outcome.error.message, where).not.toMatch(JS_ERROR);
  }
}

describe('fuzz: the contract commands', () => {
  it('every command with arguments of any type (as IPC delivers them) answers an Outcome, never a JavaScript error', async () => {
    const handlers = contractHandlers(t.core);
    await fc.assert(
      fc.asyncProperty(fc.constantFrom(...COMMAND_NAMES), fc.oneof(fc.array(ARG, { maxLength: 4 }), ARG), async (name, args) => {
        expectOutcome(name, args, await dispatch(handlers, name, args));
      }),
      { numRuns: 600 },
    );
  }, 60_000);

  it('the same over the page\'s WebSocket: JSON arguments of any shape, and frames that are not calls', async () => {
    const ws = new WebSocket(`ws://127.0.0.1:${server.port}/ws?token=${server.token}`, { origin: `http://127.0.0.1:${server.port}` });
    await new Promise((resolve, reject) => ws.once('open', resolve).once('error', reject));
    const waiting = new Map<number, (o: Outcome<unknown>) => void>();
    const orphans: Outcome<unknown>[] = [];
    ws.on('message', (data) => {
      const msg = JSON.parse(data.toString()) as WireServerMessage;
      if ('event' in msg) return;
      if (msg.id === null) orphans.push(msg.outcome);
      else waiting.get(msg.id)?.(msg.outcome);
    });
    let id = 0;
    await fc.assert(
      fc.asyncProperty(fc.oneof(fc.constantFrom(...COMMAND_NAMES), fc.string({ maxLength: 12 })), fc.oneof(fc.array(fc.jsonValue({ maxDepth: 3 }), { maxLength: 4 }), fc.jsonValue({ maxDepth: 2 })), async (name, args) => {
        const callId = ++id;
        const outcome = await new Promise<Outcome<unknown>>((resolve) => {
          waiting.set(callId, resolve);
          ws.send(JSON.stringify({ id: callId, name, args }));
        });
        waiting.delete(callId);
        expectOutcome(name, args, outcome);
      }),
      { numRuns: 300 },
    );
    for (const frame of ['', '{', '[]', 'null', '{"id":"x"}', '{"id":1}', '{"id":1,"name":5}', JSON.stringify({ id: 2 ** 60, name: 'snapshot', args: [] })]) ws.send(frame);
    ws.send(Buffer.from([1, 2, 3]), { binary: true });
    const pong = await new Promise<Outcome<unknown>>((resolve) => {
      waiting.set(999_999, resolve);
      ws.send(JSON.stringify({ id: 999_999, name: 'snapshot', args: [] }));
    });
    expect(pong.ok).toBe(true);
    for (const o of orphans) expectOutcome('frame', null, o);
    ws.close();
  }, 60_000);
});
