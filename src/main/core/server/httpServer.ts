/**
 * The one HTTP server of headless mode (and of the desktop app's local API): it listens, refuses
 * foreign Host headers (DNS rebinding), and hands each request to the first part that takes it:
 * the API (`/v1`, `/api`), then the web UI (`/` and its assets). WebSocket upgrades go to the
 * UI's bridge (`/ws`). Each part owns its own rules (token, API key, Origin).
 */
import { createServer } from 'node:http';
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Settings } from '../../../shared/model';
import type { Core } from '../createCore';
import { SerialQueue } from '../fsx/serialQueue';
import { createApiHandler } from './api';
import { newServerToken, serverToken } from './serverToken';
import { createUiHandler } from './ui';
import { attachWsBridge } from './wsBridge';

export interface HttpServerHandle {
  /** The page URL with its token: `http://127.0.0.1:<port>/?token=<token>`. */
  url: string;
  port: number;
  /** With the web UI, the same on every start on one data dir (kept in `<dataDir>/server-token`). */
  token: string;
  /** The address listened on: '127.0.0.1', or '0.0.0.0' for the LAN. */
  readonly host: string;
  /**
   * Listens on `host` instead, on the same port (`api_lan` changed). Connections already open
   * (running requests, the page's WebSocket) go on; idle keep-alive ones are closed. If the new
   * address cannot be taken the old one is taken back and the error thrown.
   */
  setHost(host: string): Promise<void>;
  close(): Promise<void>;
}

/** What every part of the server gets. */
export interface ServerContext {
  core: Core;
  /** Guards the web page's WebSocket bridge (letters, digits, `-`, `_`). */
  token: string;
  /** Set once listening: the origin of our own page, e.g. `http://127.0.0.1:8765`. */
  pageOrigin: () => string;
  settings: () => Settings;
}

/** A part of the server: answers and returns true, or returns false to pass the request on. */
export type RequestHandler = (req: IncomingMessage, res: ServerResponse, url: URL) => boolean | Promise<boolean>;
export type UpgradeHandler = (req: IncomingMessage, socket: Socket, head: Buffer, url: URL) => boolean;

export interface ServerParts {
  handlers: RequestHandler[];
  upgrade: UpgradeHandler[];
  dispose(): void | Promise<void>;
}

const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** DNS rebinding guard: only loopback names may address us. */
export function isLoopbackHost(hostHeader: string | undefined): boolean {
  if (!hostHeader) return false;
  const host = hostHeader.startsWith('[') ? hostHeader.slice(0, hostHeader.indexOf(']') + 1) : hostHeader.split(':')[0];
  return LOOPBACK_HOSTS.has(host.toLowerCase());
}

export async function startHttpServer(core: Core, opts: { port: number; host?: string; ui?: boolean }): Promise<HttpServerHandle> {
  // The token guards only the web page: with the page it is kept in the data dir, so a restart
  // keeps open pages and bookmarks working; without it (the desktop app) nothing is saved.
  const token = opts.ui === false ? newServerToken() : serverToken(core.dataDir);
  let origin = '';
  const ctx: ServerContext = { core, token, pageOrigin: () => origin, settings: () => core.commands.settings() };
  const parts: ServerParts[] = [createApiHandler(ctx)];
  if (opts.ui !== false) parts.push(createUiHandler(ctx), attachWsBridge(ctx));
  const handlers = parts.flatMap((p) => p.handlers);
  const upgrades = parts.flatMap((p) => p.upgrade);

  const server = createServer((req, res) => void route(req, res));
  async function route(req: IncomingMessage, res: ServerResponse): Promise<void> {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    // The API decides for itself about foreign hosts when the user opted in to the LAN.
    const lanApi = ctx.settings().api_lan && (url.pathname.startsWith('/v1') || url.pathname.startsWith('/api'));
    if (!lanApi && !isLoopbackHost(req.headers.host)) {
      res.writeHead(403, { 'content-type': 'text/plain' }).end('Forbidden: Loadout answers only to 127.0.0.1/localhost.\n');
      return;
    }
    try {
      for (const h of handlers) if (await h(req, res, url)) return;
      res.writeHead(404, { 'content-type': 'text/plain' }).end('Not found\n');
    } catch (e) {
      if (!res.headersSent) res.writeHead(500, { 'content-type': 'text/plain' });
      res.end(`Internal error: ${(e as Error).message}\n`);
    }
  }
  server.on('upgrade', (req, socket: Socket, head) => {
    const url = new URL(req.url ?? '/', 'http://127.0.0.1');
    if (!isLoopbackHost(req.headers.host)) {
      socket.end('HTTP/1.1 403 Forbidden\r\nConnection: close\r\n\r\n');
      return;
    }
    for (const u of upgrades) if (u(req, socket, head, url)) return;
    socket.end('HTTP/1.1 404 Not Found\r\nConnection: close\r\n\r\n');
  });

  let host = opts.host ?? '127.0.0.1';
  await listen(server, opts.port, host);
  const port = (server.address() as AddressInfo).port;
  origin = `http://127.0.0.1:${port}`;
  const rebinding = new SerialQueue();
  let closed = false;
  const rebind = async (next: string): Promise<void> => {
    if (closed || next === host) return;
    // close() only stops accepting: the listening socket goes at once, open connections stay.
    server.close();
    try {
      await listen(server, port, next);
      host = next;
    } catch (e) {
      await listen(server, port, host).catch(() => {});
      throw e;
    }
  };
  return {
    url: `${origin}/?token=${token}`,
    port,
    token,
    get host() {
      return host;
    },
    setHost: (next) => {
      return rebinding.run(() => rebind(next));
    },
    close: async () => {
      closed = true;
      await rebinding;
      for (const p of parts) await p.dispose();
      await new Promise<void>((resolve) => {
        server.close(() => resolve());
        server.closeAllConnections();
      });
    },
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
