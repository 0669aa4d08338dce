/**
 * The headless HTTP server: listens on loopback, prints the page URL with its token. The GUI
 * (web UI and its WebSocket bridge) and the OpenAI-compatible API mount here in later work;
 * until then the page is a plain status view of the loader.
 */
import { randomBytes } from 'node:crypto';
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import type { Core } from '../createCore';

export interface HttpServerHandle {
  url: string;
  port: number;
  token: string;
  close(): Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** DNS rebinding guard: only loopback names may address us. */
export function isLoopbackHost(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const host = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.split(':')[0];
  return LOOPBACK_HOSTS.has(host.toLowerCase());
}

export async function startHttpServer(core: Core, opts: { port: number; host?: string }): Promise<HttpServerHandle> {
  const token = randomBytes(24).toString('base64url');
  const server = createServer((req, res) => handle(core, token, req, res));
  await listen(server, opts.port, opts.host ?? '127.0.0.1');
  const port = (server.address() as AddressInfo).port;
  return {
    url: `http://127.0.0.1:${port}/?token=${token}`,
    port,
    token,
    close: () =>
      new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      }),
  };
}

function listen(server: Server, port: number, host: string): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (e: NodeJS.ErrnoException) => {
      if (e.code === 'EADDRINUSE') {
        reject(new Error(`port ${port} is already in use (another Loadout, or another program). Start with --port <number>, or --port 0 to pick a free one.`));
      } else if (e.code === 'EACCES') {
        reject(new Error(`not allowed to listen on port ${port}. Use a port above 1024, e.g. --port 8765.`));
      } else reject(e);
    };
    server.once('error', onError);
    server.listen(port, host, () => {
      server.off('error', onError);
      resolve();
    });
  });
}

function handle(core: Core, token: string, req: IncomingMessage, res: ServerResponse): void {
  if (!isLoopbackHost(req.headers.host)) {
    res.writeHead(403, { 'content-type': 'text/plain' }).end('Forbidden: Loadout answers only to 127.0.0.1/localhost.\n');
    return;
  }
  const url = new URL(req.url ?? '/', 'http://127.0.0.1');
  if (req.method === 'GET' && url.pathname === '/') {
    if (url.searchParams.get('token') !== token) {
      res.writeHead(401, { 'content-type': 'text/plain' }).end('Open the URL Loadout printed when it started (it carries the access token).\n');
      return;
    }
    res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(statusPage(core));
    return;
  }
  res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
}

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

function statusPage(core: Core): string {
  const snap = core.commands.snapshot();
  const rows = snap.models
    .map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.status)}${m.error ? `: ${esc(m.error)}` : ''}</td><td>${esc(m.state)}</td><td>${esc(m.groups.join(', '))}</td><td>${m.pinned ? 'pinned' : ''}</td><td>${esc(m.lastUsed ?? '')}</td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Loadout</title>
<meta name="color-scheme" content="light dark"><meta http-equiv="refresh" content="5"></head>
<body style="font-family:system-ui,sans-serif;margin:2rem"><h1>Loadout</h1>
<p>Models folder: <code>${esc(snap.settings.models_dir)}</code> - loaded (least recently used first): ${esc(snap.lru.join(', ') || 'none')}</p>
<table cellpadding="4"><thead><tr><th align="left">Model</th><th align="left">Catalog</th><th align="left">State</th><th align="left">Groups</th><th></th><th align="left">Last used</th></tr></thead><tbody>${rows}</tbody></table>
</body></html>`;
}
