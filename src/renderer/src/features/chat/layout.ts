/**
 * The arithmetic of a virtual list with rows of different heights: measured heights where known,
 * an estimate elsewhere; offsets as prefix sums; the rows a scroll position shows. Pure, so it is
 * unit-tested apart from the DOM.
 */

/** offsets[i] = top of row i; offsets[n] = total height. */
export function offsetsOf(keys: readonly string[], measured: ReadonlyMap<string, number>, estimate: (index: number) => number): Float64Array {
  const offsets = new Float64Array(keys.length + 1);
  for (let i = 0; i < keys.length; i++) offsets[i + 1] = offsets[i] + (measured.get(keys[i]) ?? estimate(i));
  return offsets;
}

/** The row at height y (the last row whose top is <= y), clamped to the rows. */
export function indexAt(offsets: Float64Array, y: number): number {
  const n = offsets.length - 1;
  if (n <= 0) return 0;
  let lo = 0;
  let hi = n - 1;
  while (lo < hi) {
    const mid = (lo + hi + 1) >> 1;
    if (offsets[mid] <= y) lo = mid;
    else hi = mid - 1;
  }
  return lo;
}

export interface Range {
  start: number;
  /** Exclusive. */
  end: number;
}

/** The rows that intersect [top - overscan, top + viewport + overscan]. */
export function rangeFor(offsets: Float64Array, top: number, viewport: number, overscan: number): Range {
  const n = offsets.length - 1;
  if (n <= 0) return { start: 0, end: 0 };
  const start = indexAt(offsets, Math.max(0, top - overscan));
  const end = Math.min(n, indexAt(offsets, top + viewport + overscan) + 1);
  return { start, end: Math.max(end, start + 1) };
}

/** The rows shown when scrolled to the very bottom. */
export function bottomRange(offsets: Float64Array, viewport: number, overscan: number): Range {
  const total = offsets[offsets.length - 1];
  return rangeFor(offsets, Math.max(0, total - viewport), viewport, overscan);
}

/** A first guess at a message's height from its length (corrected once it is measured). */
export function estimateHeight(textLength: number, width: number): number {
  const charsPerLine = Math.max(20, Math.floor((width - 48) / 7.5));
  const lines = Math.ceil(Math.max(1, textLength) / charsPerLine);
  return Math.min(4000, 64 + lines * 21);
}
