/**
 * The model catalog (C1, C2, C4, C5, C6): what is in the models folder, kept current while the
 * app runs. This class holds the current rows and runs scans and edits one at a time; the parts
 * live beside it: `scan.ts` (one scan), `caches.ts` (what a rescan need not read again),
 * `watch.ts` (live updates) and `edit.ts` (GUI edits written to the YAML).
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LoadoutError } from '../../../shared/errors';
import { systemClock, type Clock } from '../clock';
import { SerialQueue } from '../fsx/serialQueue';
import { ScanCaches } from './caches';
import { createConfigFor, patchConfigFile, validatePatch } from './edit';
import type { ConfigPatch } from './editConfig';
import { scanModelsDir } from './scan';
import type { CatalogChange, CatalogEntry } from './types';
import { FolderWatcher } from './watch';
import { WALK_LIMITS, type WalkLimits } from './walkModelsDir';

export { parseOptions, parallelOf } from './options';
export { loadKey } from './entry';
export type { ConfigPatch } from './editConfig';

export interface CatalogOptions {
  modelsDir: string;
  clock?: Clock;
  /** Quiet time after the last file event before a rescan (default 150 ms). */
  debounceMs?: number;
  logger?: (msg: string) => void;
  /** Bounds of the folder walk (default WALK_LIMITS; tests make them small). */
  walkLimits?: WalkLimits;
}

type Listener = (changes: CatalogChange[]) => void;

export class Catalog {
  private dir: string;
  private readonly log: (msg: string) => void;
  private readonly walkLimits: WalkLimits;

  private entries = new Map<string, CatalogEntry>();
  private sorted: CatalogEntry[] = [];
  /** Models whose YAML cannot be parsed, with why: they cannot be edited from the GUI. */
  private unreadable = new Map<string, string>();
  private readonly caches = new ScanCaches();

  private readonly listeners = new Set<Listener>();
  private readonly watcher: FolderWatcher;
  private limits: string[] = [];
  private problems: string[] = [];
  private readonly queue = new SerialQueue();
  private watching = false;
  private disposed = false;

  constructor(options: CatalogOptions) {
    this.dir = path.resolve(options.modelsDir);
    this.log = options.logger ?? (() => {});
    this.walkLimits = options.walkLimits ?? WALK_LIMITS;
    this.watcher = new FolderWatcher(options.clock ?? systemClock, options.debounceMs ?? 150, this.log, () => {
      this.scan().catch((e: Error) => this.log(`catalog: rescan failed: ${e.message}`));
    });
  }

  get modelsDir(): string {
    return this.dir;
  }

  /** Every model, sorted by name. */
  list(): CatalogEntry[] {
    return this.sorted;
  }

  /** The bounds the last scan hit (Trust 13): what of the models folder is not listed, and why. */
  get scanLimits(): readonly string[] {
    return this.limits;
  }

  get(name: string): CatalogEntry | undefined {
    return this.entries.get(name);
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Rescans now; emits what changed and returns the whole list. */
  scan(): Promise<CatalogEntry[]> {
    return this.serial(() => this.rescan());
  }

  /** First scan, then live updates from file events (C6). */
  async start(): Promise<void> {
    this.watching = true;
    await this.ensureDir();
    await this.scan();
  }

  /** Switches to another models folder: every model of the old one is removed, the new ones added. */
  setModelsDir(dir: string): Promise<void> {
    return this.serial(async () => {
      this.dir = path.resolve(dir);
      this.watcher.close();
      await this.ensureDir();
      await this.rescan();
    });
  }

  dispose(): void {
    this.disposed = true;
    this.watching = false;
    this.watcher.dispose();
    this.listeners.clear();
  }

  /**
   * GUI edit of a model's policy and load keys (C6), written to its YAML with comments, key order
   * and unknown keys kept; a bare GGUF gets a new YAML next to it. Emits the change before resolving.
   */
  updateConfig(name: string, patch: ConfigPatch): Promise<CatalogEntry> {
    return this.serial(async () => {
      const clean = validatePatch(patch);
      const entry = this.entries.get(name);
      if (!entry) throw new LoadoutError('not_found', `There is no model named "${name}" in ${this.dir}.`);
      const why = this.unreadable.get(name);
      if (why !== undefined) {
        throw new LoadoutError('invalid', `${name} cannot be edited here until its file is fixed: ${why}`);
      }
      if (entry.configPath !== null) {
        await patchConfigFile(entry.configPath, clean);
      } else if (entry.file !== null) {
        await createConfigFor(this.dir, entry, clean);
      } else {
        throw new LoadoutError('invalid', `${name} has no config file or model file to edit.`);
      }
      await this.rescan();
      const updated = this.entries.get(name);
      if (!updated) throw new LoadoutError('not_found', `${name} is no longer in the catalog after saving; check ${entry.configPath ?? this.dir}.`);
      return updated;
    });
  }

  private async rescan(): Promise<CatalogEntry[]> {
    const owners = new Map<string, string>();
    for (const e of this.entries.values()) {
      const owner = e.configPath ?? e.file;
      if (owner !== null) owners.set(e.name, owner);
    }
    const result = await scanModelsDir({
      dir: this.dir,
      caches: this.caches,
      cancelled: () => this.disposed,
      owners,
      limits: this.walkLimits,
    });
    if (result === null) return this.sorted;
    this.unreadable = result.unreadable;
    // Said once when it starts or changes, not at every rescan of a folder that stays the same.
    for (const p of result.problems) if (!this.problems.includes(p)) this.log(`catalog: ${p}`);
    this.problems = result.problems;
    if (result.limits.join('\n') !== this.limits.join('\n')) {
      for (const l of result.limits) this.log(`catalog: models folder ${this.dir}: ${l}. Is a link pointing at a big folder tree?`);
      if (result.limits.length === 0 && this.limits.length > 0) this.log(`catalog: models folder ${this.dir} is scanned whole again.`);
    }
    this.limits = result.limits;
    this.commit(result.entries);
    if (this.watching && !this.disposed) this.watcher.sync(result.dirs);
    return this.sorted;
  }

  /** Swaps in the new state and tells listeners exactly what changed. */
  private commit(next: Map<string, CatalogEntry>): void {
    const changes: CatalogChange[] = [];
    for (const name of this.entries.keys()) if (!next.has(name)) changes.push({ type: 'remove', name });
    for (const [name, entry] of next) {
      const old = this.entries.get(name);
      // Keep the old object when nothing changed, so consumers can compare by identity.
      if (old && JSON.stringify(old) === JSON.stringify(entry)) next.set(name, old);
      else changes.push({ type: 'upsert', entry });
    }
    this.entries = next;
    this.sorted = [...next.values()].sort(byName);
    if (changes.length === 0) return;
    // Removes first (a rename frees a name before it is reused), then upserts by name.
    const key = (c: CatalogChange) => (c.type === 'remove' ? c.name : c.entry.name);
    changes.sort((a, b) => (a.type !== b.type ? (a.type === 'remove' ? -1 : 1) : collator.compare(key(a), key(b))));
    for (const listener of [...this.listeners]) {
      try {
        listener(changes);
      } catch (e) {
        this.log(`catalog: a change listener failed: ${(e as Error).message}`);
      }
    }
  }

  private async ensureDir(): Promise<void> {
    try {
      await fs.mkdir(this.dir, { recursive: true });
    } catch (e) {
      this.log(`catalog: cannot create models folder ${this.dir}: ${(e as Error).message}`);
    }
  }

  /** Scans and edits run one at a time, in order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
function byName(a: CatalogEntry, b: CatalogEntry): number {
  return collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
}
