/**
 * Cuts streamed text at the first stop string (LocalAI's `StopPrompts`), never sending the stop
 * string itself, nor any part of it before it is known not to be one.
 *
 * This works on text, not tokens: a stop string often starts inside a token (" hav" holds the
 * stop "hav"), and a token-level cut would drop the text before it in that token (the space).
 */
export class StopStrings {
  private held = '';
  private readonly stops: string[];

  constructor(stops: readonly string[]) {
    this.stops = stops.filter((s) => s.length > 0);
  }

  /** Adds generated text; returns what is safe to send and whether a stop string was reached. */
  push(text: string): { text: string; stopped: boolean } {
    const buffer = this.held + text;
    let at = -1;
    for (const stop of this.stops) {
      const i = buffer.indexOf(stop);
      if (i >= 0 && (at < 0 || i < at)) at = i;
    }
    if (at >= 0) {
      this.held = '';
      return { text: buffer.slice(0, at), stopped: true };
    }
    const keep = this.pendingPrefixLength(buffer);
    this.held = buffer.slice(buffer.length - keep);
    return { text: buffer.slice(0, buffer.length - keep), stopped: false };
  }

  /** Text held back as a possible start of a stop string, at the end of generation. */
  flush(): string {
    const rest = this.held;
    this.held = '';
    return rest;
  }

  /** Length of the longest end of `buffer` that a stop string starts with. */
  private pendingPrefixLength(buffer: string): number {
    let longest = 0;
    for (const stop of this.stops) {
      for (let n = Math.min(stop.length - 1, buffer.length); n > longest; n--) {
        if (buffer.endsWith(stop.slice(0, n))) {
          longest = n;
          break;
        }
      }
    }
    return longest;
  }
}
