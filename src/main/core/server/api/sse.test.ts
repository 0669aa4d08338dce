/**
 * SseStream over a real HTTP server and client on 127.0.0.1, on fake time: one event per piece,
 * and which events share a socket write (every `res.write` is recorded as it is made).
 */
import { createServer, request, type Server, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../../clock';
import { SSE_WINDOW_MS, SsePacer } from './sse';
import type { SseStream } from './sse';

const textEvent = (text: string) => `data: ${JSON.stringify({ text })}\n\n`;
const DONE = 'data: [DONE]\n\n';

let server: Server | null = null;
afterEach(async () => {
  await new Promise<void>((r) => (server ? server.close(() => r()) : r()));
  server = null;
});

interface Served {
  /** Each socket write of the answer, in order. */
  writes: string[];
  /** Everything the client received. */
  body: Promise<string>;
  out: SseStream;
  res: ServerResponse;
}

/** Opens one streamed answer on `pacer` and hands it to the test to write. */
async function open(pacer: SsePacer): Promise<Served> {
  let served!: (s: Omit<Served, 'body'>) => void;
  const ready = new Promise<Omit<Served, 'body'>>((r) => (served = r));
  server ??= createServer();
  server.removeAllListeners('request');
  server.on('request', (_req, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    res.flushHeaders();
    const writes: string[] = [];
    const write = res.write.bind(res) as (chunk: string) => boolean;
    res.write = ((chunk: string) => {
      writes.push(chunk);
      return write(chunk);
    }) as ServerResponse['write'];
    const end = res.end.bind(res) as (chunk: string) => ServerResponse;
    res.end = ((chunk: string) => {
      if (chunk) writes.push(chunk);
      return end(chunk);
    }) as ServerResponse['end'];
    served({ writes, out: pacer.stream(res, textEvent), res });
  });
  if (!server.listening) await new Promise<void>((r) => server!.listen(0, '127.0.0.1', r));
  const port = (server.address() as AddressInfo).port;
  const body = new Promise<string>((resolve) => {
    request({ host: '127.0.0.1', port, agent: false }, (res) => {
      let text = '';
      res.setEncoding('utf8');
      res.on('data', (d: string) => (text += d));
      res.on('end', () => resolve(text));
      res.on('error', () => resolve(text));
    })
      .on('error', () => resolve(''))
      .end();
  });
  return { ...(await ready), body };
}

const events = (text: string) => text.split('\n\n').filter(Boolean).map((e) => `${e}\n\n`);

describe('SseStream', () => {
  it('House B: every piece is its own event; pieces that arrive together share one write', async () => {
    const clock = new FakeClock();
    const s = await open(new SsePacer(clock));
    s.out.send('data: {"first":true}\n\n');
    s.out.sendPieces(['a', 'b', 'c']);
    clock.advance(1);
    s.out.sendPieces(['d']);
    s.out.sendPieces(['e']);
    s.out.end(DONE);
    expect(events(await s.body)).toEqual(['data: {"first":true}\n\n', textEvent('a'), textEvent('b'), textEvent('c'), textEvent('d'), textEvent('e'), DONE]);
    // Few streams: nothing waits for a tick, each call is written at once.
    expect(s.writes).toEqual(['data: {"first":true}\n\n', textEvent('a') + textEvent('b') + textEvent('c'), textEvent('d'), textEvent('e'), DONE]);
  });

  it('many streams at once: a stream that wrote within the window waits for the shared tick (at most one window); its events stay apart', async () => {
    const clock = new FakeClock();
    const pacer = new SsePacer(clock, SSE_WINDOW_MS, 2);
    const other = await open(pacer);
    const s = await open(pacer);
    s.out.sendPieces(['x']); // idle so far: at once
    s.out.sendPieces(['y']); // within the window: held
    s.out.sendPieces(['z']);
    expect(s.writes).toEqual([textEvent('x')]);
    clock.advance(SSE_WINDOW_MS - 1);
    expect(s.writes).toEqual([textEvent('x')]);
    clock.advance(1);
    expect(s.writes).toEqual([textEvent('x'), textEvent('y') + textEvent('z')]);
    // Idle for a window again: written at once.
    clock.advance(SSE_WINDOW_MS);
    s.out.sendPieces(['w']);
    expect(s.writes.at(-1)).toBe(textEvent('w'));
    // The end is never held back: a held piece leaves with it.
    s.out.sendPieces(['v']);
    s.out.end(DONE);
    expect(s.writes.at(-1)).toBe(textEvent('v') + DONE);
    other.out.end(DONE);
    expect(events(await s.body)).toEqual(['x', 'y', 'z', 'w', 'v'].map(textEvent).concat(DONE));
  });

  it('the streams due at a tick are written in that same tick', async () => {
    const clock = new FakeClock();
    const pacer = new SsePacer(clock, SSE_WINDOW_MS, 2);
    const a = await open(pacer);
    const b = await open(pacer);
    a.out.sendPieces(['a1']);
    clock.advance(5);
    b.out.sendPieces(['b1']);
    a.out.sendPieces(['a2']); // due at 16
    b.out.sendPieces(['b2']); // due at 21: taken early by the tick at 16
    clock.advance(11);
    expect(a.writes).toEqual([textEvent('a1'), textEvent('a2')]);
    expect(b.writes).toEqual([textEvent('b1'), textEvent('b2')]);
    a.out.end(DONE);
    b.out.end(DONE);
    await Promise.all([a.body, b.body]);
  });

  it('R3: nothing is written once the client has gone; a held piece is dropped and the tick finds nothing to do', async () => {
    const clock = new FakeClock();
    const pacer = new SsePacer(clock, SSE_WINDOW_MS, 1);
    const s = await open(pacer);
    s.out.sendPieces(['first']);
    s.out.sendPieces(['held']);
    const closed = new Promise((r) => s.res.once('close', r));
    s.res.destroy();
    await closed;
    expect(s.out.sendPieces(['late'])).toBeUndefined();
    clock.advance(SSE_WINDOW_MS * 3);
    expect(s.writes).toEqual([textEvent('first')]);
  });
});
