/**
 * The core's state as the page knows it, and the one pure function that folds core events into
 * it. The snapshot's derived lists (LRU order, groups, pending) are recomputed here the way the
 * core computes them, so a view never shows a list that disagrees with the rows.
 */
import type { ClusterSnapshot } from '../../../shared/cluster';
import type { CoreEvent, DownloadJob, GpuDevice, JournalEntry, LogLine, ModelRow, RequestLogEntry, ServerStatus, Settings, Snapshot } from '../../../shared/model';
import { isResident } from '../../../shared/model';

export const JOURNAL_LIMIT = 1000;
export const LOG_LIMIT = 1000;
/** The core keeps the same number of API requests. */
export const REQUEST_LIMIT = 500;

export interface CoreState {
  /** False until the first snapshot arrived. */
  ready: boolean;
  models: Record<string, ModelRow>;
  /** Model names, sorted (the catalog's order). */
  names: string[];
  /** Resident model names, least recently used first. */
  lru: string[];
  groups: Record<string, string[]>;
  /** Models starting or loading. */
  pending: string[];
  settings: Settings | null;
  /** Why the saved settings file cannot be used (nothing is saved, the API is off), or null. */
  settingsProblem: string | null;
  /** Settings a command-line flag set for this run. */
  flags: (keyof Settings)[];
  /** Oldest first. */
  journal: JournalEntry[];
  /** Backend output per model, oldest first (only models whose log was fetched or that logged since). */
  logs: Record<string, LogLine[]>;
  server: ServerStatus | null;
  /** API requests, oldest first. */
  requests: RequestLogEntry[];
  /** The warm standby backend process (started ahead of time, no model yet), if any. */
  standby: Snapshot['standby'];
  /** Download jobs by id (a cancelled one leaves the list). */
  downloads: Record<string, DownloadJob>;
  /** One entry per GPU backend type ([] without a GPU); null while the core has not said (an older core). */
  gpus: GpuDevice[] | null;
  /** The GPU panel's line from the core (V14: the CUDA pack's progress or failure). */
  gpuNotice: string | null;
  /** Nodes and replicas when the app is in a cluster, else null. */
  cluster: ClusterSnapshot | null;
}

export const emptyCoreState: CoreState = {
  ready: false,
  models: {},
  names: [],
  lru: [],
  groups: {},
  pending: [],
  settings: null,
  settingsProblem: null,
  flags: [],
  journal: [],
  logs: {},
  server: null,
  requests: [],
  standby: null,
  downloads: {},
  gpus: null,
  gpuNotice: null,
  cluster: null,
};

const time = (iso: string | null) => (iso ? Date.parse(iso) : 0);

export function lruOf(models: Record<string, ModelRow>, names: string[]): string[] {
  return names
    .filter((n) => isResident(models[n].state))
    .sort((a, b) => time(models[a].lastUsed) - time(models[b].lastUsed) || (a < b ? -1 : 1));
}

export function groupsOf(models: Record<string, ModelRow>, names: string[]): Record<string, string[]> {
  const groups: Record<string, string[]> = {};
  for (const n of names) for (const g of models[n].groups) (groups[g] ??= []).push(n);
  return groups;
}

const isPending = (row: ModelRow) => row.state === 'starting' || row.state === 'loading';

export function pendingOf(models: Record<string, ModelRow>, names: string[]): string[] {
  return names.filter((n) => isPending(models[n]));
}

function sameList(a: string[], b: string[]): boolean {
  return a.length === b.length && a.every((x, i) => x === b[i]);
}

/** Replaces everything the snapshot covers (after start and after every reconnect). */
export function applySnapshot(state: CoreState, snap: Snapshot): CoreState {
  const models: Record<string, ModelRow> = {};
  for (const m of snap.models) models[m.name] = m;
  const names = snap.models.map((m) => m.name).sort();
  return { ...state, ready: true, models, names, lru: snap.lru, groups: snap.groups, pending: snap.pending, settings: snap.settings, settingsProblem: snap.settingsProblem ?? null, flags: snap.flags ?? [], standby: snap.standby ?? null, downloads: Object.fromEntries((snap.downloads ?? []).map((j) => [j.id, j])), gpus: snap.gpus ?? null, gpuNotice: snap.gpuNotice ?? null, cluster: snap.cluster ?? null };
}

function insertSorted(names: string[], name: string): string[] {
  let lo = 0;
  let hi = names.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if (names[mid] < name) lo = mid + 1;
    else hi = mid;
  }
  return [...names.slice(0, lo), name, ...names.slice(lo)];
}

/** Folds one core event into the state. Pure: returns a new state, or the same one if nothing changed. */
export function applyEvent(state: CoreState, event: CoreEvent): CoreState {
  switch (event.type) {
    case 'model': {
      const row = event.row;
      const before = state.models[row.name];
      const models = { ...state.models, [row.name]: row };
      const names = before ? state.names : insertSorted(state.names, row.name);
      // Derived lists keep their identity when unchanged, so views that select them do not re-render;
      // they are rebuilt (a pass over every model) only when this row's place in them may have moved.
      const lru = before && isResident(before.state) === isResident(row.state) && (!isResident(row.state) || before.lastUsed === row.lastUsed) ? state.lru : lruOf(models, names);
      const groupsChanged = !before || !sameList(before.groups, row.groups);
      const pending = before && isPending(before) === isPending(row) ? state.pending : pendingOf(models, names);
      return {
        ...state,
        models,
        names,
        lru: sameList(lru, state.lru) ? state.lru : lru,
        groups: groupsChanged ? groupsOf(models, names) : state.groups,
        pending: sameList(pending, state.pending) ? state.pending : pending,
      };
    }
    case 'removed': {
      if (!state.models[event.name]) return state;
      const models = { ...state.models };
      delete models[event.name];
      const names = state.names.filter((n) => n !== event.name);
      return { ...state, models, names, lru: state.lru.filter((n) => n !== event.name), groups: groupsOf(models, names), pending: state.pending.filter((n) => n !== event.name) };
    }
    case 'journal': {
      const journal = state.journal.length >= JOURNAL_LIMIT ? [...state.journal.slice(state.journal.length - JOURNAL_LIMIT + 1), event.entry] : [...state.journal, event.entry];
      return { ...state, journal };
    }
    case 'settings':
      return { ...state, settings: event.settings, settingsProblem: event.settingsProblem ?? null, flags: event.flags ?? state.flags };
    case 'log': {
      const lines = state.logs[event.model] ?? [];
      const next = lines.length >= LOG_LIMIT ? [...lines.slice(lines.length - LOG_LIMIT + 1), event.line] : [...lines, event.line];
      return { ...state, logs: { ...state.logs, [event.model]: next } };
    }
    case 'server':
      return { ...state, server: event.status };
    case 'standby':
      return { ...state, standby: event.standby ?? null };
    case 'gpus':
      return { ...state, gpus: event.gpus, gpuNotice: event.notice ?? null };
    case 'request': {
      const requests = state.requests.length >= REQUEST_LIMIT ? [...state.requests.slice(state.requests.length - REQUEST_LIMIT + 1), event.entry] : [...state.requests, event.entry];
      return { ...state, requests };
    }
    // Chat events have their own store (features/chat/chatStore.ts): a streaming answer never touches this one.
    case 'conversation':
    case 'conversation-removed':
    case 'chat-message':
    case 'chat-truncated':
    case 'generation':
    case 'chat-delta':
      return state;
    case 'download': {
      const downloads = { ...state.downloads, [event.job.id]: event.job };
      if (event.job.state === 'cancelled') delete downloads[event.job.id];
      return { ...state, downloads };
    }
    case 'cluster':
      return { ...state, cluster: event.cluster };
  }
}
