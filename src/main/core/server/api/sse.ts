/**
 * Server-sent events for the streaming endpoints: one event per generated piece, as llama-server,
 * Ollama, vLLM and OpenAI send them (clients and benchmark tools time tokens by events).
 *
 * Socket writes are another matter: each costs a system call here and a wake-up and a read in
 * the client, CPU taken from the backends on a small machine. While few streams run, every piece
 * is written as it comes (pieces that arrive together, as several pieces of one backend reply,
 * share a write). With many streams at once (`JOIN_FROM_STREAMS`, the saturated case of
 * `npm run bench:api`'s 32 streams) a stream that wrote less than a window ago waits for the next
 * shared tick, and all streams due then are written in the same turn of the event loop: fewer
 * writes and wake-ups, each event still its own. The end of a stream is never held back.
 */
import type { ServerResponse } from 'node:http';
import type { Clock } from '../../clock';

/**
 * The longest a piece waits behind its stream's previous write while writes are joined: one
 * display frame at 60 Hz, so a reader sees no difference.
 */
export const SSE_WINDOW_MS = 16;

/**
 * Open streams from which writes are joined. Below it one write per piece costs little next to
 * generating the piece; at 32 streams of a tiny model on 2 cores, per-piece writes took a
 * noticeable share of the CPU (House B: keep joining only where it pays).
 */
export const JOIN_FROM_STREAMS = 8;

/** The streams of one server: how many are open, which wait for the tick, and the one timer for all. */
export class SsePacer {
  private readonly open = new Set<SseStream>();
  private readonly due = new Set<SseStream>();
  private timer: unknown = null;
  /** When the armed tick fires (clock time). */
  private at = Infinity;

  constructor(
    readonly clock: Clock,
    readonly windowMs = SSE_WINDOW_MS,
    readonly joinFrom = JOIN_FROM_STREAMS,
  ) {}

  /** A stream writing to `res`; `textEvent(text)` is the whole event (`data: ...\n\n`) that carries a piece. */
  stream(res: ServerResponse, textEvent: (text: string) => string): SseStream {
    const s = new SseStream(res, textEvent, this);
    this.open.add(s);
    return s;
  }

  /** Whether enough streams run at once that joining their writes pays. */
  get joining(): boolean {
    return this.open.size >= this.joinFrom;
  }

  /** Queues `stream` for the tick due within `inMs`. */
  hold(stream: SseStream, inMs: number): void {
    this.due.add(stream);
    // A tick armed sooner than this stream's own due time takes it too, a little early, which
    // aligns the streams on one tick; one armed later is brought forward, so no piece waits
    // longer than its window.
    const at = this.clock.now() + inMs;
    if (this.timer !== null && at >= this.at - 1) return;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.at = at;
    this.timer = this.clock.setTimeout(this.fire, Math.max(1, inMs));
  }

  release(stream: SseStream, closed: boolean): void {
    this.due.delete(stream);
    if (closed) this.open.delete(stream);
    if (this.due.size === 0 && this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
      this.at = Infinity;
    }
  }

  dispose(): void {
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.due.clear();
    this.open.clear();
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.at = Infinity;
    const streams = [...this.due];
    this.due.clear();
    for (const s of streams) s.flush();
  };
}

export class SseStream {
  /** Whole events not yet written. */
  private pending = '';
  private lastWrite = -Infinity;
  private held = false;
  /** Set while the socket is backed up: the producer waits on it before sending more. */
  private backedUp: Promise<void> | null = null;

  constructor(
    private readonly res: ServerResponse,
    private readonly textEvent: (text: string) => string,
    private readonly pacer: SsePacer,
  ) {
    res.once('close', () => this.close());
  }

  /**
   * Queues one event per piece of text (empty pieces make none). Returns a promise only when the
   * client is not keeping up: the caller should wait for it before producing more.
   */
  sendPieces(pieces: readonly string[]): Promise<void> | undefined {
    if (this.res.destroyed) return undefined;
    for (const p of pieces) if (p) this.pending += this.textEvent(p);
    return this.schedule();
  }

  /** Queues whole events (`data: ...\n\n`), after what was queued before them. */
  send(events: string): Promise<void> | undefined {
    if (this.res.destroyed) return undefined;
    this.pending += events;
    return this.schedule();
  }

  private schedule(): Promise<void> | undefined {
    if (!this.held && this.pending) {
      const idle = this.pacer.clock.now() - this.lastWrite;
      if (!this.pacer.joining || idle >= this.pacer.windowMs) this.flush();
      else {
        this.held = true;
        this.pacer.hold(this, this.pacer.windowMs - idle);
      }
    }
    return this.backedUp ?? undefined;
  }

  /** Writes what is pending now (the pacer's tick calls this). */
  flush(): void {
    if (this.held) {
      this.held = false;
      this.pacer.release(this, false);
    }
    if (!this.pending || this.res.destroyed) return;
    const text = this.pending;
    this.pending = '';
    this.lastWrite = this.pacer.clock.now();
    if (!this.res.write(text) && !this.backedUp) {
      this.backedUp = new Promise<void>((resolve) => {
        const done = () => {
          this.res.off('drain', done);
          this.res.off('close', done);
          this.backedUp = null;
          resolve();
        };
        this.res.on('drain', done);
        this.res.on('close', done);
      });
    }
  }

  /** Ends the answer with what is pending and `last`, in one write. */
  end(last: string): void {
    const text = this.pending + last;
    this.close();
    this.res.end(text);
  }

  /** Drops what is pending (the client went away) and leaves the pacer. */
  close(): void {
    this.held = false;
    this.pacer.release(this, true);
    this.pending = '';
  }
}
