/** The HTTP API's recent requests for the GUI's request log, kept across restarts (bounded). */
import type { RequestLogEntry } from '../../shared/model';
import { BoundedLog } from './fsx/boundedLog';

/** The renderer keeps the same number (REQUEST_LIMIT). */
export const REQUEST_LOG_LIMIT = 500;

export function requestLog(file: string | null): BoundedLog<RequestLogEntry> {
  return new BoundedLog({ file, limit: REQUEST_LOG_LIMIT, isEntry: isRequestLogEntry });
}

function isRequestLogEntry(v: unknown): v is RequestLogEntry {
  const e = v as Partial<RequestLogEntry> | null;
  return typeof e === 'object' && e !== null && typeof e.at === 'string' && typeof e.path === 'string' && typeof e.status === 'number';
}
