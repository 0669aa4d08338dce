/**
 * Remembers a window's size, position and maximized state: the main window's in
 * `<userData>/window-state.json`, the chat window's in its own file (chatWindow.ts).
 * A saved position is used only if the window would still be reachable on today's displays (a
 * monitor may have been unplugged); a missing or corrupt file means the default size, centred.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../core/fsx/writeFileAtomic';
import type { BrowserWindow, Rectangle, Screen } from 'electron';
import { MAIN_WINDOW_SIZES } from './window';
import type { WindowBounds, WindowSizes } from './window';

export interface WindowState {
  bounds: WindowBounds;
  maximized: boolean;
}

export const WINDOW_STATE_FILE = 'window-state.json';

/** The part of the window that must stay on a display so the user can grab it: its title bar. */
const GRAB = { width: 100, height: 30 } as const;

export type ScreenLike = Pick<Screen, 'getAllDisplays' | 'getPrimaryDisplay'>;

export function windowStatePath(userData: string): string {
  return join(userData, WINDOW_STATE_FILE);
}

/** The saved state fitted to the displays, or the default; never throws. `sizes`: the window's own (the chat window's are smaller). */
export function readWindowState(file: string, screen: ScreenLike, sizes: WindowSizes = MAIN_WINDOW_SIZES): WindowState {
  let saved: unknown;
  try {
    saved = JSON.parse(readFileSync(file, 'utf8'));
  } catch {
    saved = null;
  }
  return fitToDisplays(parseWindowState(saved), screen.getAllDisplays().map((d) => d.workArea), screen.getPrimaryDisplay().workArea, sizes);
}

/** Whatever was in the file, as a state if it is one. */
export function parseWindowState(value: unknown): WindowState | null {
  if (!value || typeof value !== 'object') return null;
  const v = value as Record<string, unknown>;
  const num = (x: unknown): x is number => typeof x === 'number' && Number.isFinite(x);
  if (!num(v.width) || !num(v.height) || v.width <= 0 || v.height <= 0) return null;
  const bounds: WindowBounds = { width: Math.round(v.width), height: Math.round(v.height) };
  if (num(v.x) && num(v.y)) {
    bounds.x = Math.round(v.x);
    bounds.y = Math.round(v.y);
  }
  return { bounds, maximized: v.maximized === true };
}

/**
 * Keeps a saved position only if the top strip of the window overlaps a display's work area by
 * enough to drag it; otherwise the window is centred (no x/y) on the primary display. The size
 * never exceeds the display it lands on, nor goes below the window's minimum.
 */
export function fitToDisplays(state: WindowState | null, workAreas: Rectangle[], primary: Rectangle, sizes: WindowSizes = MAIN_WINDOW_SIZES): WindowState {
  if (!state) return { bounds: { ...clampSize(sizes.default, primary, sizes.min) }, maximized: false };
  const { x, y, width, height } = state.bounds;
  if (x !== undefined && y !== undefined) {
    const titleBar: Rectangle = { x, y, width, height: Math.min(height, GRAB.height) };
    const home = workAreas.find((area) => {
      const overlap = intersect(titleBar, area);
      return overlap !== null && overlap.width >= Math.min(GRAB.width, width) && overlap.height >= Math.min(GRAB.height, titleBar.height);
    });
    if (home) return { bounds: { x, y, ...clampSize({ width, height }, home, sizes.min) }, maximized: state.maximized };
  }
  return { bounds: clampSize({ width, height }, primary, sizes.min), maximized: state.maximized };
}

function clampSize(size: { width: number; height: number }, area: Rectangle, min: WindowSizes['min']): { width: number; height: number } {
  return {
    width: Math.max(min.width, Math.min(size.width, area.width)),
    height: Math.max(min.height, Math.min(size.height, area.height)),
  };
}

function intersect(a: Rectangle, b: Rectangle): Rectangle | null {
  const x = Math.max(a.x, b.x);
  const y = Math.max(a.y, b.y);
  const right = Math.min(a.x + a.width, b.x + b.width);
  const bottom = Math.min(a.y + a.height, b.y + b.height);
  return right > x && bottom > y ? { x, y, width: right - x, height: bottom - y } : null;
}

export type TrackedWindow = Pick<BrowserWindow, 'on' | 'removeListener' | 'getNormalBounds' | 'isMaximized' | 'isMinimized' | 'isFullScreen' | 'isDestroyed'>;

/**
 * Saves the window's state when it is moved or resized (both fire once at the end of a drag) and
 * when it closes. The normal bounds are saved, so un-maximizing next time restores the old size.
 * Returns a function that stops tracking.
 */
export function trackWindowState(win: TrackedWindow, file: string, onError: (message: string) => void = () => {}): () => void {
  const save = (): void => {
    if (win.isDestroyed() || win.isMinimized() || win.isFullScreen()) return;
    const b = win.getNormalBounds();
    const state = { x: b.x, y: b.y, width: b.width, height: b.height, maximized: win.isMaximized() };
    try {
      writeFileAtomicSync(file, `${JSON.stringify(state)}\n`);
    } catch (e) {
      onError(`could not save the window position: ${(e as Error).message}`);
    }
  };
  const events = ['resized', 'moved', 'maximize', 'unmaximize', 'close'] as const;
  for (const event of events) win.on(event as 'close', save);
  return () => {
    for (const event of events) win.removeListener(event as 'close', save);
  };
}
