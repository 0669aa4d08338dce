import { describe, expect, it } from 'vitest';
import type { Reply } from '../../wire';
import { CoalescingWriter } from './server';

const texts = (replies: Reply[]) => replies.map((r) => Buffer.from(r.message ?? '').toString('utf8'));

/** Feeds the writer as the engine does: pieces wait until the writer takes them. */
function feeder(w: CoalescingWriter) {
  let waiting: string[] = [];
  let tokens = 0;
  const take = () => {
    const pieces = waiting;
    waiting = [];
    return { pieces, tokens, promptTokens: 5 };
  };
  return (piece: string) => {
    waiting.push(piece);
    tokens++;
    w.push(take);
  };
}

describe('stream coalescing', () => {
  it('R5: the first piece goes out at once; pieces within the window ride together; nothing is lost or reordered', async () => {
    const sent: Reply[] = [];
    const w = new CoalescingWriter((r) => sent.push(r), 20);
    const push = feeder(w);
    push('a');
    expect(texts(sent)).toEqual(['a']);
    push('b');
    push('c');
    expect(texts(sent)).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 40));
    expect(texts(sent)).toEqual(['a', 'bc']);
    expect(sent[1].tokens).toBe(3);
    // The reply keeps its tokens apart, so the API still sends one event per token (House B).
    expect(sent[0].pieces).toEqual([]);
    expect(sent[1].pieces?.map((p) => Buffer.from(p).toString('utf8'))).toEqual(['b', 'c']);
    push('d');
    push('é');
    w.flush();
    expect(texts(sent).join('')).toBe('abcdé');
    expect(sent.at(-1)!.tokens).toBe(5);
  });

  it('R5: a later piece is written from a timer, never inside the token callback (the write overlaps the next evaluation)', async () => {
    const sent: Reply[] = [];
    const w = new CoalescingWriter((r) => sent.push(r), 1);
    const push = feeder(w);
    push('a');
    await new Promise((r) => setTimeout(r, 10));
    push('b');
    expect(texts(sent)).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 10));
    expect(texts(sent)).toEqual(['a', 'b']);
  });

  it('R5: text is taken when the reply goes out, not per token: pieces within the window are taken once', async () => {
    const sent: Reply[] = [];
    const w = new CoalescingWriter((r) => sent.push(r), 20);
    let takes = 0;
    let n = 0;
    const take = () => (takes++, { pieces: [`t${n}`], tokens: n, promptTokens: 1 });
    for (n = 1; n <= 5; n++) w.push(take);
    expect(takes).toBe(1);
    await new Promise((r) => setTimeout(r, 40));
    expect(takes).toBe(2);
    expect(sent).toHaveLength(2);
  });
});
