import { existsSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CloseToTray, OnceMarker, TRAY_HINT_FILE, closeAction, desktopSettingsDefaults } from './closeToTray';
import type { CloseContext, CloseToTrayOptions, HideableWindow } from './closeToTray';
import { FakeEmitter, FakeWindow, fakeEvent } from './fakes';
import { installQuitHandler } from './quit';
import type { QuitApp } from './quit';

/** Like Electron's app: quit() emits 'before-quit'; unless prevented, it closes every window and quits. */
class FakeApp extends FakeEmitter {
  windows: FakeWindow[] = [];
  quitted = false;
  quit() {
    const event = fakeEvent();
    this.emit('before-quit', event);
    if (event.defaultPrevented) return;
    for (const w of this.windows) w.close();
    // A window that refused to close holds the quit, as in Electron.
    if (this.windows.every((w) => w.destroyed)) this.quitted = true;
  }
}

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'loadout-tray-close-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function setup(opts: { closeToTray?: boolean; trayShown?: boolean; marker?: OnceMarker } = {}) {
  const app = new FakeApp();
  const win = new FakeWindow();
  win.visible = true;
  app.windows.push(win);
  const state = { closeToTray: opts.closeToTray ?? true, trayShown: opts.trayShown ?? true };
  const hints: number[] = [];
  const logs: string[] = [];
  const closer = new CloseToTray({
    app: app as unknown as CloseToTrayOptions['app'],
    closeToTray: () => state.closeToTray,
    trayShown: () => state.trayShown,
    marker: opts.marker ?? OnceMarker.trayHint(dir),
    explain: () => void hints.push(1),
    log: (m) => void logs.push(m),
  });
  const detach = closer.attach(win as unknown as HideableWindow);
  return { app, win, state, hints, logs, closer, detach };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('close to tray: the setting per platform', () => {
  it.each([
    ['darwin', true],
    ['win32', true],
    ['linux', false],
    ['freebsd', false],
  ] as const)('%s: close_to_tray defaults to %s', (platform, on) => {
    expect(desktopSettingsDefaults(platform)).toEqual({ close_to_tray: on });
  });
});

describe('close to tray: the decision', () => {
  it.each<[CloseContext, 'hide' | 'close']>([
    [{ closeToTray: true, trayShown: true, quitting: false }, 'hide'],
    [{ closeToTray: false, trayShown: true, quitting: false }, 'close'],
    [{ closeToTray: true, trayShown: false, quitting: false }, 'close'],
    [{ closeToTray: true, trayShown: true, quitting: true }, 'close'],
    [{ closeToTray: false, trayShown: false, quitting: true }, 'close'],
  ])('%j -> %s', (ctx, action) => {
    expect(closeAction(ctx)).toBe(action);
  });
});

describe('close to tray: the main window', () => {
  it('on, with a tray: closing hides the window; the first time only, the user is told where it went', () => {
    const t = setup();
    t.win.close();
    expect(t.win.destroyed).toBe(false);
    expect(t.win.visible).toBe(false);
    expect(t.hints).toEqual([1]);
    expect(existsSync(join(dir, TRAY_HINT_FILE))).toBe(true);
    t.win.show();
    t.win.close();
    expect(t.win.visible).toBe(false);
    expect(t.hints).toEqual([1]);
  });

  it('the hint is remembered in the data folder across restarts', () => {
    setup().win.close();
    const next = setup();
    next.win.close();
    expect(next.win.visible).toBe(false);
    expect(next.hints).toEqual([]);
  });

  it('off (the Linux default) or without a tray: closing closes, as before', () => {
    for (const t of [setup({ closeToTray: false }), setup({ trayShown: false })]) {
      t.win.close();
      expect(t.win.destroyed).toBe(true);
      expect(t.hints).toEqual([]);
    }
  });

  it('the setting is read at each close, so changing it applies at once', () => {
    const t = setup({ closeToTray: false });
    t.state.closeToTray = true;
    t.win.close();
    expect(t.win.destroyed).toBe(false);
    t.state.closeToTray = false;
    t.win.show();
    t.win.close();
    expect(t.win.destroyed).toBe(true);
  });

  it('a real quit (menu, tray, Cmd+Q, a signal) still quits: the window closes after the backends stopped (U4)', async () => {
    const t = setup();
    let stops = 0;
    installQuitHandler(t.app as unknown as QuitApp, async () => void stops++);
    t.app.quit();
    expect(t.closer.quitting).toBe(true);
    await flush();
    expect(stops).toBe(1);
    expect(t.win.destroyed).toBe(true);
    expect(t.app.quitted).toBe(true);
    expect(t.hints).toEqual([]);
  });

  it('Windows shutting down or logging off (session-end, no before-quit) closes the window for good', () => {
    const t = setup();
    t.win.emit('session-end');
    t.win.close();
    expect(t.win.destroyed).toBe(true);
  });

  it('a marker that cannot be written still shows the hint, and says why in the log', () => {
    const blocker = join(dir, 'not-a-folder');
    writeFileSync(blocker, '');
    const t = setup({ marker: OnceMarker.trayHint(join(blocker, 'data')) });
    t.win.close();
    expect(t.hints).toEqual([1]);
    expect(t.logs).toHaveLength(1);
    expect(t.logs[0]).toMatch(/^could not remember that the tray hint was shown: /);
  });

  it('a hint that fails to show is logged, and the window still hides', () => {
    const app = new FakeApp();
    const win = new FakeWindow();
    const logs: string[] = [];
    const closer = new CloseToTray({
      app: app as unknown as CloseToTrayOptions['app'],
      closeToTray: () => true,
      trayShown: () => true,
      marker: OnceMarker.trayHint(dir),
      explain: () => {
        throw new Error('notifications are off');
      },
      log: (m) => void logs.push(m),
    });
    closer.attach(win as unknown as HideableWindow);
    win.show();
    win.close();
    expect(win.visible).toBe(false);
    expect(logs).toEqual(['could not show the tray hint: notifications are off']);
  });

  it('detaching removes its listeners', () => {
    const t = setup();
    t.detach();
    expect(t.win.listenerCount('close')).toBe(0);
    expect(t.win.listenerCount('session-end')).toBe(0);
    t.win.close();
    expect(t.win.destroyed).toBe(true);
  });
});
