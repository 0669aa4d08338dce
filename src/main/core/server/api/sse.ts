/**
 * Server-sent events for the streaming endpoints, written with as few socket writes as the
 * stream's pace allows.
 *
 * Every write to a client's socket costs a system call here and a wake-up and a read in the
 * client; on a 2-core machine that CPU is taken from the backend generating the tokens (a tiny
 * model with `parallel:4` sends each stream a piece every few ms). So an event goes out at once
 * when its stream has written nothing for `windowMs` (the first token always, and every piece of
 * a model slower than that), and otherwise waits for the next shared tick: text that arrives
 * within a window leaves as one event (as the backend already joins the tokens of a few ms into
 * one reply), and all streams due at a tick are written in the same turn of the event loop (one
 * wake-up of the process for all of them, and of a client that reads several). The end of a
 * stream is never held back.
 */
import type { ServerResponse } from 'node:http';

/**
 * The longest a piece waits behind its stream's previous write: one display frame at 60 Hz, so a
 * reader sees no difference, while a stream of a fast model costs a handful of writes per second
 * instead of one per backend reply (a tiny model's are ~4 ms apart).
 */
export const SSE_WINDOW_MS = 16;

/** Streams waiting for the next tick, and the one timer for all of them. */
class Ticker {
  private readonly due = new Set<SseStream>();
  private timer: NodeJS.Timeout | null = null;
  /** When the armed tick fires (performance.now). */
  private at = Infinity;

  add(stream: SseStream, inMs: number): void {
    this.due.add(stream);
    // A tick armed sooner than this stream's own due time takes it too, a little early, which
    // aligns the streams on one tick; one armed later is brought forward, so no piece waits
    // longer than its window.
    const at = performance.now() + inMs;
    if (this.timer && at >= this.at - 1) return;
    if (this.timer) clearTimeout(this.timer);
    this.at = at;
    this.timer = setTimeout(this.fire, Math.max(1, inMs));
  }

  delete(stream: SseStream): void {
    this.due.delete(stream);
    if (this.due.size === 0 && this.timer) {
      clearTimeout(this.timer);
      this.timer = null;
      this.at = Infinity;
    }
  }

  private readonly fire = (): void => {
    this.timer = null;
    this.at = Infinity;
    const streams = [...this.due];
    this.due.clear();
    for (const s of streams) s.flush();
  };
}

const ticker = new Ticker();

export class SseStream {
  /** Whole events ready to go. */
  private pending = '';
  /** Text not yet made into an event: pieces joined until the next write. */
  private text = '';
  private lastWrite = -Infinity;
  private queued = false;
  /** Set while the socket is backed up: the producer waits on it before sending more. */
  private backedUp: Promise<void> | null = null;

  /** `textEvent(text)` is the whole event (`data: ...\n\n`) that carries a piece of text. */
  constructor(
    private readonly res: ServerResponse,
    private readonly textEvent: (text: string) => string,
    private readonly windowMs = SSE_WINDOW_MS,
  ) {}

  /**
   * Queues a piece of text; pieces queued together leave as one event. Returns a promise only
   * when the client is not keeping up: the caller should wait for it before producing more.
   */
  sendText(text: string): Promise<void> | undefined {
    if (this.res.destroyed) return undefined;
    this.text += text;
    return this.schedule();
  }

  /** Queues whole events (`data: ...\n\n`), after any text queued before them. */
  send(events: string): Promise<void> | undefined {
    if (this.res.destroyed) return undefined;
    this.takeText();
    this.pending += events;
    return this.schedule();
  }

  private takeText(): void {
    if (!this.text) return;
    this.pending += this.textEvent(this.text);
    this.text = '';
  }

  private schedule(): Promise<void> | undefined {
    if (!this.queued) {
      const idle = performance.now() - this.lastWrite;
      if (idle >= this.windowMs) this.flush();
      else {
        this.queued = true;
        ticker.add(this, this.windowMs - idle);
      }
    }
    return this.backedUp ?? undefined;
  }

  /** Writes what is pending now (the ticker calls this). */
  flush(): void {
    if (this.queued) {
      this.queued = false;
      ticker.delete(this);
    }
    this.takeText();
    if (!this.pending || this.res.destroyed) return;
    const text = this.pending;
    this.pending = '';
    this.lastWrite = performance.now();
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
    if (this.queued) {
      this.queued = false;
      ticker.delete(this);
    }
    this.takeText();
    const text = this.pending + last;
    this.pending = '';
    this.res.end(text);
  }

  /** Drops what is pending (the client went away). */
  close(): void {
    if (this.queued) {
      this.queued = false;
      ticker.delete(this);
    }
    this.pending = '';
    this.text = '';
  }
}
