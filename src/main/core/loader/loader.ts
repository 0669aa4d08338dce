/**
 * The local model loader (L1-L14, R1-R6, U1-U6): the `ModelRouter` the core uses, over backend
 * hosts on this machine and remote `host:port` backends. Its parts share one `ModelTable`:
 * `load.ts` (admission and start), `unload.ts`, `slots.ts` (requests), `supervision.ts`
 * (crashes, restarts, policy upkeep, the watchdog's view) and `views.ts` (rows, snapshot, plan).
 * Decisions are made synchronously on one consistent view (policy.ts); only slow work is awaited.
 */
import { LoadoutError } from '../../../shared/errors';
import type { ModelRow, Plan, Snapshot } from '../../../shared/model';
import { isResident } from '../../../shared/model';
import type { EmbeddingResult__Output as EmbeddingResult, PredictOptions, TokenizationResponse__Output as TokenizationResponse } from '../../../wire';
import { GpuMonitor } from '../gpu/monitor';
import { LoaderGpu } from './gpu';
import { Loads } from './load';
import { unloadSentence } from './policy';
import type { ModelRouter, RequestOptions, StreamChunk, UnloadOptions } from './router';
import { RequestSlots } from './slots';
import { Supervisor } from './supervision';
import type { WatchModel } from './supervision';
import { ModelTable } from './table';
import type { LoaderOptions } from './table';
import { ThreadBudget } from './threadBudget';
import { Unloads } from './unload';
import { planOf, snapshotOf } from './views';

export type { LoadOrigin, ModelRouter, RequestOptions, StreamChunk, UnloadOptions } from './router';
export type { BackendResolver, CatalogView, LoaderOptions } from './table';
export type { WatchModel } from './supervision';

export class Loader implements ModelRouter {
  private readonly t: ModelTable;
  private readonly loads: Loads;
  private readonly unloads: Unloads;
  private readonly slots: RequestSlots;
  private readonly supervisor: Supervisor;
  private readonly gpu: LoaderGpu;

  constructor(o: LoaderOptions) {
    this.t = new ModelTable(o);
    this.gpu = new LoaderGpu(this.t, o.gpu ?? { monitor: new GpuMonitor({ setting: () => o.settings().gpu, now: () => o.clock.now() }) }, (n, opts) => this.unload(n, opts));
    this.t.onGpuChange = () => this.gpu.emitDevices();
    const threadBudget = new ThreadBudget(() => o.settings().threads_budget || o.physicalCores);
    this.unloads = new Unloads(this.t, { cancelLoad: (n) => this.cancelLoad(n) });
    this.supervisor = new Supervisor(this.t, threadBudget, {
      startLoad: (n, origin) => this.loads.startLoad(n, origin),
      unload: (n, opts) => this.unload(n, opts),
    });
    this.loads = new Loads(this.t, {
      unload: (n, opts) => this.unload(n, opts),
      onHostExit: (rt, host, info) => this.supervisor.onHostExit(rt, host, info),
      dropRemote: (rt, host, why) => this.supervisor.dropRemote(rt, host, why),
      enforceLimits: () => this.enforceLimits(),
      gpu: this.gpu,
    });
    this.slots = new RequestSlots(this.t, threadBudget, {
      load: (n, opts) => this.load(n, opts),
      unload: (n, opts) => this.unload(n, opts),
      dropRemote: (rt, host, why) => this.supervisor.dropRemote(rt, host, why),
    });
  }

  load(name: string, opts: RequestOptions = {}): Promise<ModelRow> {
    return this.loads.load(name, opts);
  }

  unload(name: string, opts: UnloadOptions = {}): Promise<void> {
    return this.unloads.unload(name, opts);
  }

  cancelLoad(name: string): boolean {
    return this.loads.cancelLoad(name);
  }

  stream(name: string, options: PredictOptions, opts: RequestOptions = {}): AsyncGenerator<StreamChunk> {
    return this.slots.stream(name, options, opts);
  }

  predict(name: string, options: PredictOptions, opts: RequestOptions = {}): Promise<StreamChunk> {
    return this.slots.predict(name, options, opts);
  }

  embed(name: string, options: PredictOptions, opts: RequestOptions = {}): Promise<EmbeddingResult> {
    return this.slots.embed(name, options, opts);
  }

  tokenize(name: string, options: PredictOptions, opts: RequestOptions = {}): Promise<TokenizationResponse> {
    return this.slots.tokenize(name, options, opts);
  }

  plan(name: string): Plan {
    return planOf(this.t, this.gpu, name);
  }

  rowOf(name: string): ModelRow {
    return this.t.rowOf(name);
  }

  snapshot(): Snapshot {
    return snapshotOf(this.t, this.gpu);
  }

  /** W4: applies settings and policy-key changes to resident models at once. */
  enforcePolicy(): void {
    this.enforceLimits();
    // Catalog edits reach the rows (groups, pinned, "reload to apply").
    for (const rt of this.t.runtimes.values()) this.t.changed(rt);
  }

  enforceLimits(): void {
    this.supervisor.enforceLimits();
  }

  watchView(): WatchModel[] {
    return this.supervisor.watchView();
  }

  unloadStalled(name: string, text: string): Promise<void> {
    return this.supervisor.unloadStalled(name, text);
  }

  refreshMemory(): void {
    this.supervisor.refreshMemory();
  }

  /** C3: a config template failed to render and the GGUF's own template is used; the row says so. */
  setTemplateWarning(name: string, warning: string | null): void {
    const rt = this.t.runtime(name);
    if (rt.templateWarning === warning) return;
    rt.templateWarning = warning;
    this.t.changed(rt);
  }

  /** No load in progress and nothing generating: background work will not slow anyone down. */
  isQuiet(): boolean {
    for (const rt of this.t.runtimes.values()) if (rt.loading || rt.active > 0 || rt.queue.length > 0) return false;
    return true;
  }

  /** Called when the catalog changes a model: rows update; a removed model's instance is unloaded. */
  catalogChanged(name: string, removed: boolean): void {
    const rt = this.t.runtimes.get(name);
    if (removed) {
      if (rt && (rt.host || rt.loading)) {
        void this.unload(name, { reason: 'settings', sentence: unloadSentence('settings', name, { text: 'its model file or config was removed' }) }).catch(() => {});
      }
      if (!rt || (!rt.host && !rt.loading)) {
        this.t.runtimes.delete(name);
        this.t.o.emit({ type: 'removed', name });
      }
      return;
    }
    this.t.o.emit({ type: 'model', row: this.rowOf(name) });
  }

  /** U4: stops every backend; used on quit and SIGTERM. */
  async dispose(): Promise<void> {
    this.t.disposed = true;
    this.gpu.stop();
    const work: Promise<unknown>[] = [];
    for (const rt of this.t.runtimes.values()) {
      this.t.o.clock.clearTimeout(rt.restartTimer);
      rt.restartTimer = null;
      if (rt.loadAbort) rt.loadAbort.abort(new LoadoutError('cancelled', 'Loadout is shutting down.'));
      if (rt.loading) work.push(rt.loading.catch(() => {}));
      if (rt.host && isResident(rt.state)) {
        work.push(this.unload(rt.name, { force: true, reason: 'shutdown' }).catch(() => {}));
      } else if (rt.host) {
        work.push(rt.host.stop(0).catch(() => {}));
      }
      if (rt.stopping) work.push(rt.stopping.catch(() => {}));
    }
    await Promise.all(work);
    this.t.wakeAll();
  }
}
