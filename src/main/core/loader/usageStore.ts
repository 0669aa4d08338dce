/**
 * E2/Trust 17: the LRU order survives a restart. Each model's last use is kept in
 * `<data dir>/lru.json` (the most recent `limit` models), written atomically a moment after the
 * last change (uses come in bursts: one write per burst) and on shutdown.
 */
import { readFileSync } from 'node:fs';
import { writeFileAtomicSync } from '../fsx/writeFileAtomic';
import type { Clock } from '../clock';

const SAVE_DELAY_MS = 2_000;

export interface UsageStoreOptions {
  file: string;
  clock: Clock;
  /** Models remembered at most (the most recently used are kept). */
  limit?: number;
  /** Told when the file cannot be read or written; the app goes on without it. */
  notice?: (text: string) => void;
}

export class UsageStore {
  private readonly lastUsed = new Map<string, number>();
  private timer: unknown = null;
  private dirty = false;

  constructor(private readonly o: UsageStoreOptions) {
    let text: string;
    try {
      text = readFileSync(o.file, 'utf8');
    } catch {
      return; // first run
    }
    try {
      const data = JSON.parse(text) as { lastUsed?: unknown };
      const entries = data && typeof data.lastUsed === 'object' && data.lastUsed !== null ? Object.entries(data.lastUsed) : [];
      for (const [name, at] of entries) if (typeof at === 'number' && Number.isFinite(at) && at > 0) this.lastUsed.set(name, at);
    } catch (e) {
      o.notice?.(`the least-recently-used order in ${o.file} could not be read (${(e as Error).message}); it starts empty`);
    }
  }

  /** Last use of each remembered model (epoch ms). */
  restored(): ReadonlyMap<string, number> {
    return this.lastUsed;
  }

  note(name: string, at: number): void {
    this.lastUsed.set(name, at);
    this.dirty = true;
    if (this.timer === null) {
      this.timer = this.o.clock.setTimeout(() => {
        this.timer = null;
        this.flush();
      }, SAVE_DELAY_MS);
    }
  }

  flush(): void {
    if (this.timer !== null) {
      this.o.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    if (!this.dirty) return;
    this.dirty = false;
    const kept = [...this.lastUsed].sort((a, b) => b[1] - a[1]).slice(0, this.o.limit ?? 1000);
    this.lastUsed.clear();
    for (const [n, at] of kept) this.lastUsed.set(n, at);
    try {
      writeFileAtomicSync(this.o.file, `${JSON.stringify({ version: 1, lastUsed: Object.fromEntries(kept) })}\n`);
    } catch (e) {
      this.o.notice?.(`could not save the least-recently-used order to ${this.o.file}: ${(e as Error).message}`);
    }
  }
}
