/**
 * Close to tray (issue 4, item 7): with the `close_to_tray` setting on and a tray icon shown,
 * closing the main window hides it and Loadout keeps running (models stay loaded, the API keeps
 * answering). A real quit still quits: the menu's or the tray's Quit, Cmd+Q, a signal and the OS
 * shutting down all go through `before-quit` (quit.ts), or on Windows through the window's
 * `session-end`, and from then on a close is a close. The first time the window hides, the user
 * is told once where it went.
 */
import { existsSync, mkdirSync, writeFileSync } from 'node:fs';
import { dirname, join } from 'node:path';
import type { App, BrowserWindow } from 'electron';
import type { Settings } from '../../shared/model';

/**
 * The desktop's defaults for this platform, below the saved settings file and the flags. Some
 * Linux desktops (GNOME without an extension) show no tray icon at all, so hiding the window
 * there could leave a running app with no way back to it but a second launch.
 */
export function desktopSettingsDefaults(platform: NodeJS.Platform): Partial<Settings> {
  return { close_to_tray: platform === 'darwin' || platform === 'win32' };
}

export interface CloseContext {
  /** The `close_to_tray` setting. */
  closeToTray: boolean;
  /** A tray icon exists to bring the window back from. */
  trayShown: boolean;
  /** The app is quitting for real. */
  quitting: boolean;
}

/** What closing the main window does. */
export function closeAction(c: CloseContext): 'hide' | 'close' {
  return c.closeToTray && c.trayShown && !c.quitting ? 'hide' : 'close';
}

export const TRAY_HINT_FILE = 'tray-hint-shown';

/** Remembers in the data folder that the one-time hint was shown. */
export class OnceMarker {
  constructor(readonly file: string) {}

  static trayHint(dataDir: string): OnceMarker {
    return new OnceMarker(join(dataDir, TRAY_HINT_FILE));
  }

  /** True the first time ever (and marks it); false after. A marker that cannot be written means the hint may show again: better than never. */
  take(onError: (message: string) => void = () => {}): boolean {
    if (existsSync(this.file)) return false;
    try {
      mkdirSync(dirname(this.file), { recursive: true });
      writeFileSync(this.file, `${new Date().toISOString()}\n`);
    } catch (e) {
      onError(`could not remember that the tray hint was shown: ${(e as Error).message}`);
    }
    return true;
  }
}

export const TRAY_HINT = {
  title: 'Loadout is still running',
  body: 'Closing the window keeps Loadout in the tray, with your models loaded and the API on. Open the window or quit from the tray icon. To quit when the window closes, turn off close_to_tray in Settings.',
} as const;

export type HideableWindow = Pick<BrowserWindow, 'on' | 'removeListener' | 'hide'>;

export interface CloseToTrayOptions {
  app: Pick<App, 'on'>;
  closeToTray(): boolean;
  trayShown(): boolean;
  marker: OnceMarker;
  /** Tells the user, once, that the window went to the tray (a notification or a message box). */
  explain(): void;
  log?(message: string): void;
}

export class CloseToTray {
  private quittingNow = false;

  constructor(private readonly o: CloseToTrayOptions) {
    // The first before-quit is held back by quit.ts while backends stop; it is a quit all the same.
    o.app.on('before-quit', () => this.markQuitting());
  }

  get quitting(): boolean {
    return this.quittingNow;
  }

  markQuitting(): void {
    this.quittingNow = true;
  }

  /** Makes closing `win` hide it when the setting says so. Returns a function that detaches. */
  attach(win: HideableWindow): () => void {
    const onClose = (event: { preventDefault(): void }) => {
      const action = closeAction({ closeToTray: this.o.closeToTray(), trayShown: this.o.trayShown(), quitting: this.quittingNow });
      if (action === 'close') return;
      event.preventDefault();
      win.hide();
      if (this.o.marker.take((m) => this.o.log?.(m))) {
        try {
          this.o.explain();
        } catch (e) {
          this.o.log?.(`could not show the tray hint: ${(e as Error).message}`);
        }
      }
    };
    // Windows logs off or shuts down without a before-quit; the window closes for good.
    const onSessionEnd = () => this.markQuitting();
    win.on('close', onClose);
    win.on('session-end', onSessionEnd);
    return () => {
      win.removeListener('close', onClose);
      win.removeListener('session-end', onSessionEnd);
    };
  }
}
