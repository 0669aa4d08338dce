/**
 * A streaming answer is parsed at most every PARSE_INTERVAL_MS, only in its unfinished chunk, off
 * the page's thread when a worker is there; the text is never lost on the way (issue 10).
 */
import { describe, expect, it } from 'vitest';
import { chunkJobs, parseChunk } from './markdown';
import type { Chunk, ChunkJob } from './markdown';
import type { ChunkParser } from './markdownWorker';
import { PARSE_INTERVAL_MS, StreamingParse } from './streamingParse';
import type { Timers } from './streamingParse';

/** The page's clock, moved by the test. */
class FakeTimers implements Timers {
  private t = 0;
  private timers = new Map<number, { at: number; fn: () => void }>();
  private next = 0;
  now = () => this.t;
  setTimeout = (fn: () => void, ms: number) => {
    this.timers.set(++this.next, { at: this.t + ms, fn });
    return this.next;
  };
  clearTimeout = (handle: unknown) => void this.timers.delete(handle as number);
  advance(ms: number): void {
    this.t += ms;
    for (const [id, timer] of [...this.timers].sort((a, b) => a[1].at - b[1].at)) {
      if (timer.at > this.t) break;
      this.timers.delete(id);
      timer.fn();
    }
  }
}

/** A worker stand-in: parses what it is sent (as the worker does), answering after the current task. */
class CountingParser implements ChunkParser {
  calls: ChunkJob[][] = [];
  failing = false;
  parse(jobs: ChunkJob[]): Promise<Chunk[]> {
    this.calls.push(jobs);
    if (this.failing) return Promise.reject(new Error('no worker'));
    return Promise.resolve(jobs.map((j) => parseChunk(j.src, j.labels)));
  }
}

const settle = () => new Promise((r) => setTimeout(r, 0));
const FRAME_MS = 16;

/** Streams `tokens` one a frame; a blank line every 40 tokens finishes a chunk. */
async function stream(sp: StreamingParse, timers: FakeTimers, tokens: number, check: (text: string) => void = () => {}): Promise<string> {
  // Its own words: the chunk cache is shared by the tests.
  const tag = Math.random().toString(36).slice(2, 6);
  let text = '';
  for (let i = 0; i < tokens; i++) {
    text += i % 40 === 39 ? `word${i}.\n\n` : i % 7 === 3 ? `**${tag}${i}** ` : `${tag}${i} `;
    timers.advance(FRAME_MS);
    sp.update(text);
    await settle();
    check(text);
  }
  return text;
}

describe('the Markdown of a streaming answer (issue 10)', () => {
  it('is parsed in the worker at most every 100 ms, only its unfinished chunk; finished chunks are never sent again', async () => {
    const timers = new FakeTimers();
    const parser = new CountingParser();
    let renders = 0;
    const sp = new StreamingParse(timers, parser, () => renders++);
    const TOKENS = 600; // 9.6 s at one token a frame
    const text = await stream(sp, timers, TOKENS, (now) => {
      // What is shown is always the start of the answer (the rest shows as it came).
      expect(now.startsWith(sp.shown?.text ?? '')).toBe(true);
    });
    const seconds = (TOKENS * FRAME_MS) / 1000;
    // Per token would be 600; per frame of 100 ms about 96.
    expect(parser.calls.length).toBeLessThanOrEqual(Math.ceil((seconds * 1000) / PARSE_INTERVAL_MS) + 1);
    expect(parser.calls.length).toBeGreaterThan(seconds * 5);
    expect(renders).toBe(parser.calls.length);
    // Each parse sent the unfinished last chunk, and the one before when it just finished; no
    // chunk was ever sent twice (a finished chunk comes from the cache).
    for (const jobs of parser.calls) expect(jobs.length).toBeLessThanOrEqual(2);
    const sent = parser.calls.flat().map((job) => job.src);
    expect(new Set(sent).size).toBe(sent.length);
    const finished = chunkJobs(text).slice(0, -1).map((j) => j.src);
    expect(finished.length).toBeGreaterThan(10);
    for (const chunk of finished) expect(sent).toContain(chunk);

    // The stream pauses: what came after the last parse is parsed within the interval.
    timers.advance(PARSE_INTERVAL_MS);
    await settle();
    expect(sp.shown?.text).toBe(text);
    expect(sp.shown?.answer?.chunks.map((c) => c.src)).toEqual(chunkJobs(text).map((j) => j.src));
  });

  it('without a worker (or when it fails), parses on the page at most every 100 ms and loses nothing', async () => {
    const timers = new FakeTimers();
    const parser = new CountingParser();
    parser.failing = true;
    let renders = 0;
    const sp = new StreamingParse(timers, parser, () => renders++);
    const text = await stream(sp, timers, 300);
    expect(parser.calls).toHaveLength(1); // tried once, then parsed here
    expect(renders).toBeLessThanOrEqual(Math.ceil((300 * FRAME_MS) / PARSE_INTERVAL_MS) + 1);
    expect(renders).toBeGreaterThan(20);
    timers.advance(PARSE_INTERVAL_MS);
    expect(sp.shown?.text).toBe(text);
  });

  it('stops parsing once the answer is no longer shown', async () => {
    const timers = new FakeTimers();
    const parser = new CountingParser();
    const sp = new StreamingParse(timers, parser, () => {});
    await stream(sp, timers, 20);
    const calls = parser.calls.length;
    sp.update('something else entirely');
    sp.stop();
    timers.advance(10 * PARSE_INTERVAL_MS);
    await settle();
    expect(parser.calls).toHaveLength(calls);
  });
});
