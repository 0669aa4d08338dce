import { describe, expect, it } from 'vitest';
import type { Reply } from '../../wire';
import { CoalescingWriter } from './server';

const texts = (replies: Reply[]) => replies.map((r) => Buffer.from(r.message ?? '').toString('utf8'));

describe('stream coalescing', () => {
  it('R5: the first piece goes out at once; pieces within the window ride together; nothing is lost or reordered', async () => {
    const sent: Reply[] = [];
    const w = new CoalescingWriter((r) => sent.push(r), 20);
    w.push('a', { tokens: 1, promptTokens: 5 });
    expect(texts(sent)).toEqual(['a']);
    w.push('b', { tokens: 2, promptTokens: 5 });
    w.push('c', { tokens: 3, promptTokens: 5 });
    expect(texts(sent)).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 40));
    expect(texts(sent)).toEqual(['a', 'bc']);
    expect(sent[1].tokens).toBe(3);
    // The reply keeps its tokens apart, so the API still sends one event per token (House B).
    expect(sent[0].pieces).toEqual([]);
    expect(sent[1].pieces?.map((p) => Buffer.from(p).toString('utf8'))).toEqual(['b', 'c']);
    w.push('d', { tokens: 4, promptTokens: 5 });
    w.push('é', { tokens: 5, promptTokens: 5 });
    w.flush();
    expect(texts(sent).join('')).toBe('abcdé');
    expect(sent.at(-1)!.tokens).toBe(5);
  });

  it('R5: a later piece is written from a timer, never inside the token callback (the write overlaps the next evaluation)', async () => {
    const sent: Reply[] = [];
    const w = new CoalescingWriter((r) => sent.push(r), 1);
    w.push('a', { tokens: 1, promptTokens: 5 });
    await new Promise((r) => setTimeout(r, 10));
    w.push('b', { tokens: 2, promptTokens: 5 });
    expect(texts(sent)).toEqual(['a']);
    await new Promise((r) => setTimeout(r, 10));
    expect(texts(sent)).toEqual(['a', 'b']);
  });
});
