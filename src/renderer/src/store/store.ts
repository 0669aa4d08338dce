/**
 * The page's one store: the core slice (what the core said, folded by `applyEvent`) and the UI
 * slice (connection, errors shown on rows, the open dialog, filters). Components select the
 * smallest value they need; nothing but store/connect.ts subscribes to the client's events.
 */
import { create } from 'zustand';
import type { StateCreator } from 'zustand';
import type { CoreEvent, JournalEntry, LogLine, Plan, RequestLogEntry, ServerStatus, Snapshot } from '../../../shared/model';
import type { Connection } from '../api/client';
import { REQUEST_LIMIT, applyEvent, applySnapshot, emptyCoreState } from './applyEvent';
import type { CoreState } from './applyEvent';

export type ModelFilter = 'all' | 'loaded' | 'problems' | 'pinned';

/** The plan dialog: what a load would do, shown before anything happens. */
export interface PlanDialog {
  model: string;
  plan: Plan;
}

export interface UiState {
  connection: Connection;
  /** The snapshot could not be read (shown instead of the list). */
  startError: string | null;
  /** The last failed action per model, shown on its row until dismissed or the next action. */
  rowErrors: Record<string, string>;
  /** An action in progress per model ("Loading...", "Planning..."), which disables its buttons. */
  rowBusy: Record<string, string>;
  dialog: PlanDialog | null;
  /** The "Add model" dialog is open. */
  addModelOpen: boolean;
  query: string;
  filter: ModelFilter;
  /** Errors with no better place (shown as dismissible messages at the top). */
  notices: { id: number; text: string }[];
}

export interface CoreSlice extends CoreState {
  receiveSnapshot(snap: Snapshot): void;
  receiveEvent(event: CoreEvent): void;
  receiveJournal(entries: JournalEntry[]): void;
  receiveLogs(model: string, lines: LogLine[]): void;
  receiveRequests(entries: RequestLogEntry[]): void;
  receiveServer(status: ServerStatus): void;
}

export interface UiSlice extends UiState {
  setConnection(c: Connection): void;
  setStartError(message: string | null): void;
  setRowError(model: string, message: string | null): void;
  setRowBusy(model: string, what: string | null): void;
  openPlan(dialog: PlanDialog | null): void;
  openAddModel(open: boolean): void;
  setQuery(q: string): void;
  setFilter(f: ModelFilter): void;
  notify(text: string): void;
  dismissNotice(id: number): void;
}

export type AppState = CoreSlice & UiSlice;

const without = <T,>(record: Record<string, T>, key: string): Record<string, T> => {
  if (!(key in record)) return record;
  const next = { ...record };
  delete next[key];
  return next;
};

const coreSlice: StateCreator<AppState, [], [], CoreSlice> = (set) => ({
  ...emptyCoreState,
  receiveSnapshot: (snap) => set((s) => applySnapshot(s, snap)),
  receiveEvent: (event) => set((s) => applyEvent(s, event)),
  receiveJournal: (entries) => set({ journal: entries }),
  receiveLogs: (model, lines) => set((s) => ({ logs: { ...s.logs, [model]: lines } })),
  receiveRequests: (entries) => set({ requests: entries.slice(-REQUEST_LIMIT) }),
  receiveServer: (server) => set({ server }),
});

let noticeId = 0;

const uiSlice: StateCreator<AppState, [], [], UiSlice> = (set) => ({
  connection: { status: 'connecting', drops: 0, retryInSeconds: null },
  startError: null,
  rowErrors: {},
  rowBusy: {},
  dialog: null,
  addModelOpen: false,
  query: '',
  filter: 'all',
  notices: [],
  setConnection: (connection) => set({ connection }),
  setStartError: (startError) => set({ startError }),
  setRowError: (model, message) => set((s) => ({ rowErrors: message === null ? without(s.rowErrors, model) : { ...s.rowErrors, [model]: message } })),
  setRowBusy: (model, what) => set((s) => ({ rowBusy: what === null ? without(s.rowBusy, model) : { ...s.rowBusy, [model]: what } })),
  openPlan: (dialog) => set({ dialog }),
  openAddModel: (addModelOpen) => set({ addModelOpen }),
  setQuery: (query) => set({ query }),
  setFilter: (filter) => set({ filter }),
  notify: (text) => set((s) => ({ notices: [...s.notices.slice(-4), { id: ++noticeId, text }] })),
  dismissNotice: (id) => set((s) => ({ notices: s.notices.filter((n) => n.id !== id) })),
});

export const useStore = create<AppState>()((...a) => ({ ...coreSlice(...a), ...uiSlice(...a) }));
