/**
 * rawGet, the GET that carries a range's bytes into the `.part` file (G9-G13), against real
 * loopback servers: plain sockets where a test needs exact bytes on the wire, node:https for TLS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import http from 'node:http';
import https from 'node:https';
import net from 'node:net';
import { randomBytes } from 'node:crypto';
import { rawGet, type BodyWrite, type RawGetOptions } from '../src/main/core/downloads/rawGet';
import { makeGatewayCert } from '../src/main/core/cluster/tls';

const closers: Array<() => void> = [];
afterEach(() => {
  for (const close of closers.splice(0)) close();
});

/** A TCP server that answers each connection with `respond` (raw bytes, in pieces if it likes). */
async function rawServer(respond: (socket: net.Socket, request: string) => void): Promise<string> {
  const server = net.createServer((socket) => {
    let request = '';
    socket.on('data', (d) => {
      request += d.toString('latin1');
      if (request.includes('\r\n\r\n')) respond(socket, request);
    });
    socket.on('error', () => {});
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  closers.push(() => server.close());
  return `http://127.0.0.1:${(server.address() as net.AddressInfo).port}/file.gguf?sig=1`;
}

/** Writes `pieces` one per event-loop turn, so the client sees them in separate reads. */
function sendInPieces(socket: net.Socket, pieces: Buffer[], end = true): void {
  const next = () => {
    const piece = pieces.shift();
    if (!piece) return void (end && socket.end());
    socket.write(piece, () => setTimeout(next, 1));
  };
  next();
}

function opts(o: Partial<RawGetOptions> = {}): RawGetOptions {
  return { signal: new AbortController().signal, onBytes: () => {}, maxWriteBytes: 4 * 1024 * 1024, ...o };
}

/** A writer that keeps what it gets; `delayMs` makes it slower than the network. */
function collector(delayMs = 0): { write: BodyWrite; received: () => Buffer; calls: number[] } {
  const parts: Buffer[] = [];
  const calls: number[] = [];
  const write: BodyWrite = async (chunks, bytes) => {
    calls.push(bytes);
    expect(chunks.reduce((n, c) => n + c.length, 0)).toBe(bytes);
    if (delayMs) await new Promise((r) => setTimeout(r, delayMs));
    for (const c of chunks) parts.push(Buffer.from(c)); // the slabs are reused once this returns
  };
  return { write, received: () => Buffer.concat(parts), calls };
}

describe('rawGet', () => {
  it('sends one GET with the path, query and headers, and hands over a Content-Length body exactly', async () => {
    const body = randomBytes(300_000);
    let seen = '';
    const url = await rawServer((socket, request) => {
      seen = request;
      socket.write(`HTTP/1.1 206 Partial Content\r\nContent-Length: ${body.length}\r\nContent-Range: bytes 0-${body.length - 1}/900000\r\nX-Twice: a\r\nX-Twice: b\r\n\r\n`);
      sendInPieces(socket, [body.subarray(0, 7), body.subarray(7, 100_000), body.subarray(100_000), Buffer.from('trailing junk')]);
    });
    const res = await rawGet(url, { range: 'bytes=0-299999', authorization: 'Bearer t' }, opts());
    expect(res.statusCode).toBe(206);
    expect(res.headers['content-range']).toBe('bytes 0-299999/900000');
    expect(res.headers['x-twice']).toBe('a, b');
    const sink = collector();
    await res.pipe(sink.write);
    expect(sink.received().equals(body)).toBe(true);
    expect(seen).toMatch(/^GET \/file\.gguf\?sig=1 HTTP\/1\.1\r\n/);
    expect(seen).toMatch(/\r\nrange: bytes=0-299999\r\n/);
    expect(seen).toMatch(/\r\nconnection: close\r\n/);
  });

  it('pauses the socket while the writer is behind and loses nothing (8 MiB through a slow writer)', async () => {
    const body = randomBytes(8 * 1024 * 1024 + 12_345);
    const url = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n`);
      socket.end(body);
    });
    const res = await rawGet(url, {}, opts({ maxWriteBytes: 256 * 1024 }));
    const sink = collector(5);
    await res.pipe(sink.write);
    expect(sink.received().equals(body)).toBe(true);
    expect(Math.max(...sink.calls)).toBeLessThanOrEqual(256 * 1024);
  });

  it('decodes a chunked body whose size lines and data are split across reads', async () => {
    const data = randomBytes(70_000);
    const url = await rawServer((socket) => {
      const wire = Buffer.concat([
        Buffer.from('HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n'),
        Buffer.from('1;ext=1\r\n'),
        data.subarray(0, 1),
        Buffer.from(`\r\n${(data.length - 1).toString(16)}\r\n`),
        data.subarray(1),
        Buffer.from('\r\n0\r\nX-Trailer: y\r\n\r\n'),
      ]);
      // Cut the wire every 5 bytes at first, so every line is split somewhere.
      const pieces: Buffer[] = [];
      for (let at = 0; at < wire.length; at += at < 200 ? 5 : 20_000) pieces.push(wire.subarray(at, at + (at < 200 ? 5 : 20_000)));
      sendInPieces(socket, pieces, false); // keep-alive style: the body ends at the last chunk, not at close
    });
    const res = await rawGet(url, {}, opts());
    const sink = collector();
    await res.pipe(sink.write);
    expect(sink.received().equals(data)).toBe(true);
  });

  it('reads a body with neither length nor chunks up to the connection end, and skips a 100 Continue', async () => {
    const data = randomBytes(50_000);
    const url = await rawServer((socket) => {
      socket.write('HTTP/1.1 100 Continue\r\n\r\nHTTP/1.1 200 OK\r\nContent-Type: application/octet-stream\r\n\r\n');
      sendInPieces(socket, [data.subarray(0, 20_000), data.subarray(20_000)]);
    });
    const res = await rawGet(url, {}, opts());
    expect(res.statusCode).toBe(200);
    const sink = collector();
    await res.pipe(sink.write);
    expect(sink.received().equals(data)).toBe(true);
  });

  it('a connection dropped part-way fails the body after writing what arrived', async () => {
    const data = randomBytes(40_000);
    const url = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n`);
      socket.write(data, () => setTimeout(() => socket.destroy(), 20));
    });
    const res = await rawGet(url, {}, opts());
    const sink = collector();
    await expect(res.pipe(sink.write)).rejects.toThrow(/ended before the whole body/);
    expect(sink.received().equals(data)).toBe(true);
  });

  it('an abort ends the body with its reason, after writing what arrived; a writer can end it early', async () => {
    const url = await rawServer((socket) => {
      socket.write(`HTTP/1.1 200 OK\r\nContent-Length: 100000\r\n\r\n`);
      socket.write(Buffer.alloc(1000, 7)); // then stalls
    });
    const ctrl = new AbortController();
    const res = await rawGet(url, {}, opts({ signal: ctrl.signal }));
    const sink = collector();
    const piped = res.pipe(async (parts, n) => {
      await sink.write(parts, n);
      ctrl.abort(new Error('paused by the user'));
    });
    await expect(piped).rejects.toThrow('paused by the user');
    expect(sink.received().length).toBe(1000);

    const res2 = await rawGet(url, {}, opts());
    let calls = 0;
    await res2.pipe(async () => (calls++, false));
    expect(calls).toBe(1);
  });

  it('refuses a header value with a line break, a non-HTTP answer and an endless head', async () => {
    await expect(rawGet('http://127.0.0.1:1/x', { authorization: 'Bearer a\r\nX-Evil: 1' }, opts())).rejects.toThrow(/line break/);
    const notHttp = await rawServer((socket) => socket.end('SSH-2.0-OpenSSH\r\n\r\n'));
    await expect(rawGet(notHttp, {}, opts())).rejects.toThrow(/did not answer in HTTP/);
    const endless = await rawServer((socket) => {
      socket.write('HTTP/1.1 200 OK\r\n');
      const filler = `X-Filler: ${'a'.repeat(1000)}\r\n`;
      for (let i = 0; i < 80; i++) socket.write(filler);
    });
    await expect(rawGet(endless, {}, opts())).rejects.toThrow(/head is over 64 KiB/);
    const refused = await rawServer((socket) => socket.destroy());
    await expect(rawGet(refused, {}, opts())).rejects.toThrow(/without an answer|ECONNRESET/);
  });

  it('speaks TLS, checking the certificate against the CA it is given', async () => {
    const cert = await makeGatewayCert('rawget-test', ['127.0.0.1']);
    const body = randomBytes(3 * 1024 * 1024);
    const server = https.createServer({ key: cert.key, cert: cert.cert }, (req: http.IncomingMessage, res: http.ServerResponse) => {
      res.writeHead(200, { 'content-length': String(body.length) });
      res.end(body);
    });
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    closers.push(() => server.close());
    const url = `https://127.0.0.1:${(server.address() as net.AddressInfo).port}/f.gguf`;
    const res = await rawGet(url, {}, opts({ tls: { ca: cert.cert } }));
    const sink = collector();
    await res.pipe(sink.write);
    expect(sink.received().equals(body)).toBe(true);
    // Without the CA, the self-signed certificate is refused.
    await expect(rawGet(url, {}, opts())).rejects.toThrow(/self.signed|certificate/i);
  });
});
