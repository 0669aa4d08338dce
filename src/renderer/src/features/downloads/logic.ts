/** What the download screens decide and say, pure (table-tested in logic.test.ts). */
import type { DownloadJob, GpuDevice, JobState } from '../../../../shared/model';
import { budgetOf, defaultQuant, fitOf } from '../../../../shared/quants';
import type { Fit, HubRepoFiles, QuantGroup, Room } from '../../../../shared/quants';

/** What the "Add model" box was given. */
export type Source = { kind: 'empty' } | { kind: 'repo'; repo: string; quant?: string } | { kind: 'uri'; uri: string } | { kind: 'search'; query: string };

const REPO = /^[\w.-]+\/[\w.-]+$/;

/**
 * A pasted URI (`huggingface://`, `hf://`, `https://.../file.gguf`, `github:`), a Hub page
 * (`https://huggingface.co/owner/repo`, also on `hf_endpoint`), `owner/repo`, llama.cpp's
 * `hf:owner/repo:Q4_K_M`, or else words to search the Hub for.
 */
export function parseSource(input: string, hfEndpoint = ''): Source {
  const text = input.trim();
  if (text === '') return { kind: 'empty' };
  const llama = /^hf:([\w.-]+\/[\w.-]+)(?::([\w-]+))?$/i.exec(text);
  if (llama) return { kind: 'repo', repo: llama[1], ...(llama[2] ? { quant: llama[2].toUpperCase() } : {}) };
  if (REPO.test(text)) return { kind: 'repo', repo: text };
  const page = /^(?:https?:\/\/)?(?:www\.)?(?:huggingface\.co|hf\.co)\/([\w.-]+\/[\w.-]+)\/?(?:tree\/[^/]+\/?)?$/i.exec(text);
  if (page) return { kind: 'repo', repo: page[1] };
  if (hfEndpoint && /^https?:\/\//i.test(text)) {
    const base = hfEndpoint.replace(/\/+$/, '');
    if (text.toLowerCase().startsWith(`${base.toLowerCase()}/`)) {
      const rest = text.slice(base.length + 1).replace(/\/+$/, '');
      if (REPO.test(rest)) return { kind: 'repo', repo: rest };
    }
  }
  if (/^[a-z][a-z0-9+.-]*:\/\//i.test(text) || /^github:/i.test(text) || /^(?:hf\.co|huggingface\.co)\//i.test(text)) return { kind: 'uri', uri: text };
  return { kind: 'search', query: text };
}

/** Free VRAM of discrete GPUs (unified memory is the RAM already counted); undefined without one. */
export function vramOf(gpus: GpuDevice[]): number | undefined {
  const discrete = gpus.filter((g) => !g.unified);
  return discrete.length === 0 ? undefined : discrete.reduce((n, g) => n + Math.max(0, g.freeBytes), 0);
}

export interface QuantChoices {
  /** The model quantizations, smallest first, each with its verdict on this machine. */
  groups: (QuantGroup & { fit: Fit })[];
  /** The quantization picked by default: Q4_K_M if it fits, else the largest that does. */
  pick: string | null;
  room: Room;
}

/** The repository's quantizations judged against the core's room plus the GPUs the page knows of (G39). */
export function quantChoices(files: HubRepoFiles, gpus: GpuDevice[]): QuantChoices {
  const vram = vramOf(gpus);
  const room: Room = vram === undefined ? { memoryBytes: files.room.memoryBytes, diskBytes: files.room.diskBytes } : { ...files.room, vramBytes: vram };
  const groups = files.groups.filter((g) => !g.mmproj).map((g) => ({ ...g, fit: fitOf(g.sizeBytes, room) }));
  return { groups, pick: defaultQuant(groups, budgetOf(room))?.quant ?? null, room };
}

/** A model name from a repository and quantization: `owner/Qwen3-8B-GGUF` + Q4_K_M -> `Qwen3-8B-Q4_K_M`. */
export function defaultName(repo: string, quant: string): string {
  const base = repo.slice(repo.indexOf('/') + 1).replace(/[-_.]?gguf$/i, '');
  return `${base || 'model'}-${quant}`;
}

/** A model name from a URI: its file name without `.gguf` (and without a split part's suffix). */
export function nameFromUri(uri: string): string {
  const last = uri.replace(/[?#].*$/, '').replace(/@[^/]*$/, '').split('/').pop() ?? '';
  return decodeURIComponent(last).replace(/-\d{5}-of-\d{5}(?=\.gguf$)/i, '').replace(/\.gguf$/i, '') || 'model';
}

/** "4.9 GB", "740 MB": a size at a glance (x1024, as the settings count). */
export function shortBytes(bytes: number): string {
  const units = ['B', 'KB', 'MB', 'GB', 'TB'];
  let v = bytes;
  let i = 0;
  while (v >= 1024 && i < units.length - 1) {
    v /= 1024;
    i += 1;
  }
  return `${i === 0 || v >= 10 ? Math.round(v) : v.toFixed(1)} ${units[i]}`;
}

/** The Load button of a model that is not downloaded: "Download (4.9 GB)", or "Download" when the size is unknown. */
export function downloadLabel(sizeBytes: number | null): string {
  return sizeBytes !== null && sizeBytes > 0 ? `Download (${shortBytes(sizeBytes)})` : 'Download';
}

export function formatSpeed(bytesPerSec: number): string {
  return bytesPerSec > 0 ? `${shortBytes(bytesPerSec)}/s` : '-';
}

/** "45 s", "3 min", "1 h 05 min" left; "-" when unknown. */
export function formatEta(seconds: number | null): string {
  if (seconds === null || !Number.isFinite(seconds)) return '-';
  const s = Math.max(0, Math.ceil(seconds));
  if (s < 60) return `${s} s`;
  const m = Math.round(s / 60);
  if (m < 60) return `${m} min`;
  return `${Math.floor(m / 60)} h ${String(m % 60).padStart(2, '0')} min`;
}

export const RUNNING: readonly JobState[] = ['queued', 'resolving', 'downloading', 'verifying'];
export const isRunning = (job: DownloadJob) => RUNNING.includes(job.state);

export const STATE_LABEL: Record<JobState, string> = {
  queued: 'Waiting',
  resolving: 'Starting',
  downloading: 'Downloading',
  paused: 'Paused',
  verifying: 'Verifying',
  done: 'Done',
  failed: 'Failed',
  cancelled: 'Cancelled',
};

/** A model's download as its row shows it: all its files together (split parts), or null when none is unfinished. */
export interface ModelDownload {
  state: 'running' | 'paused' | 'failed';
  receivedBytes: number;
  totalBytes: number | null;
  jobs: DownloadJob[];
}

/** A model's jobs (joined by the model name the core gives each job). */
export function modelJobs(downloads: Record<string, DownloadJob>, model: string): DownloadJob[] {
  return Object.values(downloads).filter((j) => j.model === model && j.state !== 'cancelled');
}

export function modelDownload(downloads: Record<string, DownloadJob>, model: string): ModelDownload | null {
  return summarize(modelJobs(downloads, model));
}

export function summarize(jobs: DownloadJob[]): ModelDownload | null {
  if (!jobs.some((j) => j.state !== 'done')) return null;
  const state = jobs.some(isRunning) ? 'running' : jobs.some((j) => j.state === 'failed') ? 'failed' : 'paused';
  const total = jobs.every((j) => j.totalBytes !== null) ? jobs.reduce((n, j) => n + (j.totalBytes ?? 0), 0) : null;
  return { state, receivedBytes: jobs.reduce((n, j) => n + j.receivedBytes, 0), totalBytes: total, jobs };
}

/** What the user can do about a failed (or stopped) download, in one sentence. */
export function adviceFor(job: DownloadJob): string | null {
  const e = job.error;
  if (!e) return null;
  switch (e.code) {
    case 'upstream_auth':
      return 'Once hf_token in Settings holds a token with access to this repository, Retry.';
    case 'disk_space':
      return 'Free some disk space in the models folder (or lower download_reserve), then Resume: what arrived is kept.';
    case 'checksum_mismatch':
      return 'The file that arrived is not the one expected; it was kept aside and never loads. Retry downloads it again from the start.';
    case 'not_found':
      return 'The file is not there (a wrong name, or it was removed upstream). Check the address, and Cancel this download.';
    case 'invalid':
      return 'This download cannot work as asked; Cancel it and add the model again.';
    default:
      return e.retryable ? 'Loadout retries by itself; Retry now to try at once.' : 'Retry to try again, or Cancel to drop it.';
  }
}
