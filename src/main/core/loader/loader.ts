/**
 * The model loader (L1-L14, R1-R5, U1-U3, U6): loads models into backend hosts, keeps them
 * within the policy, runs requests on them and supervises them. Decisions are made
 * synchronously on one consistent view (policy.ts); only the slow work is awaited. Every
 * state change of a model goes through `set()` and is emitted as that model's row (E1).
 */
import { LoadoutError, isLoadoutError, toErrorData } from '../../../shared/errors';
import type { ErrorCode } from '../../../shared/errors';
import type {
  CoreEvent,
  Failure,
  JournalEntry,
  ModelRow,
  ModelState,
  Plan,
  Settings,
  Snapshot,
  UnloadReason,
} from '../../../shared/model';
import { isOccupying, isResident } from '../../../shared/model';
import { builtinBackendEnv } from '../backends/builtin';
import { BUILTIN_BACKEND } from '../backends/registry';
import type { ExitInfo, HostLauncher, ModelHost, ResolvedBackend } from '../backends/types';
import { parallelOf } from '../catalog/options';
import type { CatalogEntry } from '../catalog/types';
import type { Clock } from '../clock';
import type { EmbeddingResult, ModelOptions, PredictOptions, Reply, TokenizationResponse, ToolCallDelta } from '../grpc/types';
import type { Journal } from '../journal';
import { decideAdmission, formatBytes, settingsSurplus, unloadSentence } from './policy';
import type { PolicyModel } from './policy';
import { ThreadBudget } from './threadBudget';

/** gRPC status 3: the backend refuses the request's input. */
const GRPC_INVALID_ARGUMENT = 3;

/** Who asked for a load: the API's on-demand loads get the failure cooldown (L13), users never. */
export type LoadOrigin = 'user' | 'api' | 'restart';

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
}

export interface RequestOptions {
  signal?: AbortSignal;
  origin?: LoadOrigin;
}

export interface StreamChunk {
  text: string;
  /** Totals, as the backend reports them (on the last chunk at least). */
  tokens: number;
  promptTokens: number;
  /** Pieces of tool calls (Reply.chat_deltas[].tool_calls), for backends that do function calling. */
  toolCalls?: ToolCallDelta[];
}

interface RequestRecord {
  startedAt: number;
  lastProgressAt: number;
  abort: AbortController;
}

interface Runtime {
  name: string;
  state: ModelState;
  host: ModelHost | null;
  failure: Failure | null;
  loadStartedAt: number | null;
  loadedAt: number | null;
  lastUsed: number;
  progress: number | null;
  progressSeenAt: number | null;
  /** A load in flight (coalescing, L2). */
  loading: Promise<ModelRow> | null;
  loadAbort: AbortController | null;
  loadOrigin: LoadOrigin;
  stopping: Promise<void> | null;
  stopForced: boolean;
  /** Requests holding a parallel slot. */
  active: number;
  queue: { admit: () => void; reject: (e: unknown) => void }[];
  waitingThreads: number;
  threads: { held: number; pending: Promise<number> | null };
  requests: Set<RequestRecord>;
  rssBytes: number | null;
  vramBytes: number | null;
  /** The catalog loadKey this instance was loaded with (C6 "reload to apply"). */
  loadKey: string | null;
  remoteCheckedAt: number;
  cooldown: { failures: number; until: number };
  restartTimer: unknown;
  /** Pending W4 unload: goes once idle. */
  drain: { sentence: string } | null;
  templateWarning: string | null;
}

const RESTART_BASE_MS = 10_000;
const COOLDOWN_CAP_MS = 300_000;
const REMOTE_RECHECK_MS = 30_000;
const STOP_GRACE_MS = 10_000;
const FREE_BUDGET_MS = 5_000;
const PROGRESS_POLL_MS = 250;

export class Loader {
  private readonly runtimes = new Map<string, Runtime>();
  private lastUseTime = 0;
  private readonly changeWaiters = new Set<() => void>();
  private readonly threadBudget: ThreadBudget;
  private disposed = false;

  constructor(private readonly o: LoaderOptions) {
    this.threadBudget = new ThreadBudget(() => this.o.settings().threads_budget || this.o.physicalCores);
  }

  // ---------------------------------------------------------------- load

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
    const rt = this.runtimes.get(name);
    if (rt && isResident(rt.state) && rt.host) {
      if (rt.host.kind === 'remote' && this.o.clock.now() - rt.remoteCheckedAt > REMOTE_RECHECK_MS) {
        return this.waitFor(this.recheckRemote(rt, origin), opts.signal);
      }
      this.touch(rt);
      return Promise.resolve(this.rowOf(name));
    }
    if (rt?.loading) return this.waitFor(rt.loading, opts.signal);
    return this.waitFor(this.startLoad(name, origin), opts.signal);
  }

  private startLoad(name: string, origin: LoadOrigin): Promise<ModelRow> {
    const entry = this.loadableEntry(name);
    const rt = this.runtime(name);
    const now = this.o.clock.now();
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
    const promise = this.coldLoad(rt, entry, abort.signal).finally(() => {
      if (rt.loading === promise) {
        rt.loading = null;
        rt.loadAbort = null;
      }
      this.changed(rt);
    });
    rt.loading = promise;
    this.changed(rt);
    return promise;
  }

  private loadableEntry(name: string): CatalogEntry {
    const entry = this.o.catalog.get(name);
    if (!entry) throw new LoadoutError('not_found', `There is no model named "${name}". Check the name, or add the model to the models folder.`);
    if (entry.status === 'error') throw new LoadoutError('invalid', `${name} cannot be loaded: ${entry.error}`);
    if (entry.status === 'disabled') throw new LoadoutError('invalid', `${name} is disabled in its config (disabled: true). Enable it to load it.`);
    if (entry.status === 'not_downloaded') throw new LoadoutError('invalid', `${name} is not downloaded yet (${entry.uri}). Download the file into the models folder first.`);
    return entry;
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
    this.setFailure(rt, all);
    throw all;
  }

  private backendCandidates(entry: CatalogEntry): ResolvedBackend[] {
    if (entry.config.backend) return [this.o.backends.resolve(entry.config.backend)];
    const names = this.o.backends.candidatesFor(entry.file);
    if (names.length === 0) throw new LoadoutError('invalid', `No backend can serve ${entry.file ?? entry.name}. Set "backend:" in its config.`);
    return names.map((n) => this.o.backends.resolve(n));
  }

  /** L4-L7: wait until the policy admits the load, unloading what must go; then reserve the slot. */
  private async admit(rt: Runtime, entry: CatalogEntry, signal: AbortSignal): Promise<void> {
    let idleDeadline: number | null = null;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      // Groups may change while this load waits for room: always decide on the current config.
      const current = this.o.catalog.get(rt.name) ?? entry;
      const decision = decideAdmission(this.policyView(), this.policyTarget(current), this.o.settings());
      if (decision.kind === 'fail') throw new LoadoutError(decision.code, decision.message);
      if (decision.kind === 'admit') {
        this.set(rt, 'starting');
        return;
      }
      for (const u of decision.unloads) {
        this.log(rt.name, `making room: ${u.sentence}`);
        void this.unload(u.name, { reason: u.reason, sentence: u.sentence, by: rt.name }).catch(() => {});
      }
      let waitMs: number | undefined;
      if (decision.unloads.length === 0 && decision.waitExit.length === 0 && decision.waitIdle.length > 0) {
        const now = this.o.clock.now();
        idleDeadline ??= now + this.o.settings().eviction_wait * 1000;
        if (now >= idleDeadline && decision.timeout) throw new LoadoutError(decision.timeout.code, decision.timeout.message, { retryAfter: 5 });
        waitMs = idleDeadline - now;
      }
      await this.nextChange(waitMs, signal);
    }
  }

  private async startOn(rt: Runtime, entry: CatalogEntry, backend: ResolvedBackend, signal: AbortSignal): Promise<ModelRow> {
    const s = this.o.settings();
    const launcher = backend.kind === 'remote' ? this.o.launchers.remote : this.o.launchers.local;
    const env = backend.kind === 'program' && backend.name === BUILTIN_BACKEND ? builtinBackendEnv(parallelOf(entry.config)) : undefined;
    const host = await launcher.start({ model: rt.name, backend, env, startTimeoutMs: s.start_timeout * 1000, signal });
    if (signal.aborted) {
      await host.stop(0);
      throw signal.reason;
    }
    rt.host = host;
    rt.remoteCheckedAt = this.o.clock.now();
    void host.exited.then((info) => this.onHostExit(rt, host, info));
    // W2: the load's stall clock starts now, so a backend that never reports progress (frozen, or
    // a LocalAI backend that cannot) is stuck after stall_timeout, as a silent request is.
    rt.progressSeenAt = this.o.clock.now();
    this.set(rt, 'loading');

    const sizeGiB = (entry.sizeBytes ?? 0) / 1024 ** 3;
    const loadTimeoutMs = (s.load_timeout || 300 + 20 * sizeGiB) * 1000;
    const stopPolling = this.pollProgress(rt, host);
    try {
      const call = host.client.loadModel(this.modelOptions(entry), { timeoutMs: loadTimeoutMs, signal });
      const died = host.exited.then((info) => {
        throw new LoadoutError('backend_failed', `${backend.name} backend exited while loading ${rt.name} (${exitText(info)})${info.stderr ? `: ${info.stderr}` : ''}`);
      });
      const result = await Promise.race([call, died]);
      if (!result.success) throw new LoadoutError('backend_failed', `${backend.name} could not load ${rt.name}: ${result.message || 'no reason given'}`);
    } catch (e) {
      if (signal.aborted) throw signal.reason;
      if (isLoadoutError(e)) throw e;
      // The dropped connection usually arrives a moment before the exit event; the exit says more.
      const exit = await Promise.race([host.exited, delay(500, null)]);
      if (exit) throw new LoadoutError('backend_failed', `${backend.name} backend exited while loading ${rt.name} (${exitText(exit)})${exit.stderr ? `: ${exit.stderr}` : ''}`);
      const err = e as { kind?: string; message?: string };
      if (err.kind === 'deadline') {
        throw new LoadoutError('timeout', `${rt.name} did not finish loading within ${Math.round(loadTimeoutMs / 1000)} s. Raise load_timeout for big models.`);
      }
      throw new LoadoutError('backend_failed', `${backend.name} could not load ${rt.name}: ${err.message ?? String(e)}`);
    } finally {
      stopPolling();
    }
    const now = this.o.clock.now();
    rt.loadedAt = now;
    rt.lastUsed = this.useTime();
    rt.loadKey = entry.loadKey;
    rt.progress = 1;
    rt.cooldown = { failures: 0, until: 0 };
    rt.rssBytes = host.rssBytes();
    this.set(rt, 'ready');
    this.log(rt.name, `ready in ${now - (rt.loadStartedAt ?? now)} ms (pid ${host.pid ?? 'remote'}, ${host.address})`);
    void this.refreshBackendMemory(rt, host);
    this.enforceLimits();
    return this.rowOf(rt.name);
  }

  /** L14: load progress from Status while LoadModel runs; a reported advance also counts as life for W2. */
  private pollProgress(rt: Runtime, host: ModelHost): () => void {
    let stopped = false;
    let timer: unknown;
    const poll = async () => {
      if (stopped) return;
      try {
        const status = await host.client.status({ timeoutMs: 2000 });
        if (!stopped && status.load_progress > 0 && status.load_progress !== rt.progress) {
          rt.progress = Math.min(1, status.load_progress);
          rt.progressSeenAt = this.o.clock.now();
          this.changed(rt);
        }
      } catch {
        // Status is optional for backends; elapsed time still shows.
      }
      if (!stopped) timer = this.o.clock.setTimeout(poll, PROGRESS_POLL_MS);
    };
    timer = this.o.clock.setTimeout(poll, PROGRESS_POLL_MS);
    return () => {
      stopped = true;
      this.o.clock.clearTimeout(timer);
    };
  }

  private async refreshBackendMemory(rt: Runtime, host: ModelHost): Promise<void> {
    try {
      const status = await host.client.status({ timeoutMs: 2000 });
      const vram = status.memory?.breakdown?.vram ?? status.memory?.breakdown?.VRAM;
      if (rt.host === host && typeof vram === 'number' && vram > 0) {
        rt.vramBytes = vram;
        this.changed(rt);
      }
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
      this.set(rt, 'unloaded');
      this.log(rt.name, 'load cancelled');
      return err;
    }
    this.setFailure(rt, err);
    if (rt.loadOrigin !== 'user' && this.o.settings().load_failure_cooldown > 0 && isBackendFault(err.code)) {
      rt.cooldown.failures += 1;
      rt.cooldown.until = this.o.clock.now() + this.backoffMs(rt.cooldown.failures);
    }
    return err;
  }

  private setFailure(rt: Runtime, err: LoadoutError, exit?: ExitInfo): void {
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

  private backoffMs(failures: number): number {
    const base = (this.o.settings().load_failure_cooldown || RESTART_BASE_MS / 1000) * 1000;
    return Math.min(COOLDOWN_CAP_MS, base * 2 ** (failures - 1));
  }

  /** L12: cancel a load in progress; everyone waiting on it gets `cancelled`. */
  cancelLoad(name: string): boolean {
    const rt = this.runtimes.get(name);
    if (!rt?.loadAbort) return false;
    rt.loadAbort.abort(new LoadoutError('cancelled', `Loading ${name} was cancelled.`));
    return true;
  }

  private async recheckRemote(rt: Runtime, origin: LoadOrigin): Promise<ModelRow> {
    const host = rt.host;
    try {
      await host!.client.health({ timeoutMs: 2000 });
      rt.remoteCheckedAt = this.o.clock.now();
      this.touch(rt);
      return this.rowOf(rt.name);
    } catch {
      this.dropRemote(rt, host!, 'the remote backend stopped answering');
      return rt.loading ?? this.startLoad(rt.name, origin);
    }
  }

  // ---------------------------------------------------------------- unload

  /**
   * U1/U2: graceful unload waits for in-flight requests (unload_grace), calls Free, then stops
   * the process (SIGTERM, 10 s, SIGKILL). Force skips the wait and Free. Resolves once the
   * process has exited. Unloading a model that is loading cancels the load (L12).
   */
  async unload(name: string, opts: { force?: boolean; reason?: UnloadReason; sentence?: string; by?: string | null } = {}): Promise<void> {
    const rt = this.runtimes.get(name);
    if (!rt) {
      if (!this.o.catalog.get(name)) throw new LoadoutError('not_found', `There is no model named "${name}".`);
      return;
    }
    if (rt.loading && (rt.state === 'starting' || rt.state === 'loading' || rt.state === 'unloaded' || rt.state === 'failed')) {
      this.cancelLoad(name);
      await rt.loading.catch(() => {});
      return;
    }
    if (rt.stopping) {
      if (opts.force && !rt.stopForced) this.forceStop(rt, opts.reason ?? 'user');
      return rt.stopping;
    }
    if (!rt.host || !isResident(rt.state)) return;
    const reason = opts.reason ?? 'user';
    const sentence = opts.sentence ?? unloadSentence(reason, name, { by: opts.by });
    this.record({ model: name, reason, sentence, by: opts.by ?? null });
    const host = rt.host;
    rt.drain = null;
    rt.stopForced = !!opts.force;
    this.set(rt, 'stopping');
    rt.stopping = this.stopHost(rt, host, !!opts.force, reason).finally(() => {
      rt.stopping = null;
      rt.stopForced = false;
      if (rt.host === host) rt.host = null;
      if (rt.state === 'stopping') this.set(rt, 'unloaded');
      else this.changed(rt);
    });
    return rt.stopping;
  }

  private async stopHost(rt: Runtime, host: ModelHost, force: boolean, reason: UnloadReason): Promise<void> {
    const s = this.o.settings();
    this.rejectQueue(rt, new LoadoutError('unloaded', `${rt.name} was unloaded (${reason}) before this request started.`));
    if (force) {
      this.abortRequests(rt, new LoadoutError('unloaded', `${rt.name} was unloaded (${reason}) while answering.`));
      await host.stop(0);
      return;
    }
    if (rt.active > 0) {
      const deadline = this.o.clock.now() + s.unload_grace * 1000;
      while (rt.active > 0 && !rt.stopForced) {
        const left = deadline - this.o.clock.now();
        if (left <= 0) break;
        await this.nextChange(left);
      }
      if (rt.active > 0) this.abortRequests(rt, new LoadoutError('unloaded', `${rt.name} was unloaded (${reason}) after waiting ${s.unload_grace} s for this request.`));
    }
    if (rt.stopForced) {
      await host.stop(0);
      return;
    }
    if (host.kind === 'local') {
      await Promise.race([host.client.free({ timeoutMs: FREE_BUDGET_MS }).catch(() => undefined), host.exited]);
    }
    await host.stop(STOP_GRACE_MS);
  }

  private forceStop(rt: Runtime, reason: UnloadReason): void {
    rt.stopForced = true;
    this.abortRequests(rt, new LoadoutError('unloaded', `${rt.name} was unloaded (${reason}) while answering.`));
    void rt.host?.stop(0);
    this.notify();
  }

  /** U3: a backend process exited. Expected while stopping; otherwise a crash. */
  private onHostExit(rt: Runtime, host: ModelHost, info: ExitInfo): void {
    if (rt.host !== host) return; // a stale instance: never touch the current one (U1)
    if (rt.state === 'stopping' || rt.state === 'starting' || rt.state === 'loading') return;
    rt.host = null;
    // The last stderr line is context, not necessarily the cause (after a kill it is whatever
    // the backend printed last), so it is quoted as such.
    const err = new LoadoutError('backend_crashed', `${rt.name}'s backend exited unexpectedly (${exitText(info)}).${info.stderr ? ` Its last output line: "${info.stderr}"` : ''}`);
    this.abortRequests(rt, err);
    this.rejectQueue(rt, err);
    this.record({ model: rt.name, reason: 'crashed', sentence: unloadSentence('crashed', rt.name, { text: `its backend exited unexpectedly (${exitText(info)})` }), by: null });
    this.setFailure(rt, err, info);
    if (this.entryPinned(rt.name)) this.scheduleRestart(rt);
  }

  /** U3: pinned models come back by themselves, with the L13 backoff against crash loops. */
  private scheduleRestart(rt: Runtime): void {
    if (this.disposed || rt.restartTimer) return;
    rt.cooldown.failures += 1;
    const delay = rt.cooldown.failures <= 1 ? 0 : this.backoffMs(rt.cooldown.failures - 1);
    this.log(rt.name, `pinned: restarting in ${Math.round(delay / 1000)} s`);
    rt.restartTimer = this.o.clock.setTimeout(() => {
      rt.restartTimer = null;
      if (this.disposed || !this.entryPinned(rt.name) || isOccupying(rt.state) || rt.loading) return;
      this.startLoad(rt.name, 'restart').catch(() => {
        if (this.entryPinned(rt.name)) this.scheduleRestart(rt);
      });
    }, delay);
  }

  /** U6: a remote backend that dropped the connection is forgotten once; the caller still gets the error. */
  private dropRemote(rt: Runtime, host: ModelHost, why: string): void {
    if (rt.host !== host) return;
    rt.host = null;
    this.record({ model: rt.name, reason: 'crashed', sentence: unloadSentence('crashed', rt.name, { text: why }), by: null });
    void host.stop(0);
    this.set(rt, 'unloaded');
  }

  // ---------------------------------------------------------------- requests

  /**
   * Runs one request on a model: loads it on demand (R4), takes a parallel slot or queues (R2),
   * shares the thread budget (R6), marks it busy (R1) and tracks stream progress for W2.
   */
  private async acquire(name: string, opts: RequestOptions): Promise<{ rt: Runtime; host: ModelHost; record: RequestRecord; release: () => void }> {
    await this.load(name, { origin: opts.origin ?? 'user', signal: opts.signal });
    const rt = this.runtime(name);
    const entry = this.o.catalog.get(name);
    const parallel = entry ? parallelOf(entry.config) : 1;
    if (rt.active >= parallel || rt.queue.length > 0) {
      if (rt.queue.length >= this.o.settings().max_queue) {
        throw new LoadoutError('queue_full', `${name} already has ${rt.queue.length} requests waiting (max_queue). Try again shortly.`, { retryAfter: 1 });
      }
      await new Promise<void>((resolve, reject) => {
        const waiter = { admit: resolve, reject };
        rt.queue.push(waiter);
        this.changed(rt);
        opts.signal?.addEventListener('abort', () => {
          const i = rt.queue.indexOf(waiter);
          if (i >= 0) {
            rt.queue.splice(i, 1);
            this.changed(rt);
            reject(new LoadoutError('cancelled', 'The request was cancelled while waiting for a free slot.'));
          }
        }, { once: true });
      });
    } else {
      rt.active++;
    }
    // From here this request holds a slot: every exit path must release it.
    let released = false;
    const record: RequestRecord = { startedAt: this.o.clock.now(), lastProgressAt: this.o.clock.now(), abort: new AbortController() };
    const release = () => {
      if (released) return;
      released = true;
      rt.requests.delete(record);
      rt.active--;
      rt.lastUsed = this.useTime();
      const next = rt.queue.shift();
      if (next) {
        rt.active++;
        next.admit();
      }
      if (rt.active === 0 && rt.threads.held > 0) {
        this.threadBudget.release(rt.threads.held);
        rt.threads.held = 0;
      }
      if (rt.requests.size === 0 && rt.state === 'busy') this.set(rt, 'ready');
      else this.changed(rt);
      if (rt.requests.size === 0 && rt.drain) {
        const { sentence } = rt.drain;
        void this.unload(name, { reason: 'settings', sentence }).catch(() => {});
      }
    };
    try {
      const host = rt.host;
      if (!host || !isResident(rt.state)) {
        throw new LoadoutError('unloaded', `${name} was unloaded before this request could start. Try again.`);
      }
      if (host.kind === 'local') await this.holdThreads(rt, entry, opts.signal);
      if (rt.host !== host || !isResident(rt.state)) {
        throw new LoadoutError('unloaded', `${name} was unloaded before this request could start. Try again.`);
      }
      rt.requests.add(record);
      rt.lastUsed = this.useTime();
      if (rt.state === 'ready') this.set(rt, 'busy');
      else this.changed(rt);
      return { rt, host, record, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /**
   * R6: a model holds its share of the thread budget while anything runs on it. Requests that
   * arrive while the share is being acquired wait on the same acquisition (never a second share).
   */
  private async holdThreads(rt: Runtime, entry: CatalogEntry | undefined, signal?: AbortSignal): Promise<void> {
    if (rt.threads.held > 0) return;
    if (!rt.threads.pending) {
      const need = entry?.config.threads || Math.max(1, this.o.physicalCores - 1);
      rt.threads.pending = this.threadBudget
        .acquire(need)
        .then((held) => {
          // Set before `pending` clears, so no request can see neither and acquire twice.
          if (rt.active === 0) this.threadBudget.release(held);
          else rt.threads.held = held;
          return held;
        })
        .finally(() => {
          rt.threads.pending = null;
        });
    }
    rt.waitingThreads++;
    this.changed(rt);
    try {
      await this.waitFor(rt.threads.pending, signal);
    } finally {
      rt.waitingThreads = Math.max(0, rt.waitingThreads - 1);
    }
  }

  /** Streams a generation (R5: the core always generates through PredictStream). */
  async *stream(name: string, options: PredictOptions, opts: RequestOptions = {}): AsyncGenerator<StreamChunk> {
    const { rt, host, record, release } = await this.acquire(name, opts);
    const signal = opts.signal ? AbortSignal.any([opts.signal, record.abort.signal]) : record.abort.signal;
    try {
      for await (const reply of host.client.predictStream({ ...options, ModelIdentity: name }, { signal })) {
        record.lastProgressAt = this.o.clock.now();
        yield chunkOf(reply);
      }
    } catch (e) {
      throw this.requestError(rt, host, record, e, opts.signal);
    } finally {
      release();
    }
  }

  /** Joins a stream into one answer for callers that want one (R5). */
  async predict(name: string, options: PredictOptions, opts: RequestOptions = {}): Promise<StreamChunk> {
    let text = '';
    let tokens = 0;
    let promptTokens = 0;
    const toolCalls: ToolCallDelta[] = [];
    for await (const chunk of this.stream(name, options, opts)) {
      text += chunk.text;
      // Backends report running totals (at least on the last reply).
      tokens = Math.max(tokens, chunk.tokens);
      promptTokens = Math.max(promptTokens, chunk.promptTokens);
      if (chunk.toolCalls) toolCalls.push(...chunk.toolCalls);
    }
    return toolCalls.length > 0 ? { text, tokens, promptTokens, toolCalls } : { text, tokens, promptTokens };
  }

  embed(name: string, options: PredictOptions, opts: RequestOptions = {}): Promise<EmbeddingResult> {
    return this.unary(name, opts, (host, signal) => host.client.embedding({ ...options, ModelIdentity: name }, { signal }));
  }

  tokenize(name: string, options: PredictOptions, opts: RequestOptions = {}): Promise<TokenizationResponse> {
    return this.unary(name, opts, (host, signal) => host.client.tokenizeString({ ...options, ModelIdentity: name }, { signal }));
  }

  private async unary<T>(name: string, opts: RequestOptions, call: (host: ModelHost, signal: AbortSignal) => Promise<T>): Promise<T> {
    const { rt, host, record, release } = await this.acquire(name, opts);
    const signal = opts.signal ? AbortSignal.any([opts.signal, record.abort.signal]) : record.abort.signal;
    try {
      const result = await call(host, signal);
      record.lastProgressAt = this.o.clock.now();
      return result;
    } catch (e) {
      throw this.requestError(rt, host, record, e, opts.signal);
    } finally {
      release();
    }
  }

  /** Maps a failed request to the error its caller sees (I5: always a code and a message). */
  private requestError(rt: Runtime, host: ModelHost, record: RequestRecord, e: unknown, callerSignal?: AbortSignal): LoadoutError {
    if (record.abort.signal.aborted && isLoadoutError(record.abort.signal.reason)) return record.abort.signal.reason;
    if (callerSignal?.aborted) return new LoadoutError('cancelled', 'The request was cancelled.');
    if (isLoadoutError(e)) return e;
    const err = e as { kind?: string; message?: string; code?: number; details?: string };
    // The backend judged the input unusable (over the context, empty, a bad grammar): the client's to fix.
    if (err.code === GRPC_INVALID_ARGUMENT && err.details) return new LoadoutError('invalid', `${rt.name}: ${err.details}`);
    if (host.kind === 'remote' && isConnectionFailure(e)) {
      this.dropRemote(rt, host, 'lost the connection to its remote backend');
      return new LoadoutError('backend_crashed', `${rt.name}: lost the connection to the remote backend ${host.address} (${err.message}).`);
    }
    if (err.kind === 'deadline') return new LoadoutError('timeout', `${rt.name} did not answer in time.`);
    if (err.kind === 'unavailable' && host.kind === 'local') {
      return new LoadoutError('backend_crashed', `${rt.name}'s backend stopped while answering.`);
    }
    return new LoadoutError('backend_failed', `${rt.name}: ${err.message ?? String(e)}`);
  }

  private abortRequests(rt: Runtime, reason: LoadoutError): void {
    for (const r of rt.requests) r.abort.abort(reason);
  }

  private rejectQueue(rt: Runtime, reason: LoadoutError): void {
    const queued = rt.queue.splice(0);
    for (const q of queued) {
      q.reject(reason);
    }
  }

  // ---------------------------------------------------------------- policy upkeep (W-series acts here)

  /** W4: applies settings and policy-key changes to resident models at once. */
  enforcePolicy(): void {
    this.enforceLimits();
    // Catalog edits reach the rows (groups, pinned, "reload to apply").
    for (const rt of this.runtimes.values()) this.changed(rt);
  }

  /**
   * W4's drain: models over a lowered cap or in a new group conflict go (idle ones now, busy ones
   * once idle). Also run when a load completes, since a load admitted under the old cap can
   * finish after the cap was lowered.
   */
  enforceLimits(): void {
    for (const { name, sentence } of settingsSurplus(this.policyView(), this.o.settings())) {
      const rt = this.runtimes.get(name);
      if (!rt || !rt.host) continue;
      if (rt.requests.size === 0 && rt.state === 'ready') void this.unload(name, { reason: 'settings', sentence }).catch(() => {});
      else rt.drain = { sentence };
    }
    this.threadBudget.pump();
  }

  /** Facts the watchdog reads (it reports; the loader acts). */
  watchView(): WatchModel[] {
    const out: WatchModel[] = [];
    for (const rt of this.runtimes.values()) {
      const entry = this.o.catalog.get(rt.name);
      let oldestProgress: number | null = null;
      for (const r of rt.requests) oldestProgress = oldestProgress === null ? r.lastProgressAt : Math.min(oldestProgress, r.lastProgressAt);
      out.push({
        name: rt.name,
        state: rt.state,
        pinned: entry?.config.pinned ?? false,
        ttl: entry?.config.ttl ?? null,
        inFlight: rt.requests.size,
        lastUsed: rt.lastUsed,
        oldestRequestProgressAt: oldestProgress,
        loadProgressAt: rt.state === 'loading' ? rt.progressSeenAt : null,
        remote: rt.host?.kind === 'remote',
      });
    }
    return out;
  }

  /** W2: a stuck backend is force-unloaded (pinned too) and a pinned one restarted. */
  async unloadStalled(name: string, text: string): Promise<void> {
    const rt = this.runtimes.get(name);
    if (!rt) return;
    if (rt.loading && rt.state === 'loading') {
      rt.loadAbort?.abort(new LoadoutError('timeout', `${name} stopped making progress while loading (${text}).`));
      this.record({ model: name, reason: 'stalled', sentence: unloadSentence('stalled', name, { text }), by: null });
      return;
    }
    // The stuck requests end first, as what they are: a server fault that timed out (504), not
    // an unload the client could have avoided (the unload's own `unloaded` comes too late for them).
    const stall = this.o.settings().stall_timeout;
    this.abortRequests(rt, new LoadoutError('timeout', `${name} stopped answering (${text}, more than stall_timeout, ${stall} s), so Loadout stopped its backend. Try again; if it keeps happening, check the model's log.`));
    await this.unload(name, { force: true, reason: 'stalled', sentence: unloadSentence('stalled', name, { text }) });
    if (this.entryPinned(name)) this.scheduleRestart(rt);
  }

  /** Refreshes measured RSS (cheap /proc reads) so memory figures follow reality. */
  refreshMemory(): void {
    for (const rt of this.runtimes.values()) {
      if (!rt.host || !isResident(rt.state)) continue;
      const rss = rt.host.rssBytes();
      if (rss !== null && rss !== rt.rssBytes) {
        rt.rssBytes = rss;
        this.changed(rt);
      }
    }
  }

  /** C3: a config template failed to render and the GGUF's own template is used; the row says so. */
  setTemplateWarning(name: string, warning: string | null): void {
    const rt = this.runtime(name);
    if (rt.templateWarning === warning) return;
    rt.templateWarning = warning;
    this.changed(rt);
  }

  // ---------------------------------------------------------------- views

  plan(name: string): Plan {
    const entry = this.o.catalog.get(name);
    if (!entry) return { model: name, ok: false, unloads: [], failure: { code: 'not_found', message: `There is no model named "${name}".` } };
    const rt = this.runtimes.get(name);
    if (rt && (isResident(rt.state) || rt.loading)) return { model: name, ok: true, unloads: [], failure: null };
    try {
      this.loadableEntry(name);
    } catch (e) {
      return { model: name, ok: false, unloads: [], failure: toErrorData(e, 'invalid') as Plan['failure'] };
    }
    const decision = decideAdmission(this.policyView(), this.policyTarget(entry), this.o.settings());
    if (decision.kind === 'admit') return { model: name, ok: true, unloads: [], failure: null };
    if (decision.kind === 'fail') return { model: name, ok: false, unloads: [], failure: { code: decision.code, message: decision.message } };
    const unloads = [
      ...decision.unloads,
      ...decision.waitIdle.map((u) => ({ ...u, sentence: `${u.sentence} (busy: waits up to ${this.o.settings().eviction_wait} s for it to finish)` })),
    ];
    return { model: name, ok: true, unloads, failure: null };
  }

  rowOf(name: string): ModelRow {
    const entry = this.o.catalog.get(name);
    const rt = this.runtimes.get(name);
    return buildRow(name, entry, rt, this.o.estimateMemory);
  }

  snapshot(): Snapshot {
    const names = new Set<string>();
    for (const e of this.o.catalog.list()) names.add(e.name);
    for (const rt of this.runtimes.values()) if (rt.state !== 'unloaded' || rt.loading) names.add(rt.name);
    const models = [...names].sort().map((n) => this.rowOf(n));
    const lru = [...this.runtimes.values()].filter((r) => isResident(r.state)).sort((a, b) => a.lastUsed - b.lastUsed).map((r) => r.name);
    const groups: Record<string, string[]> = {};
    for (const m of models) for (const g of m.groups) (groups[g] ??= []).push(m.name);
    const pending = [...this.runtimes.values()].filter((r) => r.loading).map((r) => r.name);
    return { models, lru, groups, pending, settings: this.o.settings() };
  }

  /** No load in progress and nothing generating: background work will not slow anyone down. */
  isQuiet(): boolean {
    for (const rt of this.runtimes.values()) if (rt.loading || rt.active > 0 || rt.queue.length > 0) return false;
    return true;
  }

  /** Called when the catalog changes a model: rows update; a removed model's instance is unloaded. */
  catalogChanged(name: string, removed: boolean): void {
    const rt = this.runtimes.get(name);
    if (removed) {
      if (rt && (rt.host || rt.loading)) {
        void this.unload(name, { reason: 'settings', sentence: unloadSentence('settings', name, { text: 'its model file or config was removed' }) }).catch(() => {});
      }
      if (!rt || (!rt.host && !rt.loading)) {
        this.runtimes.delete(name);
        this.o.emit({ type: 'removed', name });
      }
      return;
    }
    this.o.emit({ type: 'model', row: this.rowOf(name) });
  }

  /** U4: stops every backend; used on quit and SIGTERM. */
  async dispose(): Promise<void> {
    this.disposed = true;
    const work: Promise<unknown>[] = [];
    for (const rt of this.runtimes.values()) {
      this.o.clock.clearTimeout(rt.restartTimer);
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
    for (const w of this.changeWaiters) w();
  }

  // ---------------------------------------------------------------- internals

  private runtime(name: string): Runtime {
    let rt = this.runtimes.get(name);
    if (!rt) {
      rt = {
        name,
        state: 'unloaded',
        host: null,
        failure: null,
        loadStartedAt: null,
        loadedAt: null,
        lastUsed: 0,
        progress: null,
        progressSeenAt: null,
        loading: null,
        loadAbort: null,
        loadOrigin: 'user',
        stopping: null,
        stopForced: false,
        active: 0,
        queue: [],
        waitingThreads: 0,
        threads: { held: 0, pending: null },
        requests: new Set(),
        rssBytes: null,
        vramBytes: null,
        loadKey: null,
        remoteCheckedAt: 0,
        cooldown: { failures: 0, until: 0 },
        restartTimer: null,
        drain: null,
        templateWarning: null,
      };
      this.runtimes.set(name, rt);
    }
    return rt;
  }

  private entryPinned(name: string): boolean {
    return this.o.catalog.get(name)?.config.pinned ?? false;
  }

  private policyView(): PolicyModel[] {
    const out: PolicyModel[] = [];
    for (const rt of this.runtimes.values()) {
      const entry = this.o.catalog.get(rt.name);
      out.push({
        name: rt.name,
        state: rt.state,
        groups: entry?.config.concurrency_groups ?? [],
        pinned: entry?.config.pinned ?? false,
        inFlight: rt.requests.size + rt.queue.length,
        lastUsed: rt.lastUsed,
        // Before its host exists (starting), a remote model is known by its backend.
        remote: rt.host ? rt.host.kind === 'remote' : !!entry && this.remoteAddressOf(entry) !== null,
        address: rt.host ? (rt.host.kind === 'remote' ? rt.host.address : null) : entry ? this.remoteAddressOf(entry) : null,
        memoryBytes: rt.rssBytes ?? (entry ? this.o.estimateMemory(entry) ?? 0 : 0),
      });
    }
    return out;
  }

  private policyTarget(entry: CatalogEntry): PolicyTarget {
    const address = this.remoteAddressOf(entry);
    return { name: entry.name, groups: entry.config.concurrency_groups, remote: address !== null, address, needBytes: this.o.estimateMemory(entry) ?? 0 };
  }

  /** The `host:port` of a model served by a remote backend (U6), or null for a local one. */
  private remoteAddressOf(entry: CatalogEntry): string | null {
    if (!entry.config.backend) return null;
    try {
      const b = this.o.backends.resolve(entry.config.backend);
      return b.kind === 'remote' ? b.address : null;
    } catch {
      // An unknown backend fails at load with its own message.
      return null;
    }
  }

  private modelOptions(entry: CatalogEntry): ModelOptions {
    const c = entry.config;
    return {
      Model: entry.name,
      ModelFile: entry.file ?? '',
      ModelPath: this.o.catalog.modelsDir(),
      ContextSize: c.context_size ?? 0,
      Threads: c.threads || Math.max(1, this.o.physicalCores - 1),
      Seed: c.parameters.seed ?? 0,
      F16Memory: c.f16 ?? false,
      MMap: c.mmap ?? true,
      NGPULayers: c.gpu_layers ?? 0,
      Embeddings: c.embeddings ?? false,
      Options: c.options,
    };
  }

  private touch(rt: Runtime): void {
    rt.lastUsed = this.useTime();
    this.changed(rt);
  }

  /**
   * The clock's time, but strictly later than the previous use: two uses in the same millisecond
   * (a cache hit right after a load) must still order the LRU list by which came last.
   */
  private useTime(): number {
    this.lastUseTime = Math.max(this.o.clock.now(), this.lastUseTime + 1);
    return this.lastUseTime;
  }

  private set(rt: Runtime, state: ModelState): void {
    rt.state = state;
    this.changed(rt);
  }

  private changed(rt: Runtime): void {
    this.o.emit({ type: 'model', row: this.rowOf(rt.name) });
    this.notify();
  }

  private notify(): void {
    if (this.changeWaiters.size === 0) return;
    const waiters = [...this.changeWaiters];
    this.changeWaiters.clear();
    for (const w of waiters) w();
  }

  /** Resolves at the next state change anywhere, after `timeoutMs`, or rejects on abort. */
  private nextChange(timeoutMs?: number, signal?: AbortSignal): Promise<void> {
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

  /** Waits for `p` unless the caller gives up first (the work itself goes on). */
  private waitFor<T>(p: Promise<T>, signal?: AbortSignal): Promise<T> {
    if (!signal) return p;
    if (signal.aborted) return Promise.reject(new LoadoutError('cancelled', 'The request was cancelled.'));
    return new Promise<T>((resolve, reject) => {
      const onAbort = () => reject(new LoadoutError('cancelled', 'The request was cancelled.'));
      signal.addEventListener('abort', onAbort, { once: true });
      p.then(resolve, reject).finally(() => signal.removeEventListener('abort', onAbort));
    });
  }

  private record(e: Omit<JournalEntry, 'at'>): void {
    const entry: JournalEntry = { at: new Date(this.o.clock.now()).toISOString(), ...e };
    this.o.journal.add(entry);
    this.o.emit({ type: 'journal', entry });
    this.log(e.model, e.sentence);
  }

  private log(model: string, text: string): void {
    this.o.log(model, text);
  }
}

export interface WatchModel {
  name: string;
  state: ModelState;
  pinned: boolean;
  ttl: number | null;
  inFlight: number;
  lastUsed: number;
  /** Oldest "last token" time over in-flight requests (W2), or null when idle. */
  oldestRequestProgressAt: number | null;
  /** When a loading model last reported progress, or null if it never has. */
  loadProgressAt: number | null;
  remote: boolean;
}

type PolicyTarget = Parameters<typeof decideAdmission>[1];

/**
 * One reply as a chunk. LocalAI's backends put the raw text in `message` and the parsed chat view
 * in `chat_deltas` (content, tool calls): the text is `message`, or the deltas' content when a
 * backend sends only those; tool calls come from the deltas.
 */
function chunkOf(reply: Reply): StreamChunk {
  const m = reply.message;
  let text = m === undefined ? '' : Buffer.isBuffer(m) ? m.toString('utf8') : Buffer.from(m).toString('utf8');
  const chunk: StreamChunk = { text, tokens: reply.tokens, promptTokens: reply.prompt_tokens };
  const deltas = reply.chat_deltas;
  if (deltas && deltas.length > 0) {
    if (!text) {
      for (const d of deltas) if (d.content) text += d.content;
      chunk.text = text;
    }
    const calls = deltas.flatMap((d) => d.tool_calls ?? []);
    if (calls.length > 0) chunk.toolCalls = calls;
  }
  return chunk;
}

function delay<T>(ms: number, value: T): Promise<T> {
  return new Promise((resolve) => setTimeout(() => resolve(value), ms).unref());
}

function exitText(info: ExitInfo): string {
  if (info.signal) return `signal ${info.signal}`;
  return `exit code ${info.code}`;
}

function isBackendFault(code: ErrorCode): boolean {
  return code === 'backend_failed' || code === 'backend_crashed' || code === 'timeout';
}

function isConnectionFailure(e: unknown): boolean {
  const err = e as { kind?: string; message?: string; details?: string };
  if (err.kind === 'unavailable') return true;
  return /ECONNREFUSED|ECONNRESET/.test(`${err.message ?? ''} ${err.details ?? ''}`);
}

const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : null);

function buildRow(name: string, entry: CatalogEntry | undefined, rt: Runtime | undefined, estimate: (e: CatalogEntry) => number | null): ModelRow {
  const c = entry?.config;
  const state = rt?.state ?? 'unloaded';
  return {
    name,
    status: entry?.status ?? 'error',
    error: entry ? entry.error : 'its config was removed',
    backend: c?.backend ?? 'llama-cpp',
    file: entry?.file ?? entry?.uri ?? null,
    sizeBytes: entry?.sizeBytes ?? null,
    groups: c?.concurrency_groups ?? [],
    pinned: c?.pinned ?? false,
    state,
    failure: rt?.failure ?? null,
    pid: rt?.host?.pid ?? null,
    address: rt?.host?.address ?? null,
    loadedAt: isResident(state) ? iso(rt?.loadedAt ?? null) : null,
    loadStartedAt: rt?.loading || state === 'starting' || state === 'loading' ? iso(rt?.loadStartedAt ?? null) : null,
    lastUsed: iso(rt?.lastUsed || null),
    inFlight: rt?.requests.size ?? 0,
    queued: (rt?.queue.length ?? 0) + (rt?.waitingThreads ?? 0),
    progress: state === 'starting' || state === 'loading' ? (rt?.progress ?? null) : null,
    memory: {
      estimateBytes: entry ? estimate(entry) : null,
      rssBytes: rt?.host && isOccupying(state) ? rt.rssBytes : null,
      vramBytes: rt?.host && isOccupying(state) ? rt.vramBytes : null,
    },
    ttl: c?.ttl ?? null,
    contextSize: c?.context_size ?? entry?.gguf?.contextLength ?? null,
    parallel: entry ? parallelOf(entry.config) : 1,
    configPath: entry?.configPath ?? null,
    gguf: entry?.gguf ?? null,
    reloadPending: !!(rt?.loadKey && entry && isResident(state) && rt.loadKey !== entry.loadKey),
    templateWarning: rt?.templateWarning ?? null,
    remote: rt?.host?.kind === 'remote',
  };
}

export { formatBytes };
