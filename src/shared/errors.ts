/** The closed set of error codes shared by the core, the GUI, the CLI and the HTTP API. */
export const ERROR_STATUS = {
  not_found: 404,
  invalid: 400,
  pinned_conflict: 409,
  slots_pinned: 409,
  conflict_busy: 503,
  slots_busy: 503,
  cooldown: 503,
  loading: 503,
  memory: 507,
  queue_full: 429,
  backend_crashed: 502,
  backend_failed: 502,
  unloaded: 409,
  timeout: 504,
  cancelled: 409,
  unauthorized: 401,
  forbidden: 403,
  too_large: 413,
  /** A write failed for lack of disk space (ENOSPC) or quota (EDQUOT). */
  disk_space: 507,
  /** The model's file is not in the models folder yet; the answer says what to download (G36). */
  not_downloaded: 409,
  /** The model's file is being downloaded; Retry-After and the job's progress say when (G36). */
  downloading: 503,
  /** The Hub or a download server refused our credentials (401 is reserved for *our* API key). */
  upstream_auth: 424,
  /** The Hub or a download server failed, is unreachable, or sent something that is not the file. */
  upstream: 502,
  /** A downloaded file's sha256 is not the expected one; it stays a `.part` and never loads. */
  checksum_mismatch: 422,
  /** Cluster: no live node can take the model (its node_selector matches none, or none is left). */
  no_node: 503,
  /** Cluster: NATS is unreachable, so a cold load cannot be coordinated; warm requests go on. */
  cluster_unavailable: 503,
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

/** Retry-After (seconds) of codes whose wait is known in advance, when the error names none. */
export const RETRY_AFTER_S: Partial<Record<ErrorCode, number>> = { no_node: 5, cluster_unavailable: 2 };

export interface ErrorData {
  code: ErrorCode;
  message: string;
  /** Seconds a client should wait before retrying (503s). */
  retryAfter?: number;
  /** For a model that is still loading. */
  loading?: { model: string; state: string; progress: number | null; elapsedMs: number };
  /** not_downloaded: what to download; downloading: the job's progress (G36). */
  download?: DownloadInfo;
  /** Download errors: whether the same job may succeed if tried again. */
  retryable?: boolean;
  /** checksum_mismatch: what was expected, from where, and what arrived. */
  sha256?: { expected: string; source: string; actual: string };
}

export interface DownloadInfo {
  uris: string[];
  sizeBytes: number | null;
  action: 'POST /api/downloads';
  /** While downloading: the job ids and bytes so far. */
  jobs?: { id: string; receivedBytes: number; totalBytes: number | null; etaSeconds: number | null }[];
}

/** An error that crosses process boundaries as data; `message` is written for the user. */
export class LoadoutError extends Error {
  readonly code: ErrorCode;
  readonly retryAfter?: number;
  readonly loading?: ErrorData['loading'];
  readonly download?: DownloadInfo;

  constructor(code: ErrorCode, message: string, extra: Omit<ErrorData, 'code' | 'message' | 'retryable' | 'sha256'> = {}) {
    super(message);
    this.name = 'LoadoutError';
    this.code = code;
    this.retryAfter = extra.retryAfter;
    this.loading = extra.loading;
    this.download = extra.download;
  }

  toData(): ErrorData {
    const data: ErrorData = { code: this.code, message: this.message };
    if (this.retryAfter !== undefined) data.retryAfter = this.retryAfter;
    if (this.loading !== undefined) data.loading = this.loading;
    if (this.download !== undefined) data.download = this.download;
    return data;
  }
}

export function isLoadoutError(e: unknown): e is LoadoutError {
  return e instanceof LoadoutError;
}

/** Any thrown value as error data; unknown errors become `invalid` only if asked, else `backend_failed`. */
export function toErrorData(e: unknown, fallback: ErrorCode = 'backend_failed'): ErrorData {
  if (isLoadoutError(e)) return e.toData();
  const message = e instanceof Error ? e.message : String(e);
  return { code: fallback, message };
}
