/**
 * The web UI of headless mode: the built renderer (out/renderer) at `/` (token required) and its
 * assets (no token: they hold no data), under a strict CSP. `npm run serve` needs no separate
 * build step: when out/renderer is missing or older than the renderer's sources it is built at
 * start with Vite's JS API and the same config as the desktop build (vite.renderer.config.ts).
 */
import { timingSafeEqual } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, renameSync, rmSync, statSync } from 'node:fs';
import type { ServerResponse } from 'node:http';
import { dirname, extname, join, normalize, resolve, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ServerContext, ServerParts } from './httpServer';

const CONTENT_TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
  '.ico': 'image/x-icon',
  '.woff2': 'font/woff2',
  '.json': 'application/json',
  '.map': 'application/json',
};

export interface WebUiBuild {
  /** A line to print when a build is running ("building the web UI..."), or null when none is needed. */
  building: string | null;
  /** Settles with a line to print when the build is over (null when none ran); never rejects. */
  done: Promise<string | null>;
  /** The build's error for the user, once it failed. */
  error(): string | null;
}

let current: WebUiBuild | null = null;

/** Where the app's files are: the nearest folder up from this module that has a package.json. */
function appRoot(): string {
  let dir = dirname(fileURLToPath(import.meta.url));
  for (;;) {
    if (existsSync(join(dir, 'package.json'))) return dir;
    const up = dirname(dir);
    if (up === dir) return process.cwd();
    dir = up;
  }
}

function newestMtime(path: string): number {
  let newest = 0;
  const st = statSync(path);
  if (!st.isDirectory()) return st.mtimeMs;
  for (const name of readdirSync(path)) newest = Math.max(newest, newestMtime(join(path, name)));
  return newest;
}

/**
 * Builds out/renderer once per process if it is missing or stale. Without the sources (a
 * packaged app) whatever is in out/renderer is served as is.
 */
export function ensureWebUiBuilt(): WebUiBuild {
  if (current) return current;
  const root = appRoot();
  const outDir = join(root, 'out', 'renderer');
  const srcDir = join(root, 'src', 'renderer');
  const index = join(outDir, 'index.html');
  let reason: string | null = null;
  if (existsSync(srcDir)) {
    if (!existsSync(index)) reason = 'out/renderer is missing';
    else if (Math.max(newestMtime(srcDir), newestMtime(join(root, 'src', 'shared')), newestMtime(join(root, 'vite.renderer.config.ts'))) > statSync(index).mtimeMs) reason = 'the renderer sources changed since the last build';
  }
  if (!reason) {
    current = { building: null, done: Promise.resolve(null), error: () => null };
    return current;
  }
  let error: string | null = null;
  const started = Date.now();
  const done = buildRenderer(root, outDir).then(
    () => `web UI: built in ${((Date.now() - started) / 1000).toFixed(1)} s`,
    (e: unknown) => {
      error = `the web UI could not be built: ${(e as Error).message}. Run "npm run build" and start again.`;
      return `loadout: ${error}`;
    },
  );
  current = { building: `web UI: building the page (${reason})...`, done, error: () => error };
  return current;
}

/** Builds into a private folder, then swaps it in, so a concurrent server never serves half a build. */
async function buildRenderer(root: string, outDir: string): Promise<void> {
  // Through a variable: bundlers must not pull Vite into the desktop app's main bundle.
  const viteModule = 'vite';
  const { build } = (await import(/* @vite-ignore */ viteModule)) as typeof import('vite');
  const tmp = `${outDir}.build-${process.pid}`;
  rmSync(tmp, { recursive: true, force: true });
  await build({
    configFile: join(root, 'vite.renderer.config.ts'),
    build: { outDir: tmp, emptyOutDir: true },
    logLevel: 'warn',
    clearScreen: false,
  });
  const old = `${outDir}.old-${process.pid}`;
  if (existsSync(outDir)) renameSync(outDir, old);
  renameSync(tmp, outDir);
  rmSync(old, { recursive: true, force: true });
}

function sameToken(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** The page's CSP: our own scripts and styles only, and a socket to our own port. */
function contentSecurityPolicy(ctx: ServerContext): string {
  const port = ctx.pageOrigin() ? new URL(ctx.pageOrigin()).port : '*';
  return [
    "default-src 'none'",
    "script-src 'self'",
    "style-src 'self'",
    "img-src 'self' data:",
    "font-src 'self'",
    `connect-src 'self' ws://127.0.0.1:${port} ws://localhost:${port}`,
    "manifest-src 'self'",
    "base-uri 'none'",
    "form-action 'none'",
    "frame-ancestors 'none'",
  ].join('; ');
}

const SECURITY_HEADERS = {
  'x-content-type-options': 'nosniff',
  'referrer-policy': 'no-referrer',
  'cross-origin-opener-policy': 'same-origin',
  'cross-origin-resource-policy': 'same-origin',
};

export function createUiHandler(ctx: ServerContext): ServerParts {
  const outDir = join(appRoot(), 'out', 'renderer');
  // `npm run serve` starts the build at once; otherwise the first page request does.
  let build: WebUiBuild | null = null;

  function sendFile(res: ServerResponse, file: string, headers: Record<string, string>): boolean {
    let body: Buffer;
    try {
      body = readFileSync(file);
    } catch {
      return false;
    }
    res.writeHead(200, { 'content-type': CONTENT_TYPES[extname(file)] ?? 'application/octet-stream', 'content-length': body.length, ...SECURITY_HEADERS, ...headers });
    res.end(body);
    return true;
  }

  return {
    upgrade: [],
    dispose: () => {},
    handlers: [
      async (req, res, url) => {
        if (req.method !== 'GET' && req.method !== 'HEAD') return false;
        if (url.pathname === '/' || url.pathname === '/index.html') {
          if (!sameToken(url.searchParams.get('token'), ctx.token)) {
            res.writeHead(401, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end('Open the URL Loadout printed when it started (it carries the access token).\n');
            return true;
          }
          build ??= ensureWebUiBuilt();
          await build.done;
          const failed = build.error();
          const headers = { 'cache-control': 'no-store', 'content-security-policy': contentSecurityPolicy(ctx) };
          if (failed || !sendFile(res, join(outDir, 'index.html'), headers)) {
            res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8', ...SECURITY_HEADERS }).end(`${failed ?? 'The web UI is not built: run "npm run build", then start Loadout again.'}\n`);
          }
          return true;
        }
        // Static files (hashed assets, the icon): no token, they hold no data.
        let rel: string;
        try {
          rel = normalize(decodeURIComponent(url.pathname)).replace(/^[/\\]+/, '');
        } catch {
          return false; // a malformed %-escape names no file of ours
        }
        if (rel === '' || rel.startsWith('..') || rel === 'index.html') return false;
        const file = resolve(outDir, rel);
        if (!file.startsWith(outDir + sep)) return false;
        build ??= ensureWebUiBuilt();
        await build.done;
        const immutable = rel.startsWith(`assets${sep}`) || rel.startsWith('assets/');
        return sendFile(res, file, { 'cache-control': immutable ? 'public, max-age=31536000, immutable' : 'no-cache' });
      },
    ],
  };
}
