import { ERROR_STATUS, type ErrorCode } from '../../../shared/errors';

/**
 * The codes downloads add to the shared closed set (downloads-spec section 4, clarifications 5);
 * `disk_space` is already shared. Kept here until src/shared/errors.ts gains them; then this map
 * and the union go away.
 */
export const DOWNLOAD_ERROR_STATUS = {
  not_downloaded: 409,
  downloading: 503,
  upstream_auth: 424,
  upstream: 502,
  checksum_mismatch: 422,
} as const;

export type DownloadErrorCode = ErrorCode | keyof typeof DOWNLOAD_ERROR_STATUS;

export function downloadErrorStatus(code: DownloadErrorCode): number {
  return (DOWNLOAD_ERROR_STATUS as Record<string, number>)[code] ?? ERROR_STATUS[code as ErrorCode];
}

export interface DownloadErrorData {
  code: DownloadErrorCode;
  message: string;
  /** Whether the same job may succeed if tried again (network trouble, a stall). */
  retryable: boolean;
  /** Seconds a client should wait (429 upstream, 503 downloading). */
  retryAfter?: number;
  /** For checksum_mismatch: what was expected, from where, and what arrived. */
  sha256?: { expected: string; source: string; actual: string };
}

/** Shaped like LoadoutError (code + message, data via toData) so the API maps it the same way. */
export class DownloadError extends Error {
  readonly code: DownloadErrorCode;
  readonly retryable: boolean;
  readonly retryAfter?: number;
  readonly sha256?: DownloadErrorData['sha256'];

  constructor(code: DownloadErrorCode, message: string, extra: Omit<DownloadErrorData, 'code' | 'message' | 'retryable'> & { retryable?: boolean } = {}) {
    super(message);
    this.name = 'DownloadError';
    this.code = code;
    this.retryable = extra.retryable ?? false;
    this.retryAfter = extra.retryAfter;
    this.sha256 = extra.sha256;
  }

  toData(): DownloadErrorData {
    const data: DownloadErrorData = { code: this.code, message: this.message, retryable: this.retryable };
    if (this.retryAfter !== undefined) data.retryAfter = this.retryAfter;
    if (this.sha256) data.sha256 = this.sha256;
    return data;
  }
}
