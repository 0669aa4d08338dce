/** Window options and web-contents hardening: secure defaults as pure data plus one function. */
import type { BrowserWindowConstructorOptions, WebContents } from 'electron';

export interface WindowBounds {
  x?: number;
  y?: number;
  width: number;
  height: number;
}

export function mainWindowOptions(preload: string, bounds: WindowBounds | null): BrowserWindowConstructorOptions {
  return {
    ...(bounds ?? { width: 1200, height: 800 }),
    minWidth: 720,
    minHeight: 480,
    title: 'Loadout',
    show: false,
    autoHideMenuBar: false,
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      spellcheck: false,
    },
  };
}

/** Pages may only be our own: no navigation away, no new windows, no permissions. */
export function hardenWebContents(contents: Pick<WebContents, 'on' | 'setWindowOpenHandler' | 'session'>, isOwnUrl: (url: string) => boolean, openExternal: (url: string) => void): void {
  contents.on('will-navigate', (event, url) => {
    if (!isOwnUrl(url)) event.preventDefault();
  });
  contents.setWindowOpenHandler(({ url }) => {
    // Links in the UI (docs, model pages) open in the user's browser, never inside the app.
    if (/^https:\/\//.test(url)) openExternal(url);
    return { action: 'deny' };
  });
  contents.session.setPermissionRequestHandler((_wc, _permission, callback) => callback(false));
}

export const CONTENT_SECURITY_POLICY = "default-src 'self'; script-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; connect-src 'self' ws://127.0.0.1:*; object-src 'none'; base-uri 'none'; frame-ancestors 'none'";
