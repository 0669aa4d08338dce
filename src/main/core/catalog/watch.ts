/**
 * Live updates (C6): one watcher per folder of the last scan, and a debounced rescan when any of
 * them reports a change.
 */
import { watch, type FSWatcher } from 'node:fs';
import path from 'node:path';
import type { Clock } from '../clock';

export class FolderWatcher {
  private readonly watchers = new Map<string, FSWatcher>();
  private timer: unknown = null;
  private firstEventAt = 0;
  private disposed = false;

  constructor(
    private readonly clock: Clock,
    /** Quiet time after the last file event before a rescan. */
    private readonly debounceMs: number,
    private readonly log: (msg: string) => void,
    private readonly rescan: () => void,
  ) {}

  /** Watches exactly `dirs` (the folders the last scan visited). */
  sync(dirs: string[]): void {
    const wanted = new Set(dirs);
    for (const [dir, w] of this.watchers) {
      if (!wanted.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    // One non-recursive watcher per folder: Node 20's recursive mode on Linux is emulated and has
    // missed events in new subfolders; per-folder watchers behave the same on every platform.
    const initial = this.watchers.size === 0;
    let added = false;
    for (const dir of wanted) {
      if (this.watchers.has(dir)) continue;
      added = true;
      try {
        const w = watch(dir, { persistent: false }, (_event, filename) => {
          // Our own temp files (and other hidden files) never matter.
          if (typeof filename === 'string' && path.basename(filename).startsWith('.')) return;
          this.requestScan();
        });
        w.on('error', (e) => {
          this.log(`catalog: watching ${dir} failed: ${e.message}`);
          w.close();
          if (this.watchers.get(dir) === w) this.watchers.delete(dir);
          this.requestScan();
        });
        this.watchers.set(dir, w);
      } catch (e) {
        this.log(`catalog: cannot watch ${dir}: ${(e as Error).message}`);
      }
    }
    // A file created in a new folder between our walk and its watcher would go unseen: look once more.
    if (added && !initial) this.requestScan();
  }

  private requestScan(): void {
    if (this.disposed) return;
    const now = this.clock.now();
    if (this.timer === null) this.firstEventAt = now;
    else this.clock.clearTimeout(this.timer);
    // Debounce bursts (a download writes for minutes), but never wait more than 10 quiet periods.
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstEventAt + this.debounceMs * 10 - now));
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.rescan();
    }, wait);
  }

  close(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  dispose(): void {
    this.disposed = true;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.close();
  }
}
