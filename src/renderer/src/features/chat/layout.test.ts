/** The variable-height virtual list's arithmetic: offsets from measured and estimated heights, and the rows in view. */
import { describe, expect, it } from 'vitest';
import { bottomRange, estimateHeight, indexAt, offsetsOf, rangeFor } from './layout';

describe('variable-height virtual list', () => {
  const keys = ['a', 'b', 'c', 'd', 'e'];

  it('offsets use measured heights where known and the estimate elsewhere', () => {
    const offsets = offsetsOf(keys, new Map([['b', 30], ['d', 5]]), () => 10);
    expect([...offsets]).toEqual([0, 10, 40, 50, 55, 65]);
  });

  it('indexAt finds the row under a height; rangeFor adds the overscan on both sides', () => {
    const offsets = offsetsOf(keys, new Map(), () => 100); // 0 100 200 300 400 500
    expect(indexAt(offsets, 0)).toBe(0);
    expect(indexAt(offsets, 99.5)).toBe(0);
    expect(indexAt(offsets, 100)).toBe(1);
    expect(indexAt(offsets, 10_000)).toBe(4);
    expect(rangeFor(offsets, 150, 100, 0)).toEqual({ start: 1, end: 3 });
    expect(rangeFor(offsets, 150, 100, 60)).toEqual({ start: 0, end: 4 });
    expect(bottomRange(offsets, 150, 0)).toEqual({ start: 3, end: 5 });
    expect(rangeFor(offsetsOf([], new Map(), () => 1), 0, 100, 0)).toEqual({ start: 0, end: 0 });
  });

  it('5,000 rows: the bottom of the conversation is a handful of rows, found fast', () => {
    const many = Array.from({ length: 5000 }, (_, i) => `m${i}`);
    const t0 = performance.now();
    const offsets = offsetsOf(many, new Map(), (i) => estimateHeight(i % 7 === 0 ? 900 : 80, 800));
    const r = bottomRange(offsets, 700, 400);
    expect(performance.now() - t0).toBeLessThan(20);
    expect(r.end).toBe(5000);
    expect(r.end - r.start).toBeLessThan(30);
  });

  it('estimates grow with the text and narrower columns, within bounds', () => {
    expect(estimateHeight(10, 800)).toBeLessThan(estimateHeight(2000, 800));
    expect(estimateHeight(2000, 400)).toBeGreaterThan(estimateHeight(2000, 800));
    expect(estimateHeight(10_000_000, 800)).toBe(4000);
  });
});
