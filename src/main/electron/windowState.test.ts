import type { BrowserWindow, Display, Rectangle } from 'electron';
import { mkdtempSync, readFileSync, rmSync, writeFileSync, existsSync, mkdirSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeEmitter } from './fakes';
import { fitToDisplays, parseWindowState, readWindowState, trackWindowState, windowStatePath } from './windowState';
import type { ScreenLike, TrackedWindow } from './windowState';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(os.tmpdir(), 'loadout-winstate-'));
  dirs.push(d);
  return d;
}

const LAPTOP: Rectangle = { x: 0, y: 0, width: 1920, height: 1050 };
const RIGHT_MONITOR: Rectangle = { x: 1920, y: 0, width: 2560, height: 1410 };

function fakeScreen(...workAreas: Rectangle[]): ScreenLike {
  const displays = workAreas.map((workArea, id) => ({ id, workArea, bounds: workArea }) as unknown as Display);
  return { getAllDisplays: () => displays, getPrimaryDisplay: () => displays[0] };
}

describe('reading the window state', () => {
  it('no file: the default size, centred (no position)', () => {
    expect(readWindowState(join(tmp(), 'window-state.json'), fakeScreen(LAPTOP))).toEqual({ bounds: { width: 1200, height: 800 }, maximized: false });
  });

  it('a corrupt or wrong-shaped file counts as none', () => {
    const file = join(tmp(), 'window-state.json');
    for (const text of ['{not json', '[]', 'null', '{"width":"wide","height":800}', '{"width":-5,"height":800}', '']) {
      writeFileSync(file, text);
      expect(readWindowState(file, fakeScreen(LAPTOP))).toEqual({ bounds: { width: 1200, height: 800 }, maximized: false });
    }
  });

  it('a saved position on a connected display is kept, with the maximized flag', () => {
    const file = join(tmp(), 'window-state.json');
    writeFileSync(file, JSON.stringify({ x: 2100, y: 100, width: 1400, height: 900, maximized: true }));
    expect(readWindowState(file, fakeScreen(LAPTOP, RIGHT_MONITOR))).toEqual({ bounds: { x: 2100, y: 100, width: 1400, height: 900 }, maximized: true });
  });

  it('a position on a monitor that is gone is dropped (centred on the primary), the size shrunk to fit it', () => {
    const file = join(tmp(), 'window-state.json');
    writeFileSync(file, JSON.stringify({ x: 2100, y: 100, width: 2400, height: 1300, maximized: false }));
    expect(readWindowState(file, fakeScreen(LAPTOP))).toEqual({ bounds: { width: 1920, height: 1050 }, maximized: false });
  });
});

describe('fitting to the displays', () => {
  const state = (x: number, y: number, width = 1000, height = 700) => ({ bounds: { x, y, width, height }, maximized: false });

  it('keeps a window whose title bar can still be grabbed, even partly off screen', () => {
    expect(fitToDisplays(state(1500, 500), [LAPTOP], LAPTOP).bounds).toEqual({ x: 1500, y: 500, width: 1000, height: 700 });
    expect(fitToDisplays(state(-800, 10), [LAPTOP], LAPTOP).bounds.x).toBe(-800);
  });

  it('drops a position whose title bar is off every display (above the top, or only a sliver visible)', () => {
    expect(fitToDisplays(state(100, -600), [LAPTOP], LAPTOP).bounds).toEqual({ width: 1000, height: 700 });
    expect(fitToDisplays(state(1880, 100), [LAPTOP], LAPTOP).bounds).toEqual({ width: 1000, height: 700 });
    expect(fitToDisplays(state(5000, 5000), [LAPTOP, RIGHT_MONITOR], LAPTOP).bounds).toEqual({ width: 1000, height: 700 });
  });

  it('never below the minimum window size', () => {
    expect(fitToDisplays(state(10, 10, 100, 50), [LAPTOP], LAPTOP).bounds).toEqual({ x: 10, y: 10, width: 720, height: 480 });
  });

  it('parses only numbers, rounding them', () => {
    expect(parseWindowState({ x: 1.4, y: 2.6, width: 800.2, height: 600 })).toEqual({ bounds: { x: 1, y: 3, width: 800, height: 600 }, maximized: false });
    expect(parseWindowState({ x: 'a', y: 2, width: 800, height: 600, maximized: 'yes' })).toEqual({ bounds: { width: 800, height: 600 }, maximized: false });
  });
});

class FakeWindow extends FakeEmitter {
  bounds = { x: 40, y: 50, width: 1100, height: 750 };
  maximized = false;
  minimized = false;
  fullScreen = false;
  destroyed = false;
  getNormalBounds() {
    return this.bounds;
  }
  isMaximized() {
    return this.maximized;
  }
  isMinimized() {
    return this.minimized;
  }
  isFullScreen() {
    return this.fullScreen;
  }
  isDestroyed() {
    return this.destroyed;
  }
}

describe('tracking the window', () => {
  it('saves normal bounds and maximized on move, resize, maximize and close; survives the round trip', () => {
    const dir = tmp();
    const file = windowStatePath(dir);
    expect(file).toBe(join(dir, 'window-state.json'));
    const win = new FakeWindow();
    trackWindowState(win as unknown as TrackedWindow, file);
    win.emit('moved');
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ x: 40, y: 50, width: 1100, height: 750, maximized: false });
    win.maximized = true;
    win.emit('maximize');
    win.bounds = { x: 60, y: 70, width: 1000, height: 700 };
    win.emit('close');
    expect(readWindowState(file, fakeScreen(LAPTOP))).toEqual({ bounds: { x: 60, y: 70, width: 1000, height: 700 }, maximized: true });
    expect(existsSync(`${file}.tmp`)).toBe(false);
  });

  it('does not save a minimized or full-screen window (it would come back that way)', () => {
    const file = windowStatePath(tmp());
    const win = new FakeWindow();
    trackWindowState(win as unknown as TrackedWindow, file);
    win.minimized = true;
    win.emit('moved');
    win.minimized = false;
    win.fullScreen = true;
    win.emit('resized');
    expect(existsSync(file)).toBe(false);
  });

  it('a failed save is reported, not thrown; untracking removes every listener', () => {
    const dir = tmp();
    const file = join(dir, 'window-state.json');
    // A non-empty folder where the file goes: the save's rename fails.
    mkdirSync(file);
    writeFileSync(join(file, 'x'), '');
    const errors: string[] = [];
    const win = new FakeWindow();
    const stop = trackWindowState(win as unknown as TrackedWindow, file, (m) => errors.push(m));
    expect(() => win.emit('close')).not.toThrow();
    expect(errors[0]).toMatch(/could not save the window position/);
    stop();
    for (const e of ['resized', 'moved', 'maximize', 'unmaximize', 'close']) expect(win.listenerCount(e)).toBe(0);
  });
});

// Type-level check: the fake's surface is the one trackWindowState takes from a real BrowserWindow.
const _typed: TrackedWindow = {} as BrowserWindow;
void _typed;
