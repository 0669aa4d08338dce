/**
 * Loading (L1-L14): coalesced loads, admission under the policy (evicting what must go), the
 * backend start, LoadModel with its deadline and progress, failures and their cooldown.
 */
import { LoadoutError, isLoadoutError, toErrorData } from '../../../shared/errors';
import type { ErrorCode } from '../../../shared/errors';
import type { ModelRow } from '../../../shared/model';
import { isResident } from '../../../shared/model';
import { builtinBackendEnv } from '../backends/builtin';
import { BUILTIN_BACKEND } from '../backends/registry';
import { externalModelOptions } from '../gpu/configKeys';
import type { ExitInfo, ModelHost, ResolvedBackend } from '../backends/types';
import { parallelOf } from '../catalog/options';
import type { CatalogEntry } from '../catalog/types';
import type { ModelOptions } from '../../../wire';
import type { LoaderGpu } from './gpu';
import { decideAdmission } from './policy';
import type { LoadOrigin, RequestOptions, UnloadOptions } from './router';
import { PROGRESS_POLL_MS, REMOTE_RECHECK_MS } from './runtime';
import type { Runtime } from './runtime';
import { exitText } from './table';
import type { ModelTable } from './table';

export interface LoadDeps {
  unload(name: string, opts: UnloadOptions): Promise<void>;
  /** U3: the supervisor watches every started host. */
  onHostExit(rt: Runtime, host: ModelHost, info: ExitInfo): void;
  dropRemote(rt: Runtime, host: ModelHost, why: string): void;
  /** W4: a load admitted under an old cap can finish after the cap was lowered. */
  enforceLimits(): void;
  /** The GPU side: the backend's `gpu`, the layer decision and VRAM admission (V2-V10). */
  gpu: LoaderGpu;
}

export class Loads {
  constructor(
    private readonly t: ModelTable,
    private readonly deps: LoadDeps,
  ) {}

  /**
   * Loads a model (or returns at once if it is resident: L1). Concurrent loads of one model share
   * one attempt (L2). The caller's signal only stops this caller waiting; the load goes on (L12).
   */
  load(name: string, opts: RequestOptions = {}): Promise<ModelRow> {
    try {
      return this.loadOrJoin(name, opts);
    } catch (e) {
      return Promise.reject(e);
    }
  }

  private loadOrJoin(name: string, opts: RequestOptions): Promise<ModelRow> {
    const origin = opts.origin ?? 'user';
    const rt = this.t.runtimes.get(name);
    if (rt && isResident(rt.state) && rt.host) {
      if (rt.host.kind === 'remote' && this.t.o.clock.now() - rt.remoteCheckedAt > REMOTE_RECHECK_MS) {
        return this.t.waitFor(this.recheckRemote(rt, origin), opts.signal);
      }
      this.t.touch(rt);
      return Promise.resolve(this.t.rowOf(name));
    }
    if (rt?.loading) return this.t.waitFor(rt.loading, opts.signal);
    return this.t.waitFor(this.startLoad(name, origin), opts.signal);
  }

  startLoad(name: string, origin: LoadOrigin): Promise<ModelRow> {
    const entry = this.t.loadableEntry(name);
    const rt = this.t.runtime(name);
    const now = this.t.o.clock.now();
    if (origin === 'api' && rt.cooldown.until > now) {
      const retryAfter = Math.ceil((rt.cooldown.until - now) / 1000);
      throw new LoadoutError('cooldown', `${name} failed to load ${rt.cooldown.failures} time(s); retrying on demand in ${retryAfter} s. ${rt.failure?.message ?? ''}`.trim(), { retryAfter });
    }
    const abort = new AbortController();
    rt.loadAbort = abort;
    rt.loadOrigin = origin;
    rt.loadStartedAt = now;
    rt.failure = null;
    rt.progress = null;
    rt.progressSeenAt = null;
    rt.gpu = null;
    rt.vramBytes = null;
    const promise = this.coldLoad(rt, entry, abort.signal).finally(() => {
      if (rt.loading === promise) {
        rt.loading = null;
        rt.loadAbort = null;
      }
      this.t.changed(rt);
    });
    rt.loading = promise;
    this.t.changed(rt);
    return promise;
  }

  private async coldLoad(rt: Runtime, entry: CatalogEntry, signal: AbortSignal): Promise<ModelRow> {
    // A previous instance still stopping must be gone before a new process starts (I3).
    while (rt.stopping) await rt.stopping;
    const candidates = this.backendCandidates(entry);
    const reasons: string[] = [];
    for (const backend of candidates) {
      try {
        await this.admit(rt, entry, signal);
        return await this.startOn(rt, entry, backend, signal);
      } catch (e) {
        const failed = this.failLoad(rt, e, signal);
        // Policy refusals and cancellation are not the backend's fault: no other backend will do better.
        if (candidates.length === 1 || !['backend_failed', 'timeout', 'backend_crashed'].includes(failed.code)) throw failed;
        reasons.push(`${backend.name}: ${failed.message}`);
      }
    }
    const all = new LoadoutError('backend_failed', `${rt.name} could not be loaded by any backend: ${reasons.join('; ')}`);
    this.t.setFailure(rt, all);
    throw all;
  }

  private backendCandidates(entry: CatalogEntry): ResolvedBackend[] {
    const backends = this.t.o.backends;
    if (entry.config.backend) return [backends.resolve(entry.config.backend)];
    const names = backends.candidatesFor(entry.file);
    if (names.length === 0) throw new LoadoutError('invalid', `No backend can serve ${entry.file ?? entry.name}. Set "backend:" in its config.`);
    return names.map((n) => backends.resolve(n));
  }

  /** L4-L7: wait until the policy admits the load, unloading what must go; then reserve the slot. */
  private async admit(rt: Runtime, entry: CatalogEntry, signal: AbortSignal): Promise<void> {
    let idleDeadline: number | null = null;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      // Groups may change while this load waits for room: always decide on the current config.
      const current = this.t.o.catalog.get(rt.name) ?? entry;
      const decision = decideAdmission(this.t.policyView(), this.t.policyTarget(current), this.t.o.settings());
      if (decision.kind === 'fail') throw new LoadoutError(decision.code, decision.message);
      if (decision.kind === 'admit') {
        this.t.set(rt, 'starting');
        return;
      }
      // Trust 5: evict only once nothing else stands in the way. While a busy model must still
      // go idle, the idle ones stay: if that wait runs out, the load fails having evicted nothing.
      if (decision.waitIdle.length === 0) {
        for (const u of decision.unloads) {
          this.t.log(rt.name, `making room: ${u.sentence}`);
          void this.deps.unload(u.name, { reason: u.reason, sentence: u.sentence, by: rt.name }).catch(() => {});
        }
      }
      let waitMs: number | undefined;
      if (decision.waitExit.length === 0 && decision.waitIdle.length > 0) {
        const now = this.t.o.clock.now();
        idleDeadline ??= now + this.t.o.settings().eviction_wait * 1000;
        if (now >= idleDeadline && decision.timeout) throw new LoadoutError(decision.timeout.code, decision.timeout.message, { retryAfter: 5 });
        waitMs = idleDeadline - now;
      }
      await this.t.nextChange(waitMs, signal);
    }
  }

  private async startOn(rt: Runtime, entry: CatalogEntry, backend: ResolvedBackend, signal: AbortSignal): Promise<ModelRow> {
    const s = this.t.o.settings();
    const clock = this.t.o.clock;
    const launcher = backend.kind === 'remote' ? this.t.o.launchers.remote : this.t.o.launchers.local;
    const builtin = backend.kind === 'program' && backend.name === BUILTIN_BACKEND;
    const env = builtin ? { ...builtinBackendEnv(parallelOf(entry.config), this.deps.gpu.backendGpu()), ...this.deps.gpu.monitor.backendEnv() } : undefined;
    const host = await launcher.start({ model: rt.name, backend, env, startTimeoutMs: s.start_timeout * 1000, signal });
    if (signal.aborted) {
      await host.stop(0);
      throw signal.reason;
    }
    rt.host = host;
    rt.remoteCheckedAt = clock.now();
    void host.exited.then((info) => this.deps.onHostExit(rt, host, info));
    // W2: the load's stall clock starts now, so a backend that never reports progress (frozen, or
    // a LocalAI backend that cannot) is stuck after stall_timeout, as a silent request is.
    rt.progressSeenAt = clock.now();
    this.t.set(rt, 'loading');

    const sizeGiB = (entry.sizeBytes ?? 0) / 1024 ** 3;
    const loadTimeoutMs = (s.load_timeout || 300 + 20 * sizeGiB) * 1000;
    const stopPolling = this.pollProgress(rt, host);
    try {
      // V5-V9: the core decides the layers (after the VRAM admission) and sends them explicitly.
      const gpuLayers = builtin ? await this.deps.gpu.place(rt, entry, host, signal) : 0;
      if (builtin) this.t.changed(rt);
      const call = host.client.loadModel(this.modelOptions(entry, builtin, gpuLayers), { timeoutMs: loadTimeoutMs, signal });
      const died = host.exited.then((info) => {
        throw new LoadoutError('backend_failed', `${backend.name} backend exited while loading ${rt.name} (${exitText(info)})${info.stderr ? `: ${info.stderr}` : ''}`);
      });
      const result = await Promise.race([call, died]);
      if (!result.success) throw new LoadoutError('backend_failed', `${backend.name} could not load ${rt.name}: ${result.message || 'no reason given'}`);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (isLoadoutError(e)) throw e;
      // The dropped connection usually arrives a moment before the exit event; the exit says more.
      const exit = await Promise.race([host.exited, this.t.sleep(500)]);
      if (exit) throw new LoadoutError('backend_failed', `${backend.name} backend exited while loading ${rt.name} (${exitText(exit)})${exit.stderr ? `: ${exit.stderr}` : ''}`);
      const err = e as { kind?: string; message?: string };
      if (err.kind === 'deadline') {
        throw new LoadoutError('timeout', `${rt.name} did not finish loading within ${Math.round(loadTimeoutMs / 1000)} s. Raise load_timeout for big models.`);
      }
      throw new LoadoutError('backend_failed', `${backend.name} could not load ${rt.name}: ${err.message ?? String(e)}`);
    } finally {
      stopPolling();
    }
    const now = clock.now();
    rt.loadedAt = now;
    this.t.markUsed(rt);
    rt.loadKey = entry.loadKey;
    rt.progress = 1;
    // A pinned model's automatic restart keeps its count until it has stayed up (supervision.ts),
    // so a model that loads and crashes again at once backs off instead of looping.
    rt.cooldown = { failures: rt.loadOrigin === 'restart' ? rt.cooldown.failures : 0, until: 0 };
    rt.rssBytes = host.rssBytes();
    this.t.set(rt, 'ready');
    this.t.log(rt.name, `ready in ${now - (rt.loadStartedAt ?? now)} ms (pid ${host.pid ?? 'remote'}, ${host.address})`);
    void this.refreshBackendMemory(rt, host);
    this.deps.enforceLimits();
    return this.t.rowOf(rt.name);
  }

  /** L14: load progress from Status while LoadModel runs; a reported advance also counts as life for W2. */
  private pollProgress(rt: Runtime, host: ModelHost): () => void {
    const clock = this.t.o.clock;
    let stopped = false;
    let timer: unknown;
    const poll = async () => {
      if (stopped) return;
      try {
        const status = await host.client.status({ timeoutMs: 2000 });
        if (!stopped && status.load_progress > 0 && status.load_progress !== rt.progress) {
          rt.progress = Math.min(1, status.load_progress);
          rt.progressSeenAt = clock.now();
          this.t.changed(rt);
        }
      } catch {
        // Status is optional for backends; elapsed time still shows.
      }
      if (!stopped) timer = clock.setTimeout(poll, PROGRESS_POLL_MS);
    };
    timer = clock.setTimeout(poll, PROGRESS_POLL_MS);
    return () => {
      stopped = true;
      clock.clearTimeout(timer);
    };
  }

  private async refreshBackendMemory(rt: Runtime, host: ModelHost): Promise<void> {
    try {
      const status = await host.client.status({ timeoutMs: 2000 });
      const breakdown = status.memory?.breakdown ?? {};
      const vram = breakdown.vram ?? breakdown.VRAM;
      if (rt.host !== host) return;
      if (rt.gpu) this.deps.gpu.noteStatus(status.gpu);
      // V4: the measured VRAM (and the layers the backend really offloaded) for the row and the next load.
      if (rt.gpu) this.deps.gpu.measured(rt, typeof vram === 'number' ? vram : 0, breakdown.gpu_layers, breakdown.total_layers);
      if (typeof vram === 'number' && vram > 0) rt.vramBytes = vram;
      if (!rt.gpu && rt.vramBytes === null) return;
      this.t.changed(rt);
      this.deps.gpu.emitDevices();
    } catch {
      // Memory figures are informative only.
    }
  }

  /** Turns any load error into a LoadoutError, records the failure, stops a half-started host. */
  private failLoad(rt: Runtime, e: unknown, signal: AbortSignal): LoadoutError {
    const host = rt.host;
    rt.host = null;
    if (host) void host.stop(0);
    let err: LoadoutError;
    if (signal.aborted) {
      err = isLoadoutError(signal.reason) ? signal.reason : new LoadoutError('cancelled', `Loading ${rt.name} was cancelled.`);
    } else if (isLoadoutError(e)) {
      err = e;
    } else {
      err = new LoadoutError('backend_failed', `${rt.name} failed to load: ${toErrorData(e).message}`);
    }
    if (err.code === 'cancelled') {
      rt.failure = null;
      rt.progress = null;
      this.t.set(rt, 'unloaded');
      this.t.log(rt.name, 'load cancelled');
      return err;
    }
    this.t.setFailure(rt, err);
    if (rt.loadOrigin !== 'user' && this.t.o.settings().load_failure_cooldown > 0 && isBackendFault(err.code)) {
      rt.cooldown.failures += 1;
      rt.cooldown.until = this.t.o.clock.now() + this.t.backoffMs(rt.cooldown.failures);
    }
    return err;
  }

  /** L12: cancel a load in progress; everyone waiting on it gets `cancelled`. */
  cancelLoad(name: string): boolean {
    const rt = this.t.runtimes.get(name);
    if (!rt?.loadAbort) return false;
    rt.loadAbort.abort(new LoadoutError('cancelled', `Loading ${name} was cancelled.`));
    return true;
  }

  private async recheckRemote(rt: Runtime, origin: LoadOrigin): Promise<ModelRow> {
    const host = rt.host;
    try {
      await host!.client.health({ timeoutMs: 2000 });
      rt.remoteCheckedAt = this.t.o.clock.now();
      this.t.touch(rt);
      return this.t.rowOf(rt.name);
    } catch {
      this.deps.dropRemote(rt, host!, 'the remote backend stopped answering');
      return rt.loading ?? this.startLoad(rt.name, origin);
    }
  }

  private modelOptions(entry: CatalogEntry, builtin: boolean, gpuLayers: number): ModelOptions {
    const c = entry.config;
    // V13: LocalAI's GPU keys as LocalAI sends them. The built-in backend gets the layer count the
    // VRAM admission decided instead (clarification 4).
    const gpu = externalModelOptions(c, this.t.o.settings().gpu);
    return {
      ...gpu,
      NGPULayers: builtin ? gpuLayers : gpu.NGPULayers,
      Model: entry.name,
      ModelFile: entry.file ?? '',
      ModelPath: this.t.o.catalog.modelsDir(),
      ContextSize: c.context_size ?? 0,
      Threads: c.threads || Math.max(1, this.t.o.physicalCores - 1),
      Seed: c.parameters.seed ?? 0,
      F16Memory: c.f16 ?? false,
      Embeddings: c.embeddings ?? false,
      Options: c.options,
    };
  }
}

function isBackendFault(code: ErrorCode): boolean {
  return code === 'backend_failed' || code === 'backend_crashed' || code === 'timeout';
}
