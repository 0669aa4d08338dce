/**
 * Conversations as the core keeps them (one append-only JSON-lines file each in `<data>/chats`)
 * and as every window shows them. The core owns the conversation and the generation, so a chat
 * keeps streaming when a window closes, the tray's chat window and the main window's pane show
 * the same thing, and nothing depends on a renderer staying alive.
 */

/** Per-conversation settings; `null` means "the model's config default" (C2). */
export interface ChatParams {
  /** '' = none. Never left out of the prompt when the context is trimmed. */
  system_prompt: string;
  temperature: number | null;
  top_p: number | null;
  max_tokens: number | null;
  seed: number | null;
}

export const DEFAULT_CHAT_PARAMS: ChatParams = { system_prompt: '', temperature: null, top_p: null, max_tokens: null, seed: null };

export interface MessageStats {
  /** Completion tokens. */
  tokens: number;
  promptTokens: number;
  /** From send to the first token (includes a load when the model was not ready). */
  ttftMs: number | null;
  /** Completion tokens over the time from the first token to the last. */
  tokensPerSecond: number | null;
  durationMs: number;
}

/**
 * - `stop`: the model ended its answer (or a stop word); `length`: max tokens reached;
 * - `stopped`: the user pressed stop (the partial answer is kept);
 * - `error`: the load or the backend failed (`error` says why; any partial answer is kept).
 */
export type FinishReason = 'stop' | 'length' | 'stopped' | 'error';

export interface ChatMessage {
  id: string;
  role: 'user' | 'assistant';
  content: string;
  /** ISO time it was written. */
  at: string;
  /** Assistant messages: the model that answered. */
  model?: string;
  stats?: MessageStats;
  finish?: FinishReason;
  error?: string;
  /** Assistant messages: how many earlier messages were left out of the prompt to fit the context. */
  omitted?: number;
}

export interface ConversationSummary {
  id: string;
  title: string;
  /** The model new messages go to; null until the user picks one. */
  model: string | null;
  params: ChatParams;
  createdAt: string;
  updatedAt: string;
  messageCount: number;
}

export interface Conversation extends ConversationSummary {
  messages: ChatMessage[];
}

/** An answer being produced. `loading`: the model is being loaded for it; `waiting`: queued or reading the prompt. */
export interface Generation {
  conversationId: string;
  /** The id the finished assistant message will have. */
  messageId: string;
  model: string;
  phase: 'loading' | 'waiting' | 'generating';
  /** The text so far (for a window that opens mid-answer; deltas follow as events). */
  text: string;
  startedAt: string;
  /** Messages left out of the prompt to fit the context (known once the prompt is built). */
  omitted: number;
}

export interface ChatSearchHit {
  conversationId: string;
  title: string;
  /** null when the title matched. */
  messageId: string | null;
  /** Text around the match. */
  snippet: string;
}

export interface ConversationPatch {
  title?: string;
  model?: string | null;
  params?: Partial<ChatParams>;
}

export type ChatExportFormat = 'markdown' | 'json';

/** Events about conversations; part of CoreEvent. */
export type ChatEvent =
  /** Created, renamed, model or params changed, or a message count change. */
  | { type: 'conversation'; conversation: ConversationSummary }
  | { type: 'conversation-removed'; id: string }
  /** A message was appended (the user's at send, the assistant's when its answer ended). */
  | { type: 'chat-message'; conversationId: string; message: ChatMessage }
  /** Messages from index `keep` on were dropped (edit and resend, regenerate). */
  | { type: 'chat-truncated'; conversationId: string; keep: number }
  /** A generation started or changed phase; `generation` null when it ended (its message follows). */
  | { type: 'generation'; conversationId: string; generation: Generation | null }
  /** Text appended to the answer being generated. */
  | { type: 'chat-delta'; conversationId: string; messageId: string; text: string };
