import { LoadoutError, type ErrorCode, type ErrorData } from '../../../shared/errors';

export type DownloadErrorData = ErrorData & { retryable: boolean };

/** A LoadoutError that also says whether retrying may help and, after a mismatch, both hashes. */
export class DownloadError extends LoadoutError {
  readonly retryable: boolean;
  readonly sha256?: ErrorData['sha256'];

  constructor(code: ErrorCode, message: string, extra: { retryable?: boolean; retryAfter?: number; sha256?: ErrorData['sha256'] } = {}) {
    super(code, message, { retryAfter: extra.retryAfter });
    this.name = 'DownloadError';
    this.retryable = extra.retryable ?? false;
    this.sha256 = extra.sha256;
  }

  override toData(): DownloadErrorData {
    const data: DownloadErrorData = { ...super.toData(), retryable: this.retryable };
    if (this.sha256) data.sha256 = this.sha256;
    return data;
  }
}
