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
} as const;

export type ErrorCode = keyof typeof ERROR_STATUS;

export interface ErrorData {
  code: ErrorCode;
  message: string;
  /** Seconds a client should wait before retrying (503s). */
  retryAfter?: number;
  /** For a model that is still loading. */
  loading?: { model: string; state: string; progress: number | null; elapsedMs: number };
}

/** An error that crosses process boundaries as data; `message` is written for the user. */
export class LoadoutError extends Error {
  readonly code: ErrorCode;
  readonly retryAfter?: number;
  readonly loading?: ErrorData['loading'];

  constructor(code: ErrorCode, message: string, extra: Omit<ErrorData, 'code' | 'message'> = {}) {
    super(message);
    this.name = 'LoadoutError';
    this.code = code;
    this.retryAfter = extra.retryAfter;
    this.loading = extra.loading;
  }

  toData(): ErrorData {
    const data: ErrorData = { code: this.code, message: this.message };
    if (this.retryAfter !== undefined) data.retryAfter = this.retryAfter;
    if (this.loading !== undefined) data.loading = this.loading;
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
