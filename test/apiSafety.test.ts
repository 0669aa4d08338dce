/**
 * The local API at the HTTP level (raw node:http, no client library smoothing things over): SSE
 * framing, a disconnect cancelling generation (R3), oversized and malformed bodies, and the
 * safety rules of issue "Local API" point 5 - foreign Origin, foreign Host, API key, LAN.
 */
import { request } from 'node:http';
import type { IncomingHttpHeaders, OutgoingHttpHeaders } from 'node:http';
import os from 'node:os';
import OpenAI, { APIError } from 'openai';
import { afterEach, describe, expect, it } from 'vitest';
import { followLanSetting } from '../src/main/cli';
import { startHttpServer } from '../src/main/core/server/httpServer';
import type { HttpServerHandle } from '../src/main/core/server/httpServer';
import { disposeAll, faultModel, startTestCore, waitUntil } from './harness';
import type { TestCore, TestCoreOptions } from './harness';

const servers: HttpServerHandle[] = [];

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
});

async function startApi(o: TestCoreOptions = {}, host?: string) {
  const t = await startTestCore(o);
  const server = await startHttpServer(t.core, { port: 0, ui: false, host });
  servers.push(server);
  return { t, server, port: server.port, origin: `http://127.0.0.1:${server.port}` };
}

interface RawReply {
  status: number;
  headers: IncomingHttpHeaders;
  body: string;
}

/** One HTTP request with exactly the headers given (Host included, when set). */
function raw(port: number, o: { method?: string; path: string; headers?: OutgoingHttpHeaders; body?: string | Buffer; chunked?: Buffer[]; address?: string }): Promise<RawReply> {
  return new Promise((resolve, reject) => {
    const req = request({ host: o.address ?? '127.0.0.1', port, method: o.method ?? 'GET', path: o.path, headers: o.headers }, (res) => {
      let body = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (body += d));
      res.on('end', () => resolve({ status: res.statusCode!, headers: res.headers, body }));
    });
    req.on('error', reject);
    if (o.chunked) {
      for (const c of o.chunked) req.write(c);
      req.end();
    } else req.end(o.body);
  });
}

const chatBody = (model: string, extra: Record<string, unknown> = {}) => JSON.stringify({ model, messages: [{ role: 'user', content: 'hi' }], ...extra });
const jsonHeaders = { 'content-type': 'application/json' };

/** Waits for the backend of `model` to log that the client cancelled, and returns after how many tokens. */
async function cancelledAfter(t: TestCore, model: string): Promise<number> {
  const line = await waitUntil(() => t.core.commands.logs(model).find((l) => /generation cancelled by the client after \d+ tokens/.test(l.text)), 'the backend to see the cancel');
  return Number(/after (\d+) tokens/.exec(line.text)![1]);
}

describe('SSE and disconnects', () => {
  it('SSE framing: data lines separated by blank lines, chunks as they come, [DONE] last', async () => {
    const { port } = await startApi({ configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:40', 'fault_tokens:8'] }) } });
    const arrivals: { at: number; text: string }[] = [];
    const started = Date.now();
    const done = await new Promise<IncomingHttpHeaders>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers: jsonHeaders }, (res) => {
        res.setEncoding('utf8');
        res.on('data', (d: string) => arrivals.push({ at: Date.now() - started, text: d }));
        res.on('end', () => resolve(res.headers));
      });
      req.on('error', reject);
      req.end(chatBody('a', { stream: true, stream_options: { include_usage: true } }));
    });
    expect(done['content-type']).toBe('text/event-stream; charset=utf-8');
    expect(done['cache-control']).toBe('no-cache');
    const body = arrivals.map((a) => a.text).join('');
    expect(body.endsWith('data: [DONE]\n\n')).toBe(true);
    const events = body.split('\n\n').slice(0, -1);
    expect(events.every((e) => e.startsWith('data: ') && !e.slice(6).includes('\n'))).toBe(true);
    const payloads = events.slice(0, -1).map((e) => JSON.parse(e.slice(6)));
    expect(payloads.every((p) => p.object === 'chat.completion.chunk')).toBe(true);
    expect(payloads.map((p) => p.choices[0]?.delta?.content ?? '').join('')).toBe('tok0 tok1 tok2 tok3 tok4 tok5 tok6 tok7');
    expect(payloads[payloads.length - 1]).toMatchObject({ choices: [], usage: { completion_tokens: 8 } });
    // Streamed, not buffered: the first token arrived well before the last (8 x 40 ms apart).
    const firstToken = arrivals.find((a) => a.text.includes('tok0'))!;
    expect(arrivals[arrivals.length - 1].at - firstToken.at).toBeGreaterThan(150);
  });

  it('R3: a client that disconnects mid-stream cancels its generation in the backend', async () => {
    const { port, t } = await startApi({ configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:20', 'fault_tokens:1000'] }) } });
    await new Promise<void>((resolve, reject) => {
      const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/completions', headers: jsonHeaders }, (res) => {
        let seen = '';
        res.setEncoding('utf8');
        res.on('data', (d: string) => {
          seen += d;
          if (seen.includes('tok5')) {
            req.destroy();
            resolve();
          }
        });
      });
      req.on('error', () => {});
      req.on('close', () => resolve());
      req.end(JSON.stringify({ model: 'a', prompt: 'p', stream: true }));
      setTimeout(() => reject(new Error('no tok5 within 5 s')), 5000).unref();
    });
    expect(await cancelledAfter(t, 'a')).toBeLessThan(20);
    await waitUntil(() => t.row('a').state === 'ready' && t.row('a').inFlight === 0, 'the model to be idle again');
    const entry = await waitUntil(() => t.core.commands.requestLog().find((e) => e.path === '/v1/completions'), 'the request log entry');
    expect(entry).toMatchObject({ status: 200, model: 'a', error: expect.stringContaining('disconnected') });
    expect(entry.tokens).toBeGreaterThanOrEqual(6);
  });

  it('R3: a client that disconnects while waiting for a non-streamed answer cancels it too', async () => {
    const { port, t } = await startApi({ configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:20', 'fault_tokens:1000'] }) } });
    const req = request({ host: '127.0.0.1', port, method: 'POST', path: '/v1/chat/completions', headers: jsonHeaders });
    req.on('error', () => {});
    req.end(chatBody('a'));
    await waitUntil(() => t.row('a').inFlight === 1, 'the generation to start');
    req.destroy();
    expect(await cancelledAfter(t, 'a')).toBeLessThan(100);
    await waitUntil(() => t.row('a').inFlight === 0, 'the slot to be released');
  });
});

describe('bodies', () => {
  it('oversized bodies get 413 too_large, by Content-Length and while streaming in (api_body_limit)', async () => {
    const { port, t } = await startApi({ configs: { 'a.yaml': faultModel('a') } });
    const big = Buffer.alloc(2 * 1024 * 1024, 'a');
    const declared = await raw(port, { method: 'POST', path: '/v1/chat/completions', headers: { ...jsonHeaders, 'content-length': big.length }, body: big });
    expect(declared.status).toBe(413);
    expect(JSON.parse(declared.body).error).toMatchObject({ code: 'too_large', message: expect.stringContaining('api_body_limit') });

    await t.core.commands.updateSettings({ api_body_limit: 1000 });
    const chunks = Array.from({ length: 8 }, () => Buffer.alloc(400, 'b'));
    const streamed = await raw(port, { method: 'PUT', path: '/api/settings', headers: { ...jsonHeaders, 'transfer-encoding': 'chunked' }, chunked: chunks });
    expect(streamed.status).toBe(413);
    expect(JSON.parse(streamed.body)).toMatchObject({ error: { code: 'too_large' } });
    const fits = await raw(port, { method: 'POST', path: '/v1/completions', headers: jsonHeaders, body: JSON.stringify({ model: 'a', prompt: 'x'.repeat(800), max_tokens: 1 }) });
    expect(fits.status).toBe(200);
  });

  it('malformed JSON is 400; so are a non-object body and fields of the wrong type', async () => {
    const { port } = await startApi({ configs: { 'a.yaml': faultModel('a') } });
    const post = (path: string, body: string) => raw(port, { method: 'POST', path, headers: jsonHeaders, body });
    const broken = await post('/v1/chat/completions', '{"model": "a", "messages": [');
    expect(broken.status).toBe(400);
    expect(JSON.parse(broken.body).error).toMatchObject({ code: 'invalid', type: 'invalid_request_error', message: expect.stringContaining('not valid JSON') });
    expect((await post('/v1/completions', '[1, 2]')).status).toBe(400);
    expect((await post('/v1/completions', '')).status).toBe(400);
    const typed = await post('/v1/completions', JSON.stringify({ model: 'a', prompt: 'p', max_tokens: 'ten' }));
    expect(typed.status).toBe(400);
    expect(JSON.parse(typed.body).error.param).toBe('max_tokens');
    const api = await post('/api/models/a/pin', '{pinned: true}');
    expect(api.status).toBe(400);
    expect(JSON.parse(api.body)).toEqual({ error: { code: 'invalid', message: expect.stringContaining('not valid JSON') } });
  });
});

describe('safety: Origin, Host, API key, LAN', () => {
  it('a cross-origin request is refused (403) and runs nothing; our own page and the allow-list get CORS', async () => {
    const { port, t, origin } = await startApi({ configs: { 'a.yaml': faultModel('a') } });
    const evil = await raw(port, { method: 'POST', path: '/v1/chat/completions', headers: { ...jsonHeaders, origin: 'https://evil.example' }, body: chatBody('a') });
    expect(evil.status).toBe(403);
    expect(JSON.parse(evil.body).error).toMatchObject({ code: 'forbidden', type: 'permission_error' });
    expect(evil.headers['access-control-allow-origin']).toBeUndefined();
    const evilApi = await raw(port, { method: 'POST', path: '/api/models/a/load', headers: { origin: 'https://evil.example' } });
    expect(evilApi.status).toBe(403);
    // A no-cors browser GET (an <img> or <script>) carries no Origin, but says it is cross-site.
    expect((await raw(port, { path: '/api/state', headers: { 'sec-fetch-site': 'cross-site' } })).status).toBe(403);
    expect(t.row('a')).toMatchObject({ state: 'unloaded', lastUsed: null });

    const preflightEvil = await raw(port, { method: 'OPTIONS', path: '/v1/chat/completions', headers: { origin: 'https://evil.example', 'access-control-request-method': 'POST' } });
    expect(preflightEvil.status).toBe(403);

    const own = await raw(port, { method: 'POST', path: '/v1/chat/completions', headers: { ...jsonHeaders, origin }, body: chatBody('a', { max_tokens: 1 }) });
    expect(own.status).toBe(200);
    expect(own.headers['access-control-allow-origin']).toBe(origin);

    await t.core.commands.updateSettings({ api_allowed_origins: ['http://localhost:3000'] });
    const preflight = await raw(port, {
      method: 'OPTIONS',
      path: '/v1/chat/completions',
      headers: { origin: 'http://localhost:3000', 'access-control-request-method': 'POST', 'access-control-request-headers': 'authorization, content-type' },
    });
    expect(preflight.status).toBe(204);
    expect(preflight.headers).toMatchObject({ 'access-control-allow-origin': 'http://localhost:3000', 'access-control-allow-headers': 'authorization, content-type' });
    const listed = await raw(port, { path: '/v1/models', headers: { origin: 'http://localhost:3000' } });
    expect(listed.status).toBe(200);
  });

  it('a foreign Host is refused (DNS rebinding); with api_lan on it needs the API key', async () => {
    const { port, t } = await startApi({ configs: { 'a.yaml': faultModel('a') } });
    const foreign = { host: `rebind.example:${port}` };
    expect((await raw(port, { path: '/v1/models', headers: foreign })).status).toBe(403);
    expect((await raw(port, { path: '/api/state', headers: foreign })).status).toBe(403);

    await t.core.commands.updateSettings({ api_lan: true });
    const noKey = await raw(port, { path: '/v1/models', headers: foreign });
    expect(noKey.status).toBe(401);
    expect(JSON.parse(noKey.body).error.message).toContain('api_key');
    await t.core.commands.updateSettings({ api_key: 'sk-lan' });
    expect((await raw(port, { path: '/v1/models', headers: foreign })).status).toBe(401);
    expect((await raw(port, { path: '/v1/models', headers: { ...foreign, authorization: 'Bearer sk-lan' } })).status).toBe(200);
    // The page and its WebSocket stay loopback-only whatever the API allows.
    expect((await raw(port, { path: '/', headers: { ...foreign, authorization: 'Bearer sk-lan' } })).status).toBe(403);
  });

  it('an API key once set is needed from loopback too; the openai package works with it and fails without', async () => {
    const { port, t, origin } = await startApi({ configs: { 'a.yaml': faultModel('a') }, settings: { api_key: 'sk-test' } });
    const none = await raw(port, { path: '/v1/models' });
    expect(none.status).toBe(401);
    expect(none.headers['www-authenticate']).toContain('Bearer');
    expect(JSON.parse(none.body).error).toMatchObject({ code: 'unauthorized', type: 'authentication_error' });
    expect((await raw(port, { path: '/api/state' })).status).toBe(401);
    expect((await raw(port, { path: '/api/state', headers: { authorization: 'Bearer sk-test' } })).status).toBe(200);

    const good = new OpenAI({ apiKey: 'sk-test', baseURL: `${origin}/v1`, maxRetries: 0 });
    expect((await good.chat.completions.create({ model: 'a', messages: [{ role: 'user', content: 'x' }], max_tokens: 2 })).choices[0].message.content).toBe('tok0 tok1');
    const wrong = new OpenAI({ apiKey: 'sk-nope', baseURL: `${origin}/v1`, maxRetries: 0 });
    const err = await wrong.models.list().catch((e: unknown) => e);
    expect(err).toBeInstanceOf(APIError);
    expect(err).toMatchObject({ status: 401, code: 'unauthorized' });
    const refused = t.core.commands.requestLog().filter((e) => e.status === 401);
    expect(refused.length).toBe(3);
  });

  const lanAddress = Object.values(os.networkInterfaces())
    .flat()
    .find((i) => i && i.family === 'IPv4' && !i.internal)?.address;

  // Needs a non-loopback IPv4 interface on this machine to be a real LAN client.
  it.skipIf(!lanAddress)(`LAN: a client on a non-loopback address (${lanAddress ?? 'none here'}) is refused without api_lan, and needs the key with it`, async () => {
    const { port, t } = await startApi({ configs: { 'a.yaml': faultModel('a') } }, '0.0.0.0');
    const get = (headers: OutgoingHttpHeaders = {}) => raw(port, { address: lanAddress, path: '/v1/models', headers });
    expect((await get()).status).toBe(403);
    await t.core.commands.updateSettings({ api_lan: true });
    const noKey = await get();
    expect(noKey.status).toBe(401);
    expect(JSON.parse(noKey.body).error.message).toContain('needs an API key');
    await t.core.commands.updateSettings({ api_key: 'sk-lan' });
    expect((await get({ authorization: 'Bearer wrong' })).status).toBe(401);
    const ok = await get({ authorization: 'Bearer sk-lan' });
    expect(ok.status).toBe(200);
    const entry = t.core.commands.requestLog().at(-1)!;
    expect(entry.client.startsWith(lanAddress!)).toBe(true);
  });

  it.skipIf(!lanAddress)('api_lan applies at once in headless mode: the server moves to all interfaces and back, a running stream goes on', async () => {
    const { port, server, t } = await startApi({ configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:20', 'fault_tokens:40'] }) } });
    const said: string[] = [];
    const stop = followLanSetting(t.core, server, (line) => said.push(line));
    const lanGet = () => raw(port, { address: lanAddress, path: '/v1/models', headers: { authorization: 'Bearer sk-lan' } });
    await expect(lanGet()).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    // A stream that runs across both moves.
    const streamed = raw(port, { method: 'POST', path: '/v1/chat/completions', headers: jsonHeaders, body: chatBody('a', { stream: true }) });
    await waitUntil(() => t.row('a').inFlight === 1, 'the stream to start');

    // On without a key: still loopback only, and the status says why.
    await t.core.commands.updateSettings({ api_lan: true });
    await waitUntil(() => t.core.commands.serverStatus().error, 'the status to warn');
    expect(t.core.commands.serverStatus()).toMatchObject({ host: '127.0.0.1', error: expect.stringContaining('no api_key') });
    await expect(lanGet()).rejects.toMatchObject({ code: 'ECONNREFUSED' });

    await t.core.commands.updateSettings({ api_key: 'sk-lan' });
    await waitUntil(() => t.core.commands.serverStatus().host === '0.0.0.0', 'the server to move to all interfaces');
    expect(server.host).toBe('0.0.0.0');
    expect(t.core.commands.serverStatus()).toMatchObject({ listening: true, port, error: null, apiKeySet: true });
    expect((await lanGet()).status).toBe(200);
    expect(said.at(-1)).toMatch(/all interfaces/);

    await t.core.commands.updateSettings({ api_lan: false });
    await waitUntil(() => t.core.commands.serverStatus().host === '127.0.0.1', 'the server to move back to loopback');
    await expect(lanGet()).rejects.toMatchObject({ code: 'ECONNREFUSED' });
    expect((await raw(port, { path: '/v1/models', headers: { authorization: 'Bearer sk-lan' } })).status).toBe(200);

    const done = await streamed;
    expect(done.status).toBe(200);
    expect(done.body.trimEnd().endsWith('data: [DONE]')).toBe(true);
    expect(done.body).toContain('tok39');
    stop();
  });
});
