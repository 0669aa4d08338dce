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
