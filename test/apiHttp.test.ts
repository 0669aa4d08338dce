/**
 * HTTP details a real client hits (Trust 16), over raw sockets: HEAD on GET routes, Upgrade
 * headers that are not WebSockets (curl --http2), and a client that half-closes after its body.
 */
import { connect } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../src/main/core/server/httpServer';
import type { HttpServerHandle } from '../src/main/core/server/httpServer';
import { disposeAll, faultModel, startTestCore, waitUntil } from './harness';

const servers: HttpServerHandle[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
});

async function start() {
  const t = await startTestCore({ configs: { 'a.yaml': faultModel('a', { options: ['fault_tokens:3'] }) } });
  const server = await startHttpServer(t.core, { port: 0 });
  servers.push(server);
  return { t, server, port: server.port };
}

/** Sends `text` on a fresh connection; `halfClose` ends our side right after. Resolves with everything the server sent. */
function exchange(port: number, text: string, o: { halfClose?: boolean } = {}): Promise<string> {
  return new Promise((resolve, reject) => {
    const socket = connect(port, '127.0.0.1', () => {
      socket.write(text);
      if (o.halfClose) socket.end();
    });
    let out = '';
    socket.setEncoding('utf8');
    socket.on('data', (d: string) => (out += d));
    socket.on('error', reject);
    socket.on('close', () => resolve(out));
    // A keep-alive answer leaves the socket open: end once the reply is complete.
    socket.setTimeout(3000, () => socket.destroy());
  });
}

const finalStatus = (reply: string) => Number(/HTTP\/1\.1 ([2-5]\d\d)/.exec(reply)?.[1]);
const bodyOf = (reply: string) => reply.slice(reply.lastIndexOf('\r\n\r\n') + 4);

describe('HTTP details', () => {
  it('HEAD on a GET route answers as GET, without the body', async () => {
    const { port } = await start();
    const res = await fetch(`http://127.0.0.1:${port}/v1/models`, { method: 'HEAD' });
    expect(res.status).toBe(200);
    expect(res.headers.get('content-type')).toContain('application/json');
    expect(Number(res.headers.get('content-length'))).toBeGreaterThan(10);
    expect(await res.text()).toBe('');
    expect((await fetch(`http://127.0.0.1:${port}/api/state`, { method: 'HEAD' })).status).toBe(200);
    const wrong = await fetch(`http://127.0.0.1:${port}/v1/chat/completions`, { method: 'HEAD' });
    expect(wrong.status).toBe(405);
    expect(wrong.headers.get('allow')).toBe('POST');
  });

  it('an Upgrade that is not a WebSocket (curl --http2 asks for h2c) gets the plain answer, GET and POST', async () => {
    const { port } = await start();
    const h2c = 'Connection: Upgrade, HTTP2-Settings\r\nUpgrade: h2c\r\nHTTP2-Settings: AAMAAABkAARAAAAAAAIAAAAA\r\n';
    const get = await exchange(port, `GET /v1/models HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n${h2c}\r\n`);
    expect(finalStatus(get)).toBe(200);
    expect(get).toContain('"object":"list"');
    const body = JSON.stringify({ model: 'a', prompt: 'p' });
    const post = await exchange(port, `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n${h2c}\r\n${body}`);
    expect(finalStatus(post)).toBe(200);
    expect(JSON.parse(bodyOf(post)).choices[0].text).toBe('tok0 tok1 tok2');
    // A foreign Host is still refused on this path.
    expect(finalStatus(await exchange(port, `GET /v1/models HTTP/1.1\r\nHost: evil.example\r\n${h2c}\r\n`))).toBe(403);
  });

  it('a client that half-closes after its body still gets its answer (interim 102s while it waits)', async () => {
    const { port } = await start();
    const body = JSON.stringify({ model: 'a', prompt: 'p' });
    const reply = await exchange(port, `POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\nContent-Type: application/json\r\nContent-Length: ${Buffer.byteLength(body)}\r\n\r\n${body}`, { halfClose: true });
    expect(finalStatus(reply)).toBe(200);
    expect(JSON.parse(bodyOf(reply)).choices[0].text).toBe('tok0 tok1 tok2');
    const get = await exchange(port, `GET /api/state HTTP/1.1\r\nHost: 127.0.0.1:${port}\r\n\r\n`, { halfClose: true });
    expect(finalStatus(get)).toBe(200);
  });

  it('R3 still holds: a client that closes (not half-closes) while waiting for a non-streamed answer cancels it', async () => {
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:20', 'fault_tokens:1000'] }) } });
    const server = await startHttpServer(t.core, { port: 0, ui: false });
    servers.push(server);
    const body = JSON.stringify({ model: 'a', prompt: 'p' });
    const socket = connect(server.port, '127.0.0.1', () => socket.write(`POST /v1/completions HTTP/1.1\r\nHost: 127.0.0.1\r\nContent-Type: application/json\r\nContent-Length: ${body.length}\r\n\r\n${body}`));
    socket.on('error', () => {});
    await waitUntil(() => t.row('a').inFlight === 1, 'the generation to start');
    socket.destroy();
    const line = await waitUntil(() => t.core.commands.logs('a').find((l) => /generation cancelled by the client after \d+ tokens/.test(l.text)), 'the backend to see the cancel');
    expect(Number(/after (\d+) tokens/.exec(line.text)![1])).toBeLessThan(100);
  });
});
