/**
 * Which part of a conversation fits the model's context (pure). The system prompt is always
 * sent; then the newest messages that fit, after room is kept for the answer. Token counts come
 * from the model's own tokenizer; a small overhead per message stands for the chat template's
 * role markers, which are added by the backend and so cannot be counted here.
 */

/** What llama.cpp gives a model whose config sets no context_size (the built-in backend's rule). */
export const DEFAULT_CONTEXT_SIZE = 4096;
/** Template tokens around each message (role header, end-of-turn). */
export const MESSAGE_OVERHEAD = 6;
/** Template tokens once per prompt (BOS, the assistant header the answer follows). */
export const PROMPT_OVERHEAD = 8;

/**
 * The context the backend really gets: the config's context_size, else the model file's trained
 * length capped at 4096 (what the built-in backend does with ContextSize 0).
 */
export function effectiveContextSize(configContextSize: number | undefined | null, ggufContextLength: number | undefined | null): number {
  if (configContextSize && configContextSize > 0) return configContextSize;
  return Math.min(ggufContextLength && ggufContextLength > 0 ? ggufContextLength : DEFAULT_CONTEXT_SIZE, DEFAULT_CONTEXT_SIZE);
}

/**
 * Tokens kept free for the answer: max_tokens when set (at most half the context, so a large
 * max_tokens on a small model still leaves room for the question), else a quarter of the context.
 */
export function answerReserve(contextSize: number, maxTokens: number | null | undefined): number {
  if (maxTokens && maxTokens > 0) return Math.min(maxTokens, Math.floor(contextSize / 2));
  return Math.floor(contextSize / 4);
}

/**
 * The most tokens a text can take: every tokenizer covers a byte with at most one token, plus one
 * for SentencePiece's leading space. A conversation that fits at this count needs no tokenizing.
 */
export function tokenUpperBound(text: string): number {
  return Buffer.byteLength(text, 'utf8') + 1;
}

/** Tokens a message takes in the prompt. */
export function messageCost(tokens: number): number {
  return tokens + MESSAGE_OVERHEAD;
}

/** Tokens left for the conversation's messages (may be negative when the system prompt alone is too long). */
export function historyBudget(o: { contextSize: number; reserve: number; systemTokens: number | null }): number {
  const system = o.systemTokens === null ? 0 : messageCost(o.systemTokens);
  return o.contextSize - o.reserve - PROMPT_OVERHEAD - system;
}

export type HistoryFit =
  /** `keep`: how many of the newest messages go into the prompt; `tokens`: their cost. */
  | { ok: true; keep: number; tokens: number }
  /** Even the newest message alone does not fit. */
  | { ok: false; newestTokens: number };

/**
 * Picks the newest messages that fit `budget`. `costs` are the messages' costs, NEWEST FIRST,
 * and may stop early (at the first message that no longer fits: nothing older is needed).
 * `roles` are the roles of ALL the messages, newest first: when older messages are left out, the
 * kept history starts with a user turn, because many chat templates reject a conversation that
 * opens with the assistant.
 */
export function fitHistory(costs: readonly number[], roles: readonly string[], budget: number): HistoryFit {
  if (costs.length === 0) return { ok: true, keep: 0, tokens: 0 };
  if (costs[0] > budget) return { ok: false, newestTokens: costs[0] - MESSAGE_OVERHEAD };
  let keep = 0;
  let tokens = 0;
  while (keep < costs.length && tokens + costs[keep] <= budget) {
    tokens += costs[keep];
    keep++;
  }
  // The oldest kept message (index keep-1) should be a user turn when anything was left out.
  while (keep > 1 && keep < roles.length && roles[keep - 1] === 'assistant') {
    keep--;
    tokens -= costs[keep];
  }
  return { ok: true, keep, tokens };
}
