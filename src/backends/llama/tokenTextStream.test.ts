import { describe, expect, it } from 'vitest';
import { TokenTextStream } from './tokenTextStream';

// A byte-level "tokenizer": each token is one byte, decoded as UTF-8 would be by a detokenizer
// (incomplete or invalid sequences become U+FFFD).
const decode = (tokens: number[], previous: readonly number[]): string => {
  const all = new TextDecoder().decode(Uint8Array.from([...previous, ...tokens]));
  const before = new TextDecoder().decode(Uint8Array.from(previous));
  return all.startsWith(before) ? all.slice(before.length) : new TextDecoder().decode(Uint8Array.from(tokens));
};
const bytes = (s: string): number[] => [...Buffer.from(s, 'utf8')];

function run(tokenGroups: number[][]): string[] {
  const stream = new TokenTextStream<number>(decode);
  const out = tokenGroups.map((g) => stream.push(g));
  out.push(stream.flush());
  return out;
}

describe('TokenTextStream', () => {
  it('R5: holds the bytes of a multi-byte character until it is whole', () => {
    const text = 'aé日😀b';
    const pieces = run(bytes(text).map((b) => [b]));
    expect(pieces.join('')).toBe(text);
    for (const p of pieces) expect(p).not.toContain('\uFFFD');
    expect(pieces.filter(Boolean)).toEqual(['a', 'é', '日', '😀', 'b']);
  });

  it('R5: sends the text before an incomplete character at once', () => {
    // "xy" and the first byte of "日" arrive together: "xy" goes out, the byte waits.
    const [first, second] = run([[...bytes('xy'), bytes('日')[0]], bytes('日').slice(1)]);
    expect(first).toBe('xy');
    expect(second).toBe('日');
  });

  it('R5: invalid bytes go out as U+FFFD, as a one-shot decode shows them', () => {
    const tokens = [0xe6, 0x41, 0xff, 0xff, 0xff, 0xff, 0x42];
    const pieces = run(tokens.map((t) => [t]));
    expect(pieces.join('')).toBe(new TextDecoder().decode(Uint8Array.from(tokens)));
  });

  it('R5: flush sends an incomplete character left at the end', () => {
    const pieces = run([[bytes('日')[0]]]);
    expect(pieces).toEqual(['', '\uFFFD']);
  });
});

describe('TokenTextStream.pushMany', () => {
  // Each byte alone, as a detokenizer shows a lone token (a partial character is U+FFFD).
  const pieceOf = (t: number): string => new TextDecoder().decode(Uint8Array.of(t));

  it('R5: one piece per token from one decode of the batch, the same text as token by token', () => {
    let decodes = 0;
    const counted = (tokens: number[], previous: readonly number[]): string => (decodes++, decode(tokens, previous));
    const stream = new TokenTextStream<number>(counted, pieceOf);
    expect(stream.pushMany(bytes('Hello'))).toEqual(['H', 'e', 'l', 'l', 'o']);
    expect(decodes).toBe(1);
  });

  it('R5: a batch holding a multi-byte character goes token by token and never splits it', () => {
    const text = 'aé日😀b';
    const stream = new TokenTextStream<number>(decode, pieceOf);
    const all = bytes(text);
    const pieces = [...stream.pushMany(all.slice(0, 4)), ...stream.pushMany(all.slice(4)), stream.flush()].filter(Boolean);
    expect(pieces.join('')).toBe(text);
    expect(pieces).toEqual(['a', 'é', '日', '😀', 'b']);
  });

  it('R5: a long stream keeps decoding continuations correctly (the context kept is bounded)', () => {
    const text = 'word '.repeat(200) + '日本';
    const stream = new TokenTextStream<number>(decode, pieceOf);
    const all = bytes(text);
    const out: string[] = [];
    for (let i = 0; i < all.length; i += 3) out.push(...stream.pushMany(all.slice(i, i + 3)));
    out.push(stream.flush());
    expect(out.join('')).toBe(text);
    expect(out.join('')).not.toContain('\uFFFD');
  });
});
