/** What a tokenizer gives for bytes that do not (yet) form a whole UTF-8 character. */
const REPLACEMENT = '\uFFFD';

/** A UTF-8 character is at most 4 bytes, so at most 4 byte-fallback tokens. */
const MAX_CHAR_TOKENS = 4;

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

  constructor(private readonly detokenize: (tokens: Token[], previous: readonly Token[]) => string) {}

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
    this.pending = this.pending.slice(count);
    return text;
  }
}
