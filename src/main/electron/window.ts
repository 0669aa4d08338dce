/**
 * The main window's options and its hardening (architecture convention 3): secure defaults as
 * pure data, plus functions that take the few Electron objects they configure.
 */
import type { BrowserWindowConstructorOptions, OnHeadersReceivedListenerDetails, HeadersReceivedResponse, Session, WebContents } from 'electron';

export interface WindowBounds {
  x?: number;
  y?: number;
  width: number;
  height: number;
}

export const DEFAULT_WINDOW_SIZE = { width: 1200, height: 800 } as const;
export const MIN_WINDOW_SIZE = { width: 720, height: 480 } as const;

/** The chat window: narrow and tall, like a messenger beside the editor it is used with. */
export const CHAT_WINDOW_SIZE = { width: 520, height: 760 } as const;
export const CHAT_MIN_WINDOW_SIZE = { width: 380, height: 420 } as const;

export interface WindowSizes {
  default: { width: number; height: number };
  min: { width: number; height: number };
}

export const MAIN_WINDOW_SIZES: WindowSizes = { default: DEFAULT_WINDOW_SIZE, min: MIN_WINDOW_SIZE };
export const CHAT_WINDOW_SIZES: WindowSizes = { default: CHAT_WINDOW_SIZE, min: CHAT_MIN_WINDOW_SIZE };

/** Every window of ours gets the same locked-down web preferences, whatever it shows. */
function secureWindowOptions(preload: string, bounds: WindowBounds | null, sizes: WindowSizes, title: string, icon?: string): BrowserWindowConstructorOptions {
  return {
    ...(bounds ?? sizes.default),
    minWidth: sizes.min.width,
    minHeight: sizes.min.height,
    title,
    ...(icon ? { icon } : {}),
    // Shown on 'ready-to-show', so the user never sees an empty white frame.
    show: false,
    autoHideMenuBar: false,
    webPreferences: {
      preload,
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
      navigateOnDragDrop: false,
      spellcheck: false,
    },
  };
}

export function mainWindowOptions(preload: string, bounds: WindowBounds | null, icon?: string): BrowserWindowConstructorOptions {
  return secureWindowOptions(preload, bounds, MAIN_WINDOW_SIZES, 'Loadout', icon);
}

export function chatWindowOptions(preload: string, bounds: WindowBounds | null, icon?: string): BrowserWindowConstructorOptions {
  return secureWindowOptions(preload, bounds, CHAT_WINDOW_SIZES, 'Loadout Chat', icon);
}

/**
 * Whether `url` is one of our own pages: under the renderer's folder for a `file:` page, the same
 * origin for the dev server. Parsed as URLs, so `..` segments and look-alike hosts do not pass.
 */
export function isOwnPage(url: string, pageUrl: string): boolean {
  let target: URL;
  let page: URL;
  try {
    target = new URL(url);
    page = new URL(pageUrl);
  } catch {
    return false;
  }
  if (page.protocol === 'file:') {
    if (target.protocol !== 'file:' || target.host !== page.host) return false;
    const folder = page.pathname.slice(0, page.pathname.lastIndexOf('/') + 1);
    return target.pathname.startsWith(folder);
  }
  return target.origin === page.origin;
}

/** Permissions our own pages may use: writing plain text to the clipboard (a chat's Copy button). */
const ALLOWED_PERMISSIONS = new Set(['clipboard-sanitized-write']);

/** Pages may only be our own: no navigation away, no new windows, no webviews, no permissions. */
export function hardenWebContents(
  contents: Pick<WebContents, 'on' | 'setWindowOpenHandler' | 'session'>,
  isOwnUrl: (url: string) => boolean,
  openExternal: (url: string) => void,
): void {
  contents.on('will-navigate', (event) => {
    if (!isOwnUrl(event.url)) event.preventDefault();
  });
  contents.on('will-redirect', (event) => {
    if (!isOwnUrl(event.url)) event.preventDefault();
  });
  contents.on('will-attach-webview', (event) => event.preventDefault());
  contents.setWindowOpenHandler(({ url }) => {
    // Links in the UI (docs, model pages) open in the user's browser, never inside the app.
    if (/^https:\/\//i.test(url)) openExternal(url);
    return { action: 'deny' };
  });
  contents.session.setPermissionRequestHandler((wc, permission, callback) => {
    callback(ALLOWED_PERMISSIONS.has(permission) && isOwnUrl(wc.getURL()));
  });
  // A `file:` page's requesting origin is just "file:///", so judge by the page's URL.
  contents.session.setPermissionCheckHandler((wc, permission) => ALLOWED_PERMISSIONS.has(permission) && !!wc && isOwnUrl(wc.getURL()));
}

/**
 * The production policy: the meta tag of src/renderer/index.html plus what only a header can say
 * (`frame-ancestors`). Both apply, so the stricter of the two wins anywhere they differ.
 */
export const CONTENT_SECURITY_POLICY =
  "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; connect-src 'self' ws://127.0.0.1:* ws://localhost:*; object-src 'none'; base-uri 'none'; frame-ancestors 'none'; form-action 'none'";

/**
 * The dev server (electron-vite dev) needs React Refresh's inline preamble, Vite's injected
 * <style> tags and its HMR WebSocket; nothing else is loosened, and never in a build.
 */
export function contentSecurityPolicy(devServerUrl: string | null): string {
  if (!devServerUrl) return CONTENT_SECURITY_POLICY;
  const ws = new URL(devServerUrl);
  ws.protocol = ws.protocol === 'https:' ? 'wss:' : 'ws:';
  return CONTENT_SECURITY_POLICY.replace("script-src 'self'", "script-src 'self' 'unsafe-inline'")
    .replace("style-src 'self'", "style-src 'self' 'unsafe-inline'")
    .replace("connect-src 'self'", `connect-src 'self' ${ws.origin}`);
}

/**
 * Sends the CSP as a response header on our own pages. Chromium does not run webRequest for
 * `file:` responses in every version, so the page's meta tag stays the baseline; the header
 * covers the dev server and adds `frame-ancestors`, which a meta tag cannot set.
 */
export function installCsp(session: Pick<Session, 'webRequest'>, isOwnUrl: (url: string) => boolean, policy: string): void {
  session.webRequest.onHeadersReceived((details: OnHeadersReceivedListenerDetails, callback: (response: HeadersReceivedResponse) => void) => {
    if (!isOwnUrl(details.url)) {
      callback({});
      return;
    }
    const headers: Record<string, string[]> = {};
    for (const [name, value] of Object.entries(details.responseHeaders ?? {})) {
      if (name.toLowerCase() !== 'content-security-policy') headers[name] = value;
    }
    headers['Content-Security-Policy'] = [policy];
    callback({ responseHeaders: headers });
  });
}
