/**
 * Loading on demand for `/v1` (issue point 3): a request for a model that is not resident loads
 * it (origin `api`, so a failing model gets the L13 cooldown) and waits up to `api_load_wait`
 * seconds; past that it gets 503 `loading` with the load's state, progress and elapsed time, and
 * the load goes on (L12) so a retry finds it further along.
 */
import { LoadoutError } from '../../../../shared/errors';
import type { ModelRow } from '../../../../shared/model';
import { isResident } from '../../../../shared/model';
import type { Core } from '../../createCore';

/** Answers with Retry-After within these bounds when we can guess how long the load has left. */
const RETRY_MIN_S = 1;
const RETRY_MAX_S = 30;
const RETRY_UNKNOWN_S = 5;

/** `row` is the model's row as the caller just read it (an unknown name has failed already). */
export async function ensureLoaded(core: Core, row: ModelRow, signal: AbortSignal): Promise<ModelRow> {
  if (isResident(row.state)) return row;
  const name = row.name;
  const waitMs = Math.max(0, core.commands.settings().api_load_wait * 1000);
  const load = core.commands.load(name, { origin: 'api', signal });
  let timer: unknown;
  const timedOut = new Promise<'timeout'>((resolve) => {
    timer = core.clock.setTimeout(() => resolve('timeout'), waitMs);
  });
  try {
    const result = await Promise.race([load, timedOut]);
    if (result !== 'timeout') return result;
  } finally {
    core.clock.clearTimeout(timer);
  }
  // The load goes on without us; its outcome reaches whoever asks next.
  load.catch(() => {});
  // G37: still downloading (auto_download) is 503 `downloading` with the job's progress.
  const now = core.commands.row(name);
  const download = now.status === 'not_downloaded' ? core.commands.downloadProblem(name) : null;
  if (download) throw download;
  throw stillLoading(now, core.clock.now());
}

export function stillLoading(row: ModelRow, now: number): LoadoutError {
  const started = row.loadStartedAt ? Date.parse(row.loadStartedAt) : now;
  const elapsedMs = Math.max(0, now - started);
  const progress = row.progress;
  const pct = progress !== null ? `, ${Math.round(progress * 100)}% done` : '';
  const retryAfter = estimateRetry(elapsedMs, progress);
  // Before its process starts, a load may wait for room (other models unloading, L4/L6).
  const phase = row.state === 'starting' || row.state === 'loading' ? row.state : 'waiting for room to load';
  return new LoadoutError(
    'loading',
    `${row.name} is still loading (${phase}${pct}, ${(elapsedMs / 1000).toFixed(1)} s so far). The load goes on: retry in about ${retryAfter} s.`,
    { retryAfter, loading: { model: row.name, state: row.state, progress, elapsedMs } },
  );
}

/** Time left at the rate so far, when the backend reports progress. */
function estimateRetry(elapsedMs: number, progress: number | null): number {
  if (progress === null || progress <= 0.01) return RETRY_UNKNOWN_S;
  const leftS = ((elapsedMs / progress) * (1 - progress)) / 1000;
  return Math.min(RETRY_MAX_S, Math.max(RETRY_MIN_S, Math.ceil(leftS)));
}
