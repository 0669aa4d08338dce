/**
 * The chat's own store, apart from the models store: a token streaming in re-renders the one
 * message it belongs to, never the model views (and a model event never re-renders a chat).
 * Deltas are buffered and folded in once per burst (receiveDelta).
 */
import { flushSync } from 'react-dom';
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

// ---- deltas, coalesced per burst

/**
 * Deltas fold into the store once per burst: the first of a burst posts a message to itself, and
 * the WebSocket messages already queued (a stream's deltas come in bursts) run before it, so it
 * folds the whole burst at once. Timers and animation frames are the browser's lowest-priority
 * tasks: while a stream rendered, even a 0 ms timer fired 13-18 ms late at p95 (`npm run
 * bench:ui`), which was most of a token's arrival-to-screen time.
 */
const pendingDeltas: DeltaBatch = new Map();
let flushPosted = false;
let flushChannel: MessageChannel | null = null;

function flush(): void {
  flushPosted = false;
  if (pendingDeltas.size === 0) return;
  const batch = new Map(pendingDeltas);
  pendingDeltas.clear();
  // React commits the text in this task: left to its scheduler, the render would wait behind the
  // WebSocket messages queued meanwhile (a fast stream sends hundreds a second).
  flushSync(() => useChat.getState().receiveDeltas(batch));
}

/** A chat-delta: appended to the buffer, folded into the store once the messages queued with it have run. */
export function receiveDelta(event: Extract<ChatEvent, { type: 'chat-delta' }>): void {
  const p = pendingDeltas.get(event.conversationId);
  if (p && p.messageId === event.messageId) p.text += event.text;
  else pendingDeltas.set(event.conversationId, { messageId: event.messageId, text: event.text });
  if (flushPosted) return;
  flushPosted = true;
  if (!flushChannel) {
    flushChannel = new MessageChannel();
    flushChannel.port1.onmessage = flush;
  }
  flushChannel.port2.postMessage(null);
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
