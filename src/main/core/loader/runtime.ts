/** One model's live record inside the loader, shared by its parts (load, unload, slots, supervision). */
import type { LoadoutError } from '../../../shared/errors';
import type { Failure, ModelRow, ModelState } from '../../../shared/model';
import type { ModelHost } from '../backends/types';
import type { GpuUse } from './gpu';
import type { LoadOrigin } from './router';

export interface RequestRecord {
  startedAt: number;
  lastProgressAt: number;
  abort: AbortController;
}

export interface Runtime {
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
  /** Requests waiting for this model's load (Trust 6: it serves them before it can be evicted). */
  awaitingLoad: number;
  /** When loads of other models evicted this one (the journal says when a model thrashes). */
  evictedAt: number[];
  queue: { admit: () => void; reject: (e: unknown) => void }[];
  waitingThreads: number;
  threads: { held: number; pending: Promise<number> | null };
  requests: Set<RequestRecord>;
  rssBytes: number | null;
  vramBytes: number | null;
  /** Where this instance runs and the VRAM it was admitted with (built-in backend only, V4-V11). */
  gpu: GpuUse | null;
  /** The catalog loadKey this instance was loaded with (C6 "reload to apply"). */
  loadKey: string | null;
  remoteCheckedAt: number;
  cooldown: { failures: number; until: number };
  restartTimer: unknown;
  /** Pending W4 unload: goes once idle. */
  drain: { sentence: string } | null;
  templateWarning: string | null;
}

export const RESTART_BASE_MS = 10_000;
export const COOLDOWN_CAP_MS = 300_000;
export const REMOTE_RECHECK_MS = 30_000;
export const STOP_GRACE_MS = 10_000;
export const FREE_BUDGET_MS = 5_000;
export const PROGRESS_POLL_MS = 250;

export function newRuntime(name: string): Runtime {
  return {
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
    awaitingLoad: 0,
    evictedAt: [],
    queue: [],
    waitingThreads: 0,
    threads: { held: 0, pending: null },
    requests: new Set(),
    rssBytes: null,
    vramBytes: null,
    gpu: null,
    loadKey: null,
    remoteCheckedAt: 0,
    cooldown: { failures: 0, until: 0 },
    restartTimer: null,
    drain: null,
    templateWarning: null,
  };
}

export function abortRequests(rt: Runtime, reason: LoadoutError): void {
  for (const r of rt.requests) r.abort.abort(reason);
}

export function rejectQueue(rt: Runtime, reason: LoadoutError): void {
  const queued = rt.queue.splice(0);
  for (const q of queued) q.reject(reason);
}
