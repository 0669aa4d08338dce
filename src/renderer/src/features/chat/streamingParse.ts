/**
 * The Markdown of an answer while it streams. Parsing the growing last chunk again for every
 * token took whole frames (micromark costs ~1.5 ms per KB), so:
 * - only chunks not parsed before are parsed (the cache in markdown.ts keeps finished ones);
 * - they are parsed in a worker (markdownWorker.ts) when the page can start one, else here;
 * - at most one parse is under way, and a new one starts at most every PARSE_INTERVAL_MS (longer
 *   when a parse here costs more); the text that arrived since is shown as it is, after the
 *   parsed part (Markdown.tsx's stream tail), until the next parse takes it in.
 */
import { MARKDOWN_LIMIT, cachedChunk, chunkJobs, parseAnswer, storeChunk } from './markdown';
import type { ParsedAnswer } from './markdown';
import type { ChunkParser } from './markdownWorker';

export const PARSE_INTERVAL_MS = 100;
/** Parsing on the page's thread: at most a quarter of its time goes to parsing. */
const PARSE_EVERY = 4;

/** Time, as the page's clock (a fake one in tests). */
export interface Timers {
  now(): number;
  setTimeout(fn: () => void, ms: number): unknown;
  clearTimeout(handle: unknown): void;
}

export const pageTimers: Timers = {
  now: () => performance.now(),
  setTimeout: (fn, ms) => setTimeout(fn, ms),
  clearTimeout: (handle) => clearTimeout(handle as ReturnType<typeof setTimeout>),
};

/** What is rendered: the answer parsed up to `text` (null: too long to format). */
export interface ParsedPrefix {
  text: string;
  answer: ParsedAnswer | null;
}

export class StreamingParse {
  /** Null until the first parse is in. */
  shown: ParsedPrefix | null = null;
  private latest = '';
  private busy = false;
  private timer: unknown = null;
  private lastAt = -Infinity;
  private interval = PARSE_INTERVAL_MS;
  private live = true;

  constructor(
    private readonly timers: Timers,
    private parser: ChunkParser | null,
    /** Called when `shown` changed. */
    private readonly onChange: () => void,
  ) {}

  /** The answer's text now (called on every change; cheap unless a parse is due). */
  update(text: string): void {
    this.live = true;
    this.latest = text;
    this.pump();
  }

  /** The answer is no longer shown: no more parses, no more calls. */
  stop(): void {
    this.live = false;
    if (this.timer !== null) this.timers.clearTimeout(this.timer);
    this.timer = null;
  }

  private pump(): void {
    if (!this.live || this.busy || this.timer !== null || this.latest === this.shown?.text) return;
    const wait = this.lastAt + this.interval - this.timers.now();
    if (wait > 0) {
      this.timer = this.timers.setTimeout(() => {
        this.timer = null;
        this.pump();
      }, wait);
      return;
    }
    this.start(this.latest);
  }

  private start(text: string): void {
    const parser = this.parser;
    const jobs = parser && text.length <= MARKDOWN_LIMIT ? chunkJobs(text).filter((job) => !cachedChunk(job)) : [];
    if (!parser || jobs.length === 0) {
      const t0 = this.timers.now();
      this.show(text);
      this.lastAt = this.timers.now();
      this.interval = parser ? PARSE_INTERVAL_MS : Math.max(PARSE_INTERVAL_MS, (this.lastAt - t0) * PARSE_EVERY);
      return;
    }
    this.busy = true;
    parser.parse(jobs).then(
      (chunks) => {
        chunks.forEach((chunk, i) => storeChunk(jobs[i]!, chunk));
        this.done(text);
      },
      () => {
        // No worker after all: this parse and the next are done here.
        this.parser = null;
        this.done(text);
      },
    );
  }

  private done(text: string): void {
    this.busy = false;
    if (!this.live) return;
    this.show(text);
    this.lastAt = this.timers.now();
    this.pump();
  }

  private show(text: string): void {
    this.shown = { text, answer: parseAnswer(text) };
    this.onChange();
  }
}
