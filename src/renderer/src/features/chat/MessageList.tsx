/**
 * A virtual list for rows of different heights (chat messages): only the rows in view (plus an
 * overscan) are in the DOM, between two spacers sized from measured heights (ResizeObserver) or
 * estimates. The rows are in normal flow, so the browser's scroll anchoring keeps the view still
 * when rows above it are measured. It sticks to the bottom while the user is there (an answer
 * streaming in stays in view) and lets go when they scroll up.
 */
import { useCallback, useEffect, useLayoutEffect, useMemo, useReducer, useRef, useState } from 'react';
import type { ReactNode } from 'react';
import { bottomRange, offsetsOf, rangeFor } from './layout';
import type { Range } from './layout';

const OVERSCAN_PX = 600;
/** Within this many pixels of the bottom counts as at the bottom. */
const BOTTOM_SLACK = 24;

interface Props {
  keys: readonly string[];
  estimate: (index: number) => number;
  renderItem: (key: string, index: number) => ReactNode;
  /** Scrolls to this row and highlights it; `onJumped` is called once it did (the caller clears `jump`). */
  jump: string | null;
  onJumped: () => void;
  label: string;
}

export function MessageList({ keys, estimate, renderItem, jump, onJumped, label }: Props) {
  const scroller = useRef<HTMLDivElement>(null);
  const measured = useRef(new Map<string, number>());
  const [version, bump] = useReducer((v: number) => v + 1, 0);
  const stick = useRef(true);
  const viewport = useRef(600);
  const [scrolledRange, setScrolledRange] = useState<Range>({ start: 0, end: 0 });
  const pendingJump = useRef<string | null>(null);

  // `version` stands for the measured heights (kept in a ref, updated by the observer).
  const offsets = useMemo(() => offsetsOf(keys, measured.current, estimate), [keys, estimate, version]);
  const offsetsRef = useRef(offsets);
  offsetsRef.current = offsets;

  const n = keys.length;
  const range = stick.current ? bottomRange(offsets, viewport.current, OVERSCAN_PX) : { start: Math.min(scrolledRange.start, Math.max(0, n - 1)), end: Math.min(Math.max(scrolledRange.end, scrolledRange.start + 1), n) };

  const toBottom = useCallback(() => {
    const el = scroller.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, []);

  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (!el) return;
    const atBottom = el.scrollHeight - el.scrollTop - el.clientHeight <= BOTTOM_SLACK;
    const wasStuck = stick.current;
    stick.current = atBottom && pendingJump.current === null;
    // While stuck the range is the bottom one (computed in render): our own scrolling costs no render.
    if (stick.current && wasStuck) return;
    const next = rangeFor(offsetsRef.current, el.scrollTop, el.clientHeight, OVERSCAN_PX);
    setScrolledRange((prev) => (prev.start === next.start && prev.end === next.end ? prev : next));
    if (wasStuck !== stick.current) bump();
  }, []);

  // One observer for the rows (their heights) and the scroller (the viewport).
  const observer = useMemo(
    () =>
      new ResizeObserver((entries) => {
        let changed = false;
        for (const entry of entries) {
          const el = entry.target as HTMLElement;
          if (el === scroller.current) {
            viewport.current = el.clientHeight;
            changed = true;
            continue;
          }
          const key = el.dataset.key;
          if (!key) continue;
          const h = entry.borderBoxSize?.[0]?.blockSize ?? el.offsetHeight;
          if (h > 0 && measured.current.get(key) !== h) {
            measured.current.set(key, h);
            changed = true;
          }
        }
        toBottom();
        if (changed) bump();
      }),
    [toBottom],
  );
  useEffect(() => () => observer.disconnect(), [observer]);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    viewport.current = el.clientHeight;
    observer.observe(el);
    return () => observer.unobserve(el);
  }, [observer]);

  const rowRef = useCallback(
    (el: HTMLDivElement | null) => {
      if (el) observer.observe(el);
      // React 19: a ref callback's cleanup runs when the row leaves the DOM.
      return () => {
        if (el) observer.unobserve(el);
      };
    },
    [observer],
  );

  // After every render: stay at the bottom when stuck there.
  useLayoutEffect(() => {
    toBottom();
  });

  // A jump: scroll near the row (by its offset) so it renders, then put it in the middle.
  useLayoutEffect(() => {
    if (!jump) return;
    const index = keys.indexOf(jump);
    const el = scroller.current;
    if (index < 0 || !el) return;
    onJumped();
    stick.current = false;
    pendingJump.current = jump;
    el.scrollTop = Math.max(0, offsetsRef.current[index] - el.clientHeight / 3);
    setScrolledRange(rangeFor(offsetsRef.current, el.scrollTop, el.clientHeight, OVERSCAN_PX));
    bump();
  });

  useLayoutEffect(() => {
    const key = pendingJump.current;
    const el = scroller.current;
    if (!key || !el) return;
    const row = el.querySelector<HTMLElement>(`[data-key="${CSS.escape(key)}"]`);
    if (!row) return;
    pendingJump.current = null;
    row.scrollIntoView({ block: 'center' });
    row.classList.remove('flash');
    void row.offsetWidth; // restart the highlight animation
    row.classList.add('flash');
  });

  const rows: ReactNode[] = [];
  for (let i = range.start; i < range.end; i++) {
    rows.push(
      <div key={keys[i]} ref={rowRef} data-key={keys[i]} className="msg-row" role="listitem">
        {renderItem(keys[i], i)}
      </div>,
    );
  }
  return (
    <div ref={scroller} className="msg-scroller" onScroll={onScroll} tabIndex={0} role="list" aria-label={label}>
      <div style={{ height: offsets[range.start] ?? 0 }} aria-hidden="true" />
      {rows}
      <div style={{ height: Math.max(0, offsets[n] - (offsets[range.end] ?? offsets[n])) }} aria-hidden="true" />
    </div>
  );
}
