/**
 * A list that renders only the rows in view (plus `overscan` above and below): fixed row height,
 * rows absolutely positioned in a tall inner box. 1,000 models cost as much as 30.
 */
import { forwardRef, useCallback, useEffect, useImperativeHandle, useLayoutEffect, useRef, useState } from 'react';
import type { KeyboardEvent, ReactNode } from 'react';

export interface VirtualListHandle {
  scrollToIndex(index: number): void;
  focus(): void;
}

interface Props {
  items: readonly string[];
  rowHeight: number;
  renderRow: (item: string, index: number) => ReactNode;
  overscan?: number;
  className?: string;
  label: string;
  /** The row the keyboard is on, or -1 (marked aria-current). */
  activeIndex?: number;
  onKeyDown?: (e: KeyboardEvent<HTMLDivElement>) => void;
}

export const VirtualList = forwardRef<VirtualListHandle, Props>(function VirtualList(
  { items, rowHeight, renderRow, overscan = 6, className, label, activeIndex = -1, onKeyDown },
  ref,
) {
  const scroller = useRef<HTMLDivElement>(null);
  const [viewport, setViewport] = useState(600);
  const [first, setFirst] = useState(0);

  useLayoutEffect(() => {
    const el = scroller.current;
    if (!el) return;
    setViewport(el.clientHeight);
    const ro = new ResizeObserver(() => setViewport(el.clientHeight));
    ro.observe(el);
    return () => ro.disconnect();
  }, []);

  // Re-render only when the first visible row changes, not on every scrolled pixel.
  const onScroll = useCallback(() => {
    const el = scroller.current;
    if (el) setFirst(Math.floor(el.scrollTop / rowHeight));
  }, [rowHeight]);

  useImperativeHandle(ref, () => ({
    scrollToIndex(index: number) {
      const el = scroller.current;
      if (!el) return;
      const top = index * rowHeight;
      if (top < el.scrollTop) el.scrollTop = top;
      else if (top + rowHeight > el.scrollTop + el.clientHeight) el.scrollTop = top + rowHeight - el.clientHeight;
    },
    focus: () => scroller.current?.focus(),
  }), [rowHeight]);

  // A shorter list (a filter) may leave the scroll position past its end.
  useEffect(() => {
    const el = scroller.current;
    if (el && first * rowHeight > items.length * rowHeight) setFirst(Math.floor(el.scrollTop / rowHeight));
  }, [items.length, first, rowHeight]);

  const visible = Math.ceil(viewport / rowHeight) + 1;
  const start = Math.max(0, first - overscan);
  const end = Math.min(items.length, first + visible + overscan);
  const rows: ReactNode[] = [];
  for (let i = start; i < end; i++) {
    rows.push(
      <div key={items[i]} role="listitem" aria-current={i === activeIndex ? 'true' : undefined} className={i === activeIndex ? 'vrow active' : 'vrow'} style={{ transform: `translateY(${i * rowHeight}px)`, height: rowHeight }}>
        {renderRow(items[i], i)}
      </div>,
    );
  }
  return (
    <div
      ref={scroller}
      className={`vlist ${className ?? ''}`}
      onScroll={onScroll}
      tabIndex={0}
      role="list"
      aria-label={label}
      onKeyDown={onKeyDown}
    >
      <div className="vlist-inner" style={{ height: items.length * rowHeight }}>
        {rows}
      </div>
    </div>
  );
});
