/**
 * The loader's shared state: every model's runtime record and the few helpers all parts use to
 * change it. Every state change goes through `set()`/`changed()` and is emitted as that model's
 * row (E1); waiters for "anything changed" are woken the same way.
 */
import { LoadoutError } from '../../../shared/errors';
import type { CoreEvent, JournalEntry, ModelRow, ModelState, Settings } from '../../../shared/model';
import type { HostLauncher, ResolvedBackend, ExitInfo } from '../backends/types';
import type { CatalogEntry } from '../catalog/types';
import type { Clock } from '../clock';
import type { Journal } from '../journal';
import type { LoaderGpuOptions } from './gpu';
import type { PolicyModel, PolicyTarget } from './policy';
import { COOLDOWN_CAP_MS, RESTART_BASE_MS, newRuntime } from './runtime';
import type { Runtime } from './runtime';
import { buildRow } from './views';

export interface CatalogView {
  get(name: string): CatalogEntry | undefined;
  list(): CatalogEntry[];
  modelsDir(): string;
}

export interface BackendResolver {
  resolve(name: string): ResolvedBackend;
  candidatesFor(file: string | null): string[];
}

export interface LoaderOptions {
  catalog: CatalogView;
  backends: BackendResolver;
  /** Where models run (the seam): local processes and remote addresses. */
  launchers: { local: HostLauncher; remote: HostLauncher };
  settings: () => Settings;
  clock: Clock;
  journal: Journal;
  emit: (event: CoreEvent) => void;
  /** A line for a model's log view (loader decisions next to backend output). */
  log: (model: string, text: string) => void;
  physicalCores: number;
  /** Memory estimate for a catalog entry (L7); null when unknown. */
  estimateMemory: (entry: CatalogEntry) => number | null;
  /** Where last uses are kept across restarts (Trust 17); none: this run only. */
  usage?: { restored(): ReadonlyMap<string, number>; note(name: string, at: number): void };
  /** Why a not_downloaded model cannot load now: `not_downloaded` with what to fetch, or `downloading` (G36). */
  notDownloaded?: (entry: CatalogEntry) => LoadoutError;
  /** GPU detection and the warm standby's VRAM (V2-V11); none: detection learned from the backends, no cache. */
  gpu?: LoaderGpuOptions;
}

export class ModelTable {
  readonly runtimes = new Map<string, Runtime>();
  disposed = false;
  private lastUseTime = 0;
  private readonly changeWaiters = new Set<() => void>();
  /** Set by the loader's GPU part. */
  onGpuChange: (() => void) | null = null;

  constructor(readonly o: LoaderOptions) {
    // The last run's uses: rows show when each model was last used, and this run's uses order after them.
    for (const [name, at] of o.usage?.restored() ?? []) {
      this.runtime(name).lastUsed = at;
      this.lastUseTime = Math.max(this.lastUseTime, at);
    }
  }

  runtime(name: string): Runtime {
    let rt = this.runtimes.get(name);
    if (!rt) {
      rt = newRuntime(name);
      this.runtimes.set(name, rt);
    }
    return rt;
  }

  loadableEntry(name: string): CatalogEntry {
    const entry = this.o.catalog.get(name);
    if (!entry) throw new LoadoutError('not_found', `There is no model named "${name}". Check the name, or add the model to the models folder.`);
    if (entry.status === 'error') throw new LoadoutError('invalid', `${name} cannot be loaded: ${entry.error}`);
    if (entry.status === 'disabled') throw new LoadoutError('invalid', `${name} is disabled in its config (disabled: true). Enable it to load it.`);
    if (entry.status === 'not_downloaded') {
      throw this.o.notDownloaded?.(entry) ?? new LoadoutError('not_downloaded', `${name} is not downloaded yet (${entry.uri}). Download the file into the models folder first.`);
    }
    return entry;
  }

  entryPinned(name: string): boolean {
    return this.o.catalog.get(name)?.config.pinned ?? false;
  }

  rowOf(name: string): ModelRow {
    return buildRow(name, this.o.catalog.get(name), this.runtimes.get(name), this.o.estimateMemory);
  }

  policyView(): PolicyModel[] {
    const out: PolicyModel[] = [];
    for (const rt of this.runtimes.values()) {
      const entry = this.o.catalog.get(rt.name);
      out.push({
        name: rt.name,
        state: rt.state,
        groups: entry?.config.concurrency_groups ?? [],
        pinned: entry?.config.pinned ?? false,
        // Slot holders still waiting for threads count too: they are about to run.
        inFlight: Math.max(rt.active, rt.requests.size) + rt.queue.length + rt.awaitingLoad,
        lastUsed: rt.lastUsed,
        // Before its host exists (starting), a remote model is known by its backend.
        remote: rt.host ? rt.host.kind === 'remote' : !!entry && this.remoteAddressOf(entry) !== null,
        address: rt.host ? (rt.host.kind === 'remote' ? rt.host.address : null) : entry ? this.remoteAddressOf(entry) : null,
        memoryBytes: rt.rssBytes ?? (entry ? this.o.estimateMemory(entry) ?? 0 : 0),
      });
    }
    return out;
  }

  policyTarget(entry: CatalogEntry): PolicyTarget {
    const address = this.remoteAddressOf(entry);
    return { name: entry.name, groups: entry.config.concurrency_groups, remote: address !== null, address, needBytes: this.o.estimateMemory(entry) ?? 0 };
  }

  /** The `host:port` of a model served by a remote backend (U6), or null for a local one. */
  remoteAddressOf(entry: CatalogEntry): string | null {
    if (!entry.config.backend) return null;
    try {
      const b = this.o.backends.resolve(entry.config.backend);
      return b.kind === 'remote' ? b.address : null;
    } catch {
      // An unknown backend fails at load with its own message.
      return null;
    }
  }

  setFailure(rt: Runtime, err: LoadoutError, exit?: ExitInfo): void {
    rt.failure = {
      code: err.code,
      message: err.message,
      exitCode: exit?.code ?? null,
      signal: exit?.signal ?? null,
      stderr: exit?.stderr ?? null,
    };
    rt.progress = null;
    this.log(rt.name, `failed: ${err.message}`);
    this.set(rt, 'failed');
  }

  /** L13: 10 s (the cooldown setting), doubling, capped at 5 min. */
  backoffMs(failures: number): number {
    const base = (this.o.settings().load_failure_cooldown || RESTART_BASE_MS / 1000) * 1000;
    return Math.min(COOLDOWN_CAP_MS, base * 2 ** (failures - 1));
  }

  touch(rt: Runtime): void {
    this.markUsed(rt);
    this.changed(rt);
  }

  /** R1/L1: sets `lastUsed` (the LRU order) and keeps it for the next run. */
  markUsed(rt: Runtime): void {
    rt.lastUsed = this.useTime();
    this.o.usage?.note(rt.name, rt.lastUsed);
  }

  /**
   * The clock's time, but strictly later than the previous use: two uses in the same millisecond
   * (a cache hit right after a load) must still order the LRU list by which came last.
   */
  useTime(): number {
    this.lastUseTime = Math.max(this.o.clock.now(), this.lastUseTime + 1);
    return this.lastUseTime;
  }

  set(rt: Runtime, state: ModelState): void {
    rt.state = state;
    this.changed(rt);
  }

  changed(rt: Runtime): void {
    this.o.emit({ type: 'model', row: this.rowOf(rt.name) });
    // A GPU model's state moves its VRAM in or out of Loadout's use (the GPU bar, V11).
    if (rt.gpu && rt.gpu.placement.gpuLayers > 0) this.onGpuChange?.();
    this.notify();
  }

  notify(): void {
    if (this.changeWaiters.size === 0) return;
    const waiters = [...this.changeWaiters];
    this.changeWaiters.clear();
    for (const w of waiters) w();
  }

  /** Resolves at the next state change anywhere, after `timeoutMs`, or rejects on abort. */
  nextChange(timeoutMs?: number, signal?: AbortSignal): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      let timer: unknown = null;
      const done = () => {
        this.changeWaiters.delete(done);
        if (timer !== null) this.o.clock.clearTimeout(timer);
        signal?.removeEventListener('abort', onAbort);
        resolve();
      };
      const onAbort = () => {
        this.changeWaiters.delete(done);
        if (timer !== null) this.o.clock.clearTimeout(timer);
        reject(signal!.reason);
      };
      this.changeWaiters.add(done);
      if (timeoutMs !== undefined) timer = this.o.clock.setTimeout(done, Math.max(0, timeoutMs));
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Resolves with null after `ms` on the injected clock (House A3: no raw timers in the loader). */
  sleep(ms: number): Promise<null> {
    return new Promise((resolve) => this.o.clock.setTimeout(() => resolve(null), ms));
  }

  /** Wakes every waiter (on dispose, so none is left hanging). */
  wakeAll(): void {
    for (const w of this.changeWaiters) w();
  }

  /** Waits for `p` unless the caller gives up first (the work itself goes on). */
  waitFor<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!signal) return p;
    if (signal.aborted) return Promise.reject(new LoadoutError('cancelled', 'The request was cancelled.'));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new LoadoutError('cancelled', 'The request was cancelled.'));
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  record(e: Omit<JournalEntry, 'at'>): void {
    const entry: JournalEntry = { at: new Date(this.o.clock.now()).toISOString(), ...e };
    this.o.journal.add(entry);
    this.o.emit({ type: 'journal', entry });
    this.log(e.model, e.sentence);
  }

  log(model: string, text: string): void {
    this.o.log(model, text);
  }
}

export function exitText(info: ExitInfo): string {
  if (info.signal) return `signal ${info.signal}`;
  return `exit code ${info.code}`;
}
