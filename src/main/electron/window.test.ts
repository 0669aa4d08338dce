import type { HeadersReceivedResponse, OnHeadersReceivedListenerDetails, Session, WebContents } from 'electron';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { FakeEmitter, fakeEvent } from './fakes';
import { CONTENT_SECURITY_POLICY, contentSecurityPolicy, hardenWebContents, installCsp, isOwnPage, mainWindowOptions } from './window';

const PAGE = 'file:///opt/Loadout/resources/app.asar/out/renderer/index.html';
const DEV = 'http://localhost:5173/';

describe('main window options', () => {
  it('secure defaults: context isolation, sandbox, no Node in pages, no webviews, hidden until ready', () => {
    const o = mainWindowOptions('/app/out/preload/index.cjs', null);
    expect(o.webPreferences).toMatchObject({
      preload: '/app/out/preload/index.cjs',
      contextIsolation: true,
      sandbox: true,
      nodeIntegration: false,
      nodeIntegrationInWorker: false,
      nodeIntegrationInSubFrames: false,
      webSecurity: true,
      allowRunningInsecureContent: false,
      webviewTag: false,
    });
    expect(o.show).toBe(false);
    expect(o.title).toBe('Loadout');
    expect(o).toMatchObject({ width: 1200, height: 800, minWidth: 720, minHeight: 480 });
    expect(o).not.toHaveProperty('x');
  });

  it('takes remembered bounds and an icon', () => {
    const o = mainWindowOptions('/p.cjs', { x: 10, y: 20, width: 900, height: 700 }, '/icons/256x256.png');
    expect(o).toMatchObject({ x: 10, y: 20, width: 900, height: 700, icon: '/icons/256x256.png' });
  });
});

describe('own pages', () => {
  it.each([
    [PAGE, true],
    [`${PAGE}#/chat`, true],
    [`${PAGE}?x=1`, true],
    ['file:///opt/Loadout/resources/app.asar/out/renderer/assets/index-1.js', true],
    ['file:///opt/Loadout/resources/app.asar/out/renderer/../main/index.js', false],
    ['file:///etc/passwd', false],
    ['file:///opt/Loadout/resources/app.asar/out/renderer-evil/index.html', false],
    ['https://example.com/', false],
    ['not a url', false],
  ])('file page: %s -> %s', (url, expected) => {
    expect(isOwnPage(url, PAGE)).toBe(expected);
  });

  it.each([
    ['http://localhost:5173/', true],
    ['http://localhost:5173/src/main.tsx', true],
    ['http://localhost:5174/', false],
    ['http://localhost:5173.evil.com/', false],
    ['https://localhost:5173/', false],
    ['file:///opt/Loadout/resources/app.asar/out/renderer/index.html', false],
  ])('dev server: %s -> %s', (url, expected) => {
    expect(isOwnPage(url, DEV)).toBe(expected);
  });
});

/** The web contents surface hardenWebContents takes, with its session's two permission handlers. */
function fakeContents() {
  const emitter = new FakeEmitter();
  let openHandler: ((d: { url: string }) => { action: string }) | null = null;
  let requestHandler: ((wc: { getURL(): string }, permission: string, cb: (granted: boolean) => void) => void) | null = null;
  let checkHandler: ((wc: { getURL(): string } | null, permission: string, origin: string) => boolean) | null = null;
  const contents = {
    on: (event: string, l: (...a: any[]) => void) => emitter.on(event, l),
    setWindowOpenHandler: (h: typeof openHandler) => (openHandler = h),
    session: {
      setPermissionRequestHandler: (h: typeof requestHandler) => (requestHandler = h),
      setPermissionCheckHandler: (h: typeof checkHandler) => (checkHandler = h),
    },
  };
  return {
    contents: contents as unknown as Pick<WebContents, 'on' | 'setWindowOpenHandler' | 'session'>,
    emitter,
    open: (url: string) => openHandler!({ url }),
    request: (pageUrl: string, permission: string) => {
      let granted: boolean | undefined;
      requestHandler!({ getURL: () => pageUrl }, permission, (g) => (granted = g));
      return granted;
    },
    check: (pageUrl: string | null, permission: string) => checkHandler!(pageUrl === null ? null : { getURL: () => pageUrl }, permission, 'file:///'),
  };
}

describe('hardening the web contents', () => {
  const opened: string[] = [];
  const setup = () => {
    opened.length = 0;
    const f = fakeContents();
    hardenWebContents(f.contents, (url) => isOwnPage(url, PAGE), (url) => opened.push(url));
    return f;
  };

  it('blocks navigation and redirects away from our pages, allows our own', () => {
    const f = setup();
    for (const name of ['will-navigate', 'will-redirect']) {
      const away = fakeEvent({ url: 'https://evil.example/' });
      f.emitter.emit(name, away);
      expect(away.defaultPrevented).toBe(true);
      const ours = fakeEvent({ url: `${PAGE}#/models` });
      f.emitter.emit(name, ours);
      expect(ours.defaultPrevented).toBe(false);
    }
  });

  it('never attaches a webview', () => {
    const f = setup();
    const e = fakeEvent();
    f.emitter.emit('will-attach-webview', e, {}, {});
    expect(e.defaultPrevented).toBe(true);
  });

  it('denies every new window; https links go to the system browser, other schemes nowhere', () => {
    const f = setup();
    expect(f.open('https://huggingface.co/models')).toEqual({ action: 'deny' });
    expect(f.open('file:///etc/passwd')).toEqual({ action: 'deny' });
    expect(f.open('javascript:alert(1)')).toEqual({ action: 'deny' });
    expect(f.open('http://plain.example/')).toEqual({ action: 'deny' });
    expect(opened).toEqual(['https://huggingface.co/models']);
  });

  it('denies permission requests and checks, except plain clipboard writes from our own page', () => {
    const f = setup();
    for (const p of ['media', 'geolocation', 'notifications', 'openExternal', 'clipboard-read', 'fullscreen']) {
      expect(f.request(PAGE, p)).toBe(false);
      expect(f.check(PAGE, p)).toBe(false);
    }
    expect(f.request(PAGE, 'clipboard-sanitized-write')).toBe(true);
    expect(f.check(PAGE, 'clipboard-sanitized-write')).toBe(true);
    expect(f.request('https://evil.example/', 'clipboard-sanitized-write')).toBe(false);
    expect(f.check(null, 'clipboard-sanitized-write')).toBe(false);
  });
});

describe('content security policy', () => {
  it('production: scripts only from our files, no inline script, no eval, no plugins, no framing', () => {
    const csp = contentSecurityPolicy(null);
    expect(csp).toBe(CONTENT_SECURITY_POLICY);
    expect(csp).toContain("script-src 'self';");
    expect(csp).not.toContain('unsafe-eval');
    expect(csp).not.toContain('unsafe-inline');
    expect(csp).toContain("object-src 'none'");
    expect(csp).toContain("frame-ancestors 'none'");
  });

  it('dev server: inline preamble and the HMR socket of that server only', () => {
    const csp = contentSecurityPolicy('http://localhost:5173/');
    expect(csp).toMatch(/script-src 'self' 'unsafe-inline';/);
    expect(csp).toMatch(/style-src 'self' 'unsafe-inline';/);
    expect(csp).toMatch(/connect-src 'self' ws:\/\/localhost:5173 /);
    expect(csp).not.toContain('unsafe-eval');
  });

  it('is never looser than the meta tag of the page it is sent with', () => {
    const html = readFileSync(join(__dirname, '../../renderer/index.html'), 'utf8');
    const meta = /http-equiv="Content-Security-Policy" content="([^"]+)"/.exec(html)?.[1];
    expect(meta).toBeTruthy();
    const directives = (policy: string) => new Map(policy.split(';').map((d) => d.trim().split(/\s+/)).map(([name, ...values]) => [name, values.sort().join(' ')]));
    const ours = directives(CONTENT_SECURITY_POLICY);
    for (const [name, values] of directives(meta!)) expect({ name, values: ours.get(name) }).toEqual({ name, values });
  });

  it('is sent as a header on our pages, replacing any other policy; other responses are untouched', () => {
    let listener: ((d: OnHeadersReceivedListenerDetails, cb: (r: HeadersReceivedResponse) => void) => void) | null = null;
    const session = { webRequest: { onHeadersReceived: (l: typeof listener) => (listener = l) } } as unknown as Pick<Session, 'webRequest'>;
    installCsp(session, (url) => isOwnPage(url, DEV), 'default-src self-test');
    const respond = (url: string, responseHeaders: Record<string, string[]>) => {
      let response: HeadersReceivedResponse | undefined;
      listener!({ url, responseHeaders } as OnHeadersReceivedListenerDetails, (r) => (response = r));
      return response;
    };
    expect(respond('http://localhost:5173/', { 'content-type': ['text/html'], 'content-security-policy': ['default-src *'] })).toEqual({
      responseHeaders: { 'content-type': ['text/html'], 'Content-Security-Policy': ['default-src self-test'] },
    });
    expect(respond('https://elsewhere.example/', { 'content-type': ['text/html'] })).toEqual({});
  });
});
