/**
 * SseStream over a real HTTP server and client on 127.0.0.1: what arrives, together or apart.
 * Arrivals are told apart by the client's socket reads: one write from us is one read there
 * (small writes on loopback), and pieces that shared a write arrive in one read.
 */
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { SSE_WINDOW_MS, SseStream } from './sse';

const textEvent = (text: string) => `data: ${JSON.stringify({ text })}\n\n`;

let server: Server | null = null;

afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
});

/** Serves one streamed answer written by `script`; resolves with the client's reads (text and when). */
async function stream(script: (out: SseStream, res: ServerResponse) => Promise<void>, windowMs = SSE_WINDOW_MS): Promise<{ at: number; text: string }[]> {
  server = createServer((_req, res) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    void script(new SseStream(res, textEvent, windowMs), res);
  });
  await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  return new Promise((resolve, reject) => {
    const reads: { at: number; text: string }[] = [];
    const started = performance.now();
    request({ host: '127.0.0.1', port, agent: false }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => reads.push({ at: performance.now() - started, text: d }));
      res.on('end', () => resolve(reads));
    })
      .on('error', reject)
      .end();
  });
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms));
const texts = (reads: { text: string }[]) =>
  reads
    .map((r) => r.text)
    .join('')
    .split('\n\n')
    .filter((e) => e && e !== 'data: [DONE]')
    .map((e) => JSON.parse(e.slice(6)));

describe('SseStream', () => {
  it('R5: the first event goes out at once; pieces within the window leave together as one event', async () => {
    const reads = await stream(async (out) => {
      out.send('data: {"first":true}\n\n');
      await sleep(SSE_WINDOW_MS * 4); // the first read is on its own
      out.sendText('a'); // idle for longer than the window: at once
      out.sendText('b'); // within the window: waits for the tick, joined with the next
      out.sendText('c');
      await sleep(SSE_WINDOW_MS * 4);
      out.end('data: [DONE]\n\n');
    });
    expect(texts(reads)).toEqual([{ first: true }, { text: 'a' }, { text: 'bc' }]);
    expect(reads.map((r) => r.text)).toEqual(['data: {"first":true}\n\n', textEvent('a'), textEvent('bc'), 'data: [DONE]\n\n']);
  });

  it('R5: a held piece waits at most about one window, and the end is never held back', async () => {
    const reads = await stream(async (out) => {
      out.sendText('x'); // at once: starts the window
      out.sendText('y'); // held for the tick
      out.end('data: [DONE]\n\n'); // flushes "y" with the end, no wait
    });
    expect(reads.map((r) => r.text).join('')).toBe(textEvent('x') + textEvent('y') + 'data: [DONE]\n\n');
    // Held and released by a tick: "q" arrives one window after "p", not later.
    const timed = await stream(async (out) => {
      out.sendText('p');
      out.sendText('q');
      await sleep(SSE_WINDOW_MS * 20);
      out.end('data: [DONE]\n\n');
    });
    expect(timed.map((r) => r.text)).toEqual([textEvent('p'), textEvent('q'), 'data: [DONE]\n\n']);
    const gap = timed[1].at - timed[0].at;
    expect(gap).toBeGreaterThanOrEqual(SSE_WINDOW_MS - 2);
    expect(gap).toBeLessThan(SSE_WINDOW_MS * 10); // not held until the end, 20 windows later
  });

  it('R5: a piece slower than the window is written as it comes; events keep their order around text', async () => {
    const reads = await stream(async (out) => {
      for (const t of ['one', 'two', 'three']) {
        out.sendText(t);
        await sleep(SSE_WINDOW_MS * 2);
      }
      out.sendText('four');
      out.send('data: {"tool":1}\n\n'); // after the text queued before it
      out.end('data: [DONE]\n\n');
    });
    expect(reads.slice(0, 3).map((r) => r.text)).toEqual([textEvent('one'), textEvent('two'), textEvent('three')]);
    expect(texts(reads).slice(3)).toEqual([{ text: 'four' }, { tool: 1 }]);
  });

  it('R3: nothing is written once the client has gone, and a held piece is dropped with the stream', async () => {
    let wrote = true;
    server = createServer((_req, res) => {
      res.writeHead(200, { 'content-type': 'text/event-stream' });
      const out = new SseStream(res, textEvent);
      out.sendText('first');
      res.on('close', () => {
        out.sendText('held'); // the client is gone: ignored
        out.close();
        wrote = res.writableLength > 0;
        setTimeout(() => server!.emit('checked'), SSE_WINDOW_MS * 3);
      });
    });
    await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
    const port = (server.address() as AddressInfo).port;
    const checked = new Promise((r) => server!.once('checked', r));
    const req = request({ host: '127.0.0.1', port, agent: false }, (res) => res.once('data', () => req.destroy()));
    req.on('error', () => {});
    req.end();
    await checked; // the ticker had its chance to fire: it must not throw or write
    expect(wrote).toBe(false);
  });
});
