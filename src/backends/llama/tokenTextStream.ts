/** What a tokenizer gives for bytes that do not (yet) form a whole UTF-8 character. */
const REPLACEMENT = '\uFFFD';

/** A UTF-8 character is at most 4 bytes, so at most 4 byte-fallback tokens. */
const MAX_CHAR_TOKENS = 4;

/** The earlier tokens a continuation is decoded against (node-llama-cpp looks at the last 3). */
const CONTEXT_TOKENS = 8;

/**
 * Turns generated tokens into text pieces that never end inside a multi-byte UTF-8 character.
 *
 * Models with byte-fallback vocabularies emit a character like "日" as three byte tokens; decoding
 * them one at a time would send U+FFFD three times. The detokenizer only gives strings, so an
 * incomplete character shows up as a trailing U+FFFD: hold the tokens after the last whole
 * character until the character completes (or cannot: after 4 tokens the bytes are invalid and
 * go out as U+FFFD, exactly as a one-shot decode of all tokens would show them).
 *
 * `detokenize(tokens, previous)` must decode `tokens` as the continuation of `previous` (so
 * tokenizers that drop a leading space at the start of a text do not drop it mid-stream).
 */
export class TokenTextStream<Token> {
  private readonly emitted: Token[] = [];
  private pending: Token[] = [];

  /**
   * `pieceOf(token)`, when given, is the token's text decoded alone (cached by the caller): it lets
   * `pushMany` split a batch into one piece per token from a single decode of the batch.
   */
  constructor(
    private readonly detokenize: (tokens: Token[], previous: readonly Token[]) => string,
    private readonly pieceOf?: (token: Token) => string,
  ) {}

  /**
   * Adds a batch of tokens; returns the text now safe to send as one piece per token (clarifications
   * 2), empty pieces left out. One decode of the whole batch in context: where the tokens' own
   * pieces join to exactly that text (almost always) they are the answer; otherwise (a character
   * split over byte tokens, a tokenizer that joins across tokens) the batch goes token by token.
   */
  pushMany(tokens: readonly Token[]): string[] {
    if (tokens.length === 0) return [];
    if (this.pending.length === 0 && this.pieceOf) {
      const text = this.decode(tokens as Token[]);
      if (!text.endsWith(REPLACEMENT)) {
        const pieces = tokens.map(this.pieceOf);
        if (pieces.join('') === text) {
          this.pending = tokens.slice();
          this.commit(tokens.length, text);
          return pieces.filter(Boolean);
        }
      }
    }
    const out: string[] = [];
    for (const token of tokens) {
      const text = this.push([token]);
      if (text) out.push(text);
    }
    return out;
  }

  /** Adds tokens; returns the text that is now safe to send ('' while a character is incomplete). */
  push(tokens: readonly Token[]): string {
    this.pending.push(...tokens);
    const text = this.decode(this.pending);
    if (!text.endsWith(REPLACEMENT)) return this.commit(this.pending.length, text);
    // Send what precedes the incomplete character; its tokens are at most the last 3.
    const n = this.pending.length;
    for (let k = n - 1; k >= Math.max(1, n - (MAX_CHAR_TOKENS - 1)); k--) {
      const head = this.decode(this.pending.slice(0, k));
      if (!head.endsWith(REPLACEMENT)) return this.commit(k, head);
    }
    return n >= MAX_CHAR_TOKENS ? this.commit(n, text) : '';
  }

  /** The rest at the end of generation, whole or not. */
  flush(): string {
    return this.pending.length === 0 ? '' : this.commit(this.pending.length, this.decode(this.pending));
  }

  private decode(tokens: Token[]): string {
    return this.detokenize(tokens, this.emitted);
  }

  private commit(count: number, text: string): string {
    this.emitted.push(...this.pending.slice(0, count));
    // Only the last few emitted tokens matter to a continuation; the rest would grow per token.
    if (this.emitted.length > 4 * CONTEXT_TOKENS) this.emitted.splice(0, this.emitted.length - CONTEXT_TOKENS);
    this.pending = this.pending.slice(count);
    return text;
  }
}
