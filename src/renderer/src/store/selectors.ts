/** Pure views of the store that several screens share (table-tested in selectors.test.ts). */
import type { ModelRow, Settings } from '../../../shared/model';
import { isOccupying, isResident } from '../../../shared/model';
import type { ModelFilter } from './store';

/** Why a model cannot work as it is, in the user's words, or null. */
export function problemOf(row: ModelRow): string | null {
  if (row.status === 'error') return row.error ?? 'its config has an error';
  if (row.status === 'not_downloaded') return row.error?.replace(/^not downloaded( yet)?:\s*/i, '') || 'the model file is not downloaded yet';
  if (row.state === 'failed' && row.failure) return row.failure.message;
  return null;
}

export function matchesQuery(row: ModelRow, query: string): boolean {
  const words = query.toLowerCase().split(/\s+/).filter(Boolean);
  if (words.length === 0) return true;
  const hay = [row.name, row.backend, row.gguf?.quantization ?? '', row.gguf?.architecture ?? '', ...row.groups].join(' ').toLowerCase();
  return words.every((w) => hay.includes(w));
}

export function matchesFilter(row: ModelRow, filter: ModelFilter): boolean {
  switch (filter) {
    case 'all':
      return true;
    case 'loaded':
      // Loaded means ready or answering, as the loader says: a model still loading is not (Trust 10).
      return isResident(row.state);
    case 'problems':
      return row.status === 'error' || row.status === 'not_downloaded' || row.state === 'failed';
    case 'pinned':
      return row.pinned;
  }
}

export function filterNames(models: Record<string, ModelRow>, names: string[], query: string, filter: ModelFilter): string[] {
  if (filter === 'all' && query.trim() === '') return names;
  return names.filter((n) => matchesFilter(models[n], filter) && matchesQuery(models[n], query));
}

export interface SlotInfo {
  /** Local models holding a slot (occupying, not remote). */
  used: number;
  /** Models loaded (ready or busy), local or remote: what the header counts as loaded. */
  loaded: number;
  /** Models starting or loading. */
  loading: number;
  /** `max_active_models`; 0 = no cap. */
  cap: number;
  /** The model the next load beyond the cap unloads: least recently used, not pinned, idle first. */
  next: string | null;
}

/** How many models are in each filter and state (the header's and the filter buttons' counts). */
export interface ModelCounts extends Record<ModelFilter, number> {
  used: number;
  loading: number;
}

let counted: { models: Record<string, ModelRow>; names: string[]; counts: ModelCounts } | null = null;

/**
 * One pass over the models, done again only when they changed: views select these counts on
 * every store change (a log line, a journal entry), and counting 1,000 models there each time
 * took most of an event's time to reach the DOM.
 */
export function modelCounts(models: Record<string, ModelRow>, names: string[]): ModelCounts {
  if (counted?.models === models && counted.names === names) return counted.counts;
  const counts: ModelCounts = { all: names.length, loaded: 0, problems: 0, pinned: 0, used: 0, loading: 0 };
  for (const name of names) {
    const row = models[name];
    if (matchesFilter(row, 'loaded')) counts.loaded++;
    if (matchesFilter(row, 'problems')) counts.problems++;
    if (row.pinned) counts.pinned++;
    if (isOccupying(row.state) && !row.remote) counts.used++;
    if (row.state === 'starting' || row.state === 'loading') counts.loading++;
  }
  counted = { models, names, counts };
  return counts;
}

export function slotInfo(models: Record<string, ModelRow>, names: string[], lru: string[], settings: Settings | null): SlotInfo {
  const { used, loaded, loading } = modelCounts(models, names);
  const candidates = lru.filter((n) => models[n] && !models[n].pinned && !models[n].remote);
  const next = candidates.find((n) => models[n].inFlight === 0) ?? candidates[0] ?? null;
  return { used, loaded, loading, cap: settings?.max_active_models ?? 0, next };
}

/** Models that share a group with `name` (they are never loaded together). */
export function conflictsOf(models: Record<string, ModelRow>, groups: Record<string, string[]>, name: string): string[] {
  const out = new Set<string>();
  for (const g of models[name]?.groups ?? []) for (const m of groups[g] ?? []) if (m !== name) out.add(m);
  return [...out].sort();
}
