/**
 * The chat as the page knows it, and the pure functions that fold the core's chat events into it.
 * The core owns conversations and generations; every window folds the same events, so the main
 * window's chat pane and the chat window show the same thing.
 *
 * Ordering: events and command replies come over one ordered channel, so a reply (a conversation,
 * the generations) already contains every event that arrived before it, and events after it apply
 * on top. Likewise a `generation` event's text contains every delta sent before it.
 */
import type { ChatEvent, ChatMessage, Conversation, ConversationSummary, Generation } from '../../../../shared/chat';
import type { CoreEvent } from '../../../../shared/model';

/** An answer being generated; `ended` once the core said it ended and until its message arrives (no flicker between the two). */
export interface LiveGeneration extends Generation {
  ended: boolean;
}

export interface ChatData {
  /** False until the conversation list arrived. */
  listReady: boolean;
  summaries: Record<string, ConversationSummary>;
  /** Conversation ids, most recently updated first. */
  order: string[];
  /** Messages of the conversations fetched so far (the open one and those opened before). */
  messages: Record<string, ChatMessage[]>;
  /** Answers being generated, by conversation. */
  generations: Record<string, LiveGeneration>;
}

export const emptyChatData: ChatData = { listReady: false, summaries: {}, order: [], messages: {}, generations: {} };

const CHAT_EVENTS = new Set<string>(['conversation', 'conversation-removed', 'chat-message', 'chat-truncated', 'generation', 'chat-delta']);

export function isChatEvent(event: CoreEvent): event is ChatEvent {
  return CHAT_EVENTS.has(event.type);
}

function orderOf(summaries: Record<string, ConversationSummary>): string[] {
  return Object.values(summaries)
    .sort((a, b) => (a.updatedAt < b.updatedAt ? 1 : a.updatedAt > b.updatedAt ? -1 : a.id < b.id ? -1 : 1))
    .map((s) => s.id);
}

const sameList = (a: string[], b: string[]) => a.length === b.length && a.every((x, i) => x === b[i]);

function without<T>(record: Record<string, T>, key: string): Record<string, T> {
  if (!(key in record)) return record;
  const next = { ...record };
  delete next[key];
  return next;
}

function withSummary(state: ChatData, summary: ConversationSummary): ChatData {
  const summaries = { ...state.summaries, [summary.id]: summary };
  const order = orderOf(summaries);
  return { ...state, summaries, order: sameList(order, state.order) ? state.order : order };
}

/** The conversation list (after start and every reconnect): replaces the summaries. */
export function applyConversationList(state: ChatData, list: ConversationSummary[]): ChatData {
  const summaries: Record<string, ConversationSummary> = {};
  for (const s of list) summaries[s.id] = s;
  // Messages of conversations that are gone are dropped; the others are fetched again when opened.
  return { ...state, listReady: true, summaries, order: orderOf(summaries), messages: {} };
}

/** A fetched conversation: its summary and its messages. */
export function applyConversation(state: ChatData, conversation: Conversation): ChatData {
  const { messages, ...summary } = conversation;
  const next = withSummary(state, summary);
  return { ...next, messages: { ...next.messages, [conversation.id]: messages } };
}

/** The answers being generated now (after start and every reconnect): replaces what was known. */
export function applyGenerations(state: ChatData, list: Generation[]): ChatData {
  const generations: Record<string, LiveGeneration> = {};
  for (const g of list) generations[g.conversationId] = { ...g, ended: false };
  return { ...state, generations };
}

/** Deltas coalesced over a few milliseconds (chatStore's FLUSH_MS): conversation -> the answer's id and the text to append. */
export type DeltaBatch = Map<string, { messageId: string; text: string }>;

export function applyDeltas(state: ChatData, batch: DeltaBatch): ChatData {
  let generations = state.generations;
  for (const [conversationId, d] of batch) {
    const g = generations[conversationId];
    // A delta for an answer this page does not know (it opened mid-answer and the generations
    // are on their way): that text is in the reply.
    if (!g || g.messageId !== d.messageId || g.ended) continue;
    if (generations === state.generations) generations = { ...generations };
    generations[conversationId] = { ...g, phase: 'generating', text: g.text + d.text };
  }
  return generations === state.generations ? state : { ...state, generations };
}

/** Folds one chat event (chat-delta goes through the per-frame buffer, see stream.ts; folded here too for completeness). */
export function applyChatEvent(state: ChatData, event: ChatEvent): ChatData {
  switch (event.type) {
    case 'conversation':
      return withSummary(state, event.conversation);
    case 'conversation-removed': {
      if (!state.summaries[event.id]) return state;
      const summaries = without(state.summaries, event.id);
      return { ...state, summaries, order: state.order.filter((id) => id !== event.id), messages: without(state.messages, event.id), generations: without(state.generations, event.id) };
    }
    case 'chat-message': {
      const { conversationId: id, message } = event;
      const g = state.generations[id];
      const generations = g && g.messageId === message.id ? without(state.generations, id) : state.generations;
      const list = state.messages[id];
      if (!list) return generations === state.generations ? state : { ...state, generations };
      const at = list.findIndex((m) => m.id === message.id);
      const next = at >= 0 ? list.map((m, i) => (i === at ? message : m)) : [...list, message];
      return { ...state, generations, messages: { ...state.messages, [id]: next } };
    }
    case 'chat-truncated': {
      const list = state.messages[event.conversationId];
      if (!list || list.length <= event.keep) return state;
      return { ...state, messages: { ...state.messages, [event.conversationId]: list.slice(0, event.keep) } };
    }
    case 'generation': {
      const id = event.conversationId;
      if (event.generation) return { ...state, generations: { ...state.generations, [id]: { ...event.generation, ended: false } } };
      const g = state.generations[id];
      if (!g) return state;
      // Kept (marked ended) until its message arrives, when the conversation is on screen.
      if (!state.messages[id]) return { ...state, generations: without(state.generations, id) };
      return { ...state, generations: { ...state.generations, [id]: { ...g, ended: true } } };
    }
    case 'chat-delta':
      return applyDeltas(state, new Map([[event.conversationId, { messageId: event.messageId, text: event.text }]]));
  }
}

/**
 * The most recent conversation with nothing in it yet (no message, no answer under way), or null:
 * '+ New chat' opens it instead of adding another empty one to the list.
 */
export function emptyConversation(state: ChatData): ConversationSummary | null {
  for (const id of state.order) {
    const s = state.summaries[id];
    // The count comes with the core's events; the messages and generations cover a send whose event is still on its way.
    if (s.messageCount === 0 && !state.messages[id]?.length && !state.generations[id]) return s;
  }
  return null;
}
