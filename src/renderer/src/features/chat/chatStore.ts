/**
 * The chat's own store, apart from the models store: a token streaming in re-renders the one
 * message it belongs to, never the model views (and a model event never re-renders a chat).
 * Deltas are buffered and folded in at most every FLUSH_MS (receiveDelta).
 */
import { create } from 'zustand';
import type { ChatEvent, ChatMessage, Conversation, ConversationSummary, Generation } from '../../../../shared/chat';
import type { Plan } from '../../../../shared/model';
import { applyChatEvent, applyConversation, applyConversationList, applyDeltas, applyGenerations, emptyChatData } from './chatState';
import type { ChatData, DeltaBatch } from './chatState';
import type { ParamsEdit } from './paramsDraft';

/** Sending to a model that is not loaded would unload others: the user confirms first. */
export interface SendConfirm {
  conversationId: string;
  model: string;
  plan: Plan;
  answer(confirmed: boolean): void;
}

export interface ChatUi {
  /** Why the list could not be read. */
  listError: string | null;
  /** Why a conversation could not be read, by id. */
  loadErrors: Record<string, string>;
  /** A send (or the plan before it) in flight, by conversation. */
  sending: Record<string, boolean>;
  /** The last failed action in a conversation (send, plan, stop...), shown in it until the next. */
  errors: Record<string, string>;
  confirm: SendConfirm | null;
  /** A search hit to scroll to (seq changes on every jump, even to the same message). */
  jump: { conversationId: string; messageId: string; seq: number } | null;
  /** The settings panels open, by conversation: here so that a send saves what the panel shows first. */
  paramsEdits: Record<string, ParamsEdit>;
}

export interface ChatStore extends ChatData, ChatUi {
  receive(event: ChatEvent): void;
  receiveList(list: ConversationSummary[]): void;
  receiveConversation(c: Conversation): void;
  receiveGenerations(list: Generation[]): void;
  receiveDeltas(batch: DeltaBatch): void;
  setListError(message: string | null): void;
  setLoadError(id: string, message: string | null): void;
  setSending(id: string, on: boolean): void;
  setError(id: string, message: string | null): void;
  setConfirm(c: SendConfirm | null): void;
  jumpTo(conversationId: string, messageId: string): void;
  clearJump(): void;
  /** null when the panel closes (its unsaved changes are dropped with it). */
  setParamsEdit(id: string, edit: ParamsEdit | null): void;
}

function put<T>(record: Record<string, T>, key: string, value: T | null): Record<string, T> {
  if (value === null) {
    if (!(key in record)) return record;
    const next = { ...record };
    delete next[key];
    return next;
  }
  return record[key] === value ? record : { ...record, [key]: value };
}

let jumps = 0;

export const useChat = create<ChatStore>()((set) => ({
  ...emptyChatData,
  listError: null,
  loadErrors: {},
  sending: {},
  errors: {},
  confirm: null,
  jump: null,
  paramsEdits: {},
  receive: (event) => {
    if (event.type === 'generation') dropDeltas(event.conversationId);
    set((s) => applyChatEvent(s, event));
  },
  receiveList: (list) => set((s) => applyConversationList(s, list)),
  receiveConversation: (c) => set((s) => ({ ...applyConversation(s, c), loadErrors: put(s.loadErrors, c.id, null) })),
  receiveGenerations: (list) => {
    pendingDeltas.clear();
    set((s) => applyGenerations(s, list));
  },
  receiveDeltas: (batch) => set((s) => applyDeltas(s, batch)),
  setListError: (listError) => set({ listError }),
  setLoadError: (id, message) => set((s) => ({ loadErrors: put(s.loadErrors, id, message) })),
  setSending: (id, on) => set((s) => ({ sending: put(s.sending, id, on ? true : null) })),
  setError: (id, message) => set((s) => ({ errors: put(s.errors, id, message) })),
  setConfirm: (confirm) => set({ confirm }),
  jumpTo: (conversationId, messageId) => set({ jump: { conversationId, messageId, seq: ++jumps } }),
  clearJump: () => set({ jump: null }),
  setParamsEdit: (id, edit) => set((s) => ({ paramsEdits: put(s.paramsEdits, id, edit) })),
}));

// ---- deltas, coalesced over a few milliseconds

/**
 * A delta folds into the store at once when none did in the last FLUSH_MS, else when that time
 * is up. Waiting for the next animation frame instead cost up to a whole frame per token (more
 * on a busy machine, where frames come late) before React even started; this bound keeps a
 * token's arrival-to-screen time a few milliseconds while a fast stream still renders at most
 * about 120 times a second.
 */
const FLUSH_MS = 8;
const pendingDeltas: DeltaBatch = new Map();
let flushTimer: ReturnType<typeof setTimeout> | null = null;
let lastFlush = -Infinity;

function flush(): void {
  flushTimer = null;
  lastFlush = Date.now();
  if (pendingDeltas.size === 0) return;
  const batch = new Map(pendingDeltas);
  pendingDeltas.clear();
  useChat.getState().receiveDeltas(batch);
}

/** A chat-delta: appended to the buffer, folded into the store within FLUSH_MS. */
export function receiveDelta(event: Extract<ChatEvent, { type: 'chat-delta' }>): void {
  const p = pendingDeltas.get(event.conversationId);
  if (p && p.messageId === event.messageId) p.text += event.text;
  else pendingDeltas.set(event.conversationId, { messageId: event.messageId, text: event.text });
  flushTimer ??= setTimeout(flush, Math.max(0, lastFlush + FLUSH_MS - Date.now()));
}

/** A `generation` event carries the text so far: deltas buffered before it are in it already. */
function dropDeltas(conversationId: string): void {
  pendingDeltas.delete(conversationId);
}

/** Routes a chat event: deltas through the buffer, the rest at once (an answer's message ends it, so its buffered deltas are moot). */
export function receiveChatEvent(event: ChatEvent): void {
  if (event.type === 'chat-delta') receiveDelta(event);
  else useChat.getState().receive(event);
}

/** The messages of a conversation (stable empty list while not fetched). */
export const NO_MESSAGES: ChatMessage[] = [];
