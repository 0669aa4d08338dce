import type { BrowserWindowConstructorOptions } from 'electron';
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { CHAT_WINDOW_STATE_FILE, ChatWindowController, chatPageUrl, chatWindowStatePath } from './chatWindow';
import { FakeWindow } from './fakes';
import { chatWindowOptions, isOwnPage, mainWindowOptions } from './window';
import { WINDOW_STATE_FILE } from './windowState';
import type { ScreenLike } from './windowState';
import type { ChatWindowLike } from './chatWindow';

/** The fake, typed as the window the controller takes (Electron's overloaded `on` aside). */
type W = FakeWindow & ChatWindowLike;

const PAGE = 'file:///opt/Loadout/resources/app.asar/out/renderer/index.html';
const DISPLAY = { x: 0, y: 0, width: 1920, height: 1040 };
const screen = { getAllDisplays: () => [{ workArea: DISPLAY }], getPrimaryDisplay: () => ({ workArea: DISPLAY }) } as unknown as ScreenLike;

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'loadout-chatwin-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

function setup(extra: { loadError?: Error } = {}) {
  const created: W[] = [];
  const prepared: W[] = [];
  const logs: string[] = [];
  let activations = 0;
  const chat = new ChatWindowController<W>({
    createWindow: (options: BrowserWindowConstructorOptions) => {
      const w = new FakeWindow(options as Record<string, unknown>) as W;
      if (extra.loadError) w.loadError = extra.loadError;
      created.push(w);
      return w;
    },
    prepare: (w) => void prepared.push(w),
    preload: '/app/out/preload/index.cjs',
    pageUrl: PAGE,
    stateFile: chatWindowStatePath(dir),
    screen,
    activateApp: () => void activations++,
    log: (m) => void logs.push(m),
  });
  return { chat, created, prepared, logs, activations: () => activations };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('the chat window page', () => {
  it.each([
    [PAGE, `${PAGE}?window=chat#/chat`],
    [`${PAGE}#/models`, `${PAGE}?window=chat#/chat`],
    ['http://localhost:5173/', 'http://localhost:5173/?window=chat#/chat'],
    ['http://localhost:5173/?x=1', 'http://localhost:5173/?x=1&window=chat#/chat'],
  ])('%s -> %s', (page, url) => {
    expect(chatPageUrl(page)).toBe(url);
  });

  it('is one of our own pages, so its IPC calls are trusted and navigation rules apply unchanged', () => {
    expect(isOwnPage(chatPageUrl(PAGE), PAGE)).toBe(true);
    expect(isOwnPage(chatPageUrl('http://localhost:5173/'), 'http://localhost:5173/')).toBe(true);
  });

  it("window options: the main window's web preferences, its own title and smaller sizes", () => {
    const chat = chatWindowOptions('/p.cjs', null);
    expect(chat.webPreferences).toEqual(mainWindowOptions('/p.cjs', null).webPreferences);
    expect(chat).toMatchObject({ title: 'Loadout Chat', width: 520, height: 760, minWidth: 380, minHeight: 420, show: false });
  });
});

describe('ChatWindowController', () => {
  it('opens one window on the chat page, hardened like the main one, shown when ready', async () => {
    const t = setup();
    const w = t.chat.open();
    expect(t.created).toEqual([w]);
    expect(t.prepared).toEqual([w]);
    expect(w.options).toMatchObject({ width: 520, height: 760, title: 'Loadout Chat' });
    expect((w.options.webPreferences as Record<string, unknown>).preload).toBe('/app/out/preload/index.cjs');
    expect(w.loaded).toEqual([`${PAGE}?window=chat#/chat`]);
    expect(w.visible).toBe(false);
    w.emit('ready-to-show');
    expect(w.calls).toEqual(['show', 'focus']);
    expect(t.chat.window).toBe(w);
    expect(t.activations()).toBe(1);
  });

  it('opening it again brings the same window forward (restored if minimized) instead of a second one', () => {
    const t = setup();
    const w = t.chat.open();
    w.emit('ready-to-show');
    w.minimized = true;
    w.calls.length = 0;
    expect(t.chat.open()).toBe(w);
    expect(t.created).toHaveLength(1);
    expect(w.calls).toEqual(['restore', 'show', 'focus']);
    expect(t.activations()).toBe(2);
  });

  it('closing it just closes it; the next open makes a new window', () => {
    const t = setup();
    const first = t.chat.open();
    t.chat.close();
    expect(first.destroyed).toBe(true);
    expect(t.chat.window).toBeNull();
    const second = t.chat.open();
    expect(second).not.toBe(first);
    expect(t.created).toHaveLength(2);
    // Closing when nothing is open is fine.
    t.chat.close();
    t.chat.close();
  });

  it('remembers its own bounds in its own file, small sizes included, apart from the main window', () => {
    const t = setup();
    const w = t.chat.open();
    w.bounds = { x: 1400, y: 100, width: 400, height: 600 };
    w.close();
    const file = join(dir, CHAT_WINDOW_STATE_FILE);
    expect(JSON.parse(readFileSync(file, 'utf8'))).toEqual({ x: 1400, y: 100, width: 400, height: 600, maximized: false });
    expect(existsSync(join(dir, WINDOW_STATE_FILE))).toBe(false);
    const again = t.chat.open();
    // Not raised to the main window's minimum (720 x 480).
    expect(again.options).toMatchObject({ x: 1400, y: 100, width: 400, height: 600 });
  });

  it('a maximized chat window comes back maximized', () => {
    const t = setup();
    const w = t.chat.open();
    w.maximized = true;
    w.close();
    const again = t.chat.open();
    again.emit('ready-to-show');
    expect(again.calls).toEqual(['maximize', 'show', 'focus']);
  });

  it('a page that fails to load is logged, not thrown', async () => {
    const t = setup({ loadError: new Error('ERR_FILE_NOT_FOUND') });
    t.chat.open();
    await flush();
    expect(t.logs).toEqual([`could not load the chat window (${PAGE}?window=chat#/chat): ERR_FILE_NOT_FOUND`]);
  });
});
