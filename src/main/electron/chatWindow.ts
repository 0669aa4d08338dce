/**
 * The separate chat window (issue 4, item 1): opened from the tray, the app menu and the global
 * shortcut; one instance (opening it again brings it forward); the main window's hardening, CSP
 * and preload; its own remembered bounds. Closing it just closes it: the conversation lives in
 * the core and keeps streaming, and the window's next opening shows it again.
 */
import { join } from 'node:path';
import type { BrowserWindow, BrowserWindowConstructorOptions } from 'electron';
import { CHAT_WINDOW_SIZES, chatWindowOptions } from './window';
import { readWindowState, trackWindowState } from './windowState';
import type { ScreenLike, TrackedWindow } from './windowState';

export const CHAT_WINDOW_STATE_FILE = 'chat-window-state.json';

export function chatWindowStatePath(userData: string): string {
  return join(userData, CHAT_WINDOW_STATE_FILE);
}

/** The renderer shows only the chat when loaded with `?window=chat` and `#/chat`. */
export function chatPageUrl(pageUrl: string): string {
  const url = new URL(pageUrl);
  url.searchParams.set('window', 'chat');
  url.hash = '#/chat';
  return url.href;
}

export type ChatWindowLike = TrackedWindow &
  Pick<BrowserWindow, 'once' | 'isMinimized' | 'restore' | 'show' | 'focus' | 'maximize' | 'loadURL' | 'close'>;

export interface ChatWindowOptions<W extends ChatWindowLike> {
  /** `new BrowserWindow(options)`. */
  createWindow(options: BrowserWindowConstructorOptions): W;
  /** Hardening and event forwarding, the same as the main window's. */
  prepare(win: W): void;
  preload: string;
  /** The main page's URL; the chat window loads it with the chat query. */
  pageUrl: string;
  stateFile: string;
  screen: ScreenLike;
  icon?: string;
  /**
   * Brings the app to the front first (macOS: `app.focus({ steal: true })`), since the tray and
   * the global shortcut open the window while another app is active.
   */
  activateApp?(): void;
  log?(message: string): void;
}

export class ChatWindowController<W extends ChatWindowLike> {
  private current: W | null = null;

  constructor(private readonly o: ChatWindowOptions<W>) {}

  /** The open chat window, if any. */
  get window(): W | null {
    return this.current && !this.current.isDestroyed() ? this.current : null;
  }

  /** Opens the chat window, or brings the open one forward. */
  open(): W {
    this.o.activateApp?.();
    const open = this.window;
    if (open) {
      if (open.isMinimized()) open.restore();
      open.show();
      open.focus();
      return open;
    }
    const state = readWindowState(this.o.stateFile, this.o.screen, CHAT_WINDOW_SIZES);
    const win = this.o.createWindow(chatWindowOptions(this.o.preload, state.bounds, this.o.icon));
    this.current = win;
    trackWindowState(win, this.o.stateFile, (m) => this.o.log?.(m));
    this.o.prepare(win);
    win.once('ready-to-show', () => {
      if (state.maximized) win.maximize();
      win.show();
      win.focus();
    });
    win.on('closed', () => {
      if (this.current === win) this.current = null;
    });
    const url = chatPageUrl(this.o.pageUrl);
    win.loadURL(url).catch((e: unknown) => this.o.log?.(`could not load the chat window (${url}): ${e instanceof Error ? e.message : String(e)}`));
    return win;
  }

  /** Closes the chat window if it is open. */
  close(): void {
    this.window?.close();
  }
}
