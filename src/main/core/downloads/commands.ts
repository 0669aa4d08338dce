/**
 * The download commands of the contract (downloads-spec section 4, G35) and what a load of a
 * model that is not downloaded answers (G36), over one DownloadEngine.
 */
import type { DownloadStart } from '../../../shared/contract';
import { LoadoutError, type DownloadInfo } from '../../../shared/errors';
import type { DownloadJob } from '../../../shared/model';
import type { CatalogEntry } from '../catalog/types';
import type { DownloadEngine } from './engine';
import { uriTarget } from './uri';

const ACTION = 'POST /api/downloads' as const;
const RUNNING = new Set<DownloadJob['state']>(['queued', 'resolving', 'downloading', 'verifying']);

export interface DownloadCommandsOptions {
  /** The engine of the current models folder (a new one when the folder changes). */
  engine: () => DownloadEngine;
  catalog: (name: string) => CatalogEntry | undefined;
}

/** `{uri}` | `{model}` | `{repo, file, revision?}`: exactly one of them names what to download. */
function uriOf(req: DownloadStart, catalog: DownloadCommandsOptions['catalog']): { uri: string; model?: string; configSha?: string } {
  const forms = [req.uri !== undefined, req.model !== undefined, req.repo !== undefined || req.file !== undefined].filter(Boolean).length;
  if (forms !== 1) throw new LoadoutError('invalid', 'Name one thing to download: {"uri": "huggingface://owner/repo/file.gguf"}, {"model": "<name of a not-downloaded model>"} or {"repo": "owner/repo", "file": "file.gguf"}.');
  if (req.uri !== undefined) return { uri: req.uri };
  if (req.model !== undefined) {
    const entry = catalog(req.model);
    if (!entry) throw new LoadoutError('not_found', `There is no model named "${req.model}".`);
    if (entry.uri === null) throw new LoadoutError('invalid', `${req.model} has no URI to download from${entry.file ? ' (its file is already in the models folder)' : ''}; set parameters.model to a huggingface:// or https:// URI.`);
    return { uri: entry.uri, model: entry.name, configSha: configSha256(entry) };
  }
  if (req.repo === undefined || req.file === undefined) throw new LoadoutError('invalid', 'A Hub download needs both "repo" (owner/name) and "file" (its path in the repository).');
  const rev = req.revision !== undefined ? `@${req.revision}` : '';
  return { uri: `huggingface://${req.repo}${rev}/${req.file}` };
}

export function downloadCommands(o: DownloadCommandsOptions) {
  return {
    downloads: () => o.engine().list(),
    startDownload: (req: DownloadStart) => {
      const engine = o.engine();
      const { uri, model, configSha } = uriOf(req, o.catalog);
      const before = new Set(engine.list().filter((j) => j.state !== 'done' && j.state !== 'cancelled').map((j) => j.id));
      // G24: the config's sha256 outranks the caller's.
      const sha = configSha !== undefined ? { sha256: configSha, sha256Source: 'config' as const } : req.sha256 !== undefined ? { sha256: req.sha256, sha256Source: 'caller' as const } : {};
      const job = engine.add({ uri, model, filename: req.name, ...sha });
      return { jobs: [job], created: !before.has(job.id) };
    },
    pauseDownload: (id: string) => o.engine().pause(id),
    resumeDownload: (id: string) => o.engine().resume(id),
    cancelDownload: (id: string) => o.engine().cancel(id),
  };
}

/** The sha256 the entry's config pins for its file (LocalAI `download_files`), if any. */
function configSha256(entry: CatalogEntry): string | undefined {
  const target = entry.uri ? uriTarget(entry.uri) : null;
  return entry.config.download_files?.find((f) => f.filename === target)?.sha256;
}

/** The job that fetches a catalog entry's file, if any. */
function jobFor(engine: DownloadEngine, entry: CatalogEntry): DownloadJob | undefined {
  const target = entry.uri ? uriTarget(entry.uri) : null;
  const jobs = engine.list().filter((j) => j.state !== 'cancelled' && j.state !== 'done');
  return jobs.find((j) => j.model === entry.name) ?? jobs.find((j) => j.uri === entry.uri || (target !== null && j.target === target));
}

/**
 * G36: a load never starts a multi-GB transfer by surprise. Without a running job: 409
 * `not_downloaded` saying what to download and how; while its job runs: 503 `downloading` with
 * Retry-After and the job's progress.
 */
export function notDownloadedError(engine: DownloadEngine, entry: CatalogEntry): LoadoutError {
  const job = jobFor(engine, entry);
  const uris = entry.uri ? [entry.uri] : [];
  const info: DownloadInfo = { uris, sizeBytes: job?.totalBytes ?? entry.sizeBytes ?? null, action: ACTION };
  if (job) info.jobs = [{ id: job.id, receivedBytes: job.receivedBytes, totalBytes: job.totalBytes, etaSeconds: job.etaSeconds }];
  if (job && RUNNING.has(job.state)) {
    const pct = job.totalBytes ? ` (${Math.floor((job.receivedBytes / job.totalBytes) * 100)}%)` : '';
    const retryAfter = Math.min(60, Math.max(1, Math.ceil(job.etaSeconds ?? 5)));
    return new LoadoutError('downloading', `${entry.name} is being downloaded${pct}; try again in ${retryAfter} s.`, { retryAfter, download: info });
  }
  const how = job ? `Its download (${job.id}) is ${job.state}; resume it with POST /api/downloads/${job.id}/resume.` : `Download it first: POST /api/downloads {"model": ${JSON.stringify(entry.name)}}.`;
  return new LoadoutError('not_downloaded', `${entry.name} is not downloaded yet (${entry.uri}). ${how}`, { download: info });
}

/**
 * G37 (`auto_download`): starts the entry's download (or joins its job) and resolves once the
 * file is published; a job that is paused, failed or cancelled meanwhile ends the wait with why.
 */
export function downloadAndWait(engine: DownloadEngine, entry: CatalogEntry, signal?: AbortSignal): Promise<void> {
  if (!entry.uri) return Promise.reject(notDownloadedError(engine, entry));
  const sha = configSha256(entry);
  const started = engine.add({ uri: entry.uri, model: entry.name, ...(sha !== undefined ? { sha256: sha, sha256Source: 'config' as const } : {}) });
  return new Promise<void>((resolve, reject) => {
    const finish = (error?: unknown) => {
      off();
      signal?.removeEventListener('abort', onAbort);
      if (error === undefined) resolve();
      else reject(error);
    };
    const check = (job: DownloadJob) => {
      if (job.id !== started.id) return;
      if (job.state === 'done') finish();
      else if (job.state === 'failed') finish(new LoadoutError(job.error?.code ?? 'upstream', `${entry.name} could not be downloaded: ${job.error?.message ?? 'the download failed'}`));
      else if (job.state === 'paused' || job.state === 'cancelled') finish(notDownloadedError(engine, entry));
    };
    const onAbort = () => finish(signal?.reason ?? new LoadoutError('cancelled', 'The load was cancelled.'));
    const off = engine.events.on(check);
    if (signal?.aborted) return onAbort();
    signal?.addEventListener('abort', onAbort, { once: true });
    check(engine.get(started.id) ?? started);
  });
}
