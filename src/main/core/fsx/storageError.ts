import { LoadoutError } from '../../../shared/errors';

/** The disk (or the user's quota) is full: a condition the user fixes by freeing space, not a bug. */
export function isDiskFull(e: unknown): boolean {
  const code = (e as NodeJS.ErrnoException | null)?.code;
  return code === 'ENOSPC' || code === 'EDQUOT';
}

/**
 * A failed write as the user's error: `disk_space` (507) when space ran out, else `fallback`.
 * `what` names what was not saved, e.g. "Settings not saved".
 */
export function storageError(e: unknown, what: string, where: string, fallback: LoadoutError['code'] = 'invalid'): LoadoutError {
  if (isDiskFull(e)) return new LoadoutError('disk_space', `${what}: the disk holding ${where} is full. Free some space and try again.`);
  return new LoadoutError(fallback, `${what} (${(e as Error).message}). Check that ${where} is writable.`);
}
