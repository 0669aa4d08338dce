/**
 * The one HTTP server of headless mode (and of the desktop app's local API): it listens, refuses
 * foreign Host headers (DNS rebinding), and hands each request to the first part that takes it:
 * the API (`/v1`, `/api`), then the web UI (`/` and its assets). WebSocket upgrades go to the
 * UI's bridge (`/ws`); other Upgrade requests are answered as plain HTTP. Each part owns its own rules (token, API key, Origin).
 */
import { IncomingMessage, ServerResponse, createServer } from 'node:http';
import type { Server } from 'node:http';
import type { AddressInfo, Socket } from 'node:net';
import type { Settings } from '../../../shared/model';
import type { Clock } from '../clock';
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
  // A client may half-close its side once its request is sent; it still gets its answer
  // (keepReplying tells a half-close from a client that went away).
  // (Node's own switch for it, used by its http2 compatibility layer; not in its typings.)
  (server as Server & { httpAllowHalfOpen: boolean }).httpAllowHalfOpen = true;
  server.on('request', (req: IncomingMessage, res: ServerResponse) => keepReplying(req, res, core.clock));
  server.on('upgrade', (req, socket: Socket, head) => {
    // Node hands every request with an Upgrade header here once anyone listens for upgrades;
    // only a WebSocket is ours to upgrade. Anything else (curl --http2 asks for h2c) is answered
    // as the plain HTTP/1.1 request it also is, as a server that does not switch must (RFC 9110 7.8).
    if (!isWebSocketUpgrade(req)) {
      answerWithoutUpgrade(req, socket, head, route);
      return;
    }
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

function isWebSocketUpgrade(req: IncomingMessage): boolean {
  return (req.headers.upgrade ?? '').toLowerCase() === 'websocket';
}

/**
 * Serves an Upgrade request that is not a WebSocket as plain HTTP on its socket. Node has already
 * taken the socket from its HTTP machinery, so the request is re-made with its body (the
 * Content-Length bytes that follow the head) and answered once, then the connection closes.
 */
function answerWithoutUpgrade(req: IncomingMessage, socket: Socket, head: Buffer, route: (req: IncomingMessage, res: ServerResponse) => Promise<void>): void {
  const plain = new IncomingMessage(socket);
  plain.method = req.method;
  plain.url = req.url;
  plain.headers = req.headers;
  plain.rawHeaders = req.rawHeaders;
  plain.httpVersion = req.httpVersion;
  plain.httpVersionMajor = req.httpVersionMajor;
  plain.httpVersionMinor = req.httpVersionMinor;
  const length = Number(req.headers['content-length'] ?? 0);
  let got = 0;
  const feed = (chunk: Buffer) => {
    const take = chunk.subarray(0, Math.max(0, length - got));
    got += take.length;
    if (take.length > 0) plain.push(take);
    if (got >= length) {
      socket.off('data', feed);
      end();
    }
  };
  // `complete` as Node's parser would set it: an incomplete message destroys its socket when read.
  const end = () => {
    plain.complete = true;
    plain.push(null);
  };
  if (!(length > 0)) end();
  else {
    feed(head);
    if (got < length) socket.on('data', feed);
  }
  const res = new ServerResponse(plain);
  res.shouldKeepAlive = false;
  res.assignSocket(socket);
  res.on('finish', () => {
    res.detachSocket(socket);
    socket.destroySoon();
  });
  socket.on('error', () => socket.destroy());
  void route(plain, res);
}

/** How often a request whose client half-closed checks that the client is still there. */
const HALF_CLOSED_PROBE_MS = 250;

/**
 * A client's FIN before its answer is either a half-close (it sent all it will and waits) or
 * a client that left: TCP tells them apart only when we write. So while the answer is not started,
 * an HTTP/1.1 client that half-closed gets "102 Processing" interim answers (which HTTP/1.1
 * clients skip): one that left answers with a reset, the socket closes, and the request is
 * cancelled (R3); one that waits gets its answer. HTTP/1.0 has no interim answers: its FIN ends
 * the request, as before.
 */
function keepReplying(req: IncomingMessage, res: ServerResponse, clock: Clock): void {
  const socket = req.socket;
  let timer: unknown = null;
  const stop = () => {
    if (timer !== null) clock.clearTimeout(timer);
    timer = null;
    socket.off('end', onEnd);
  };
  const probe = () => {
    timer = null;
    if (res.headersSent || res.writableEnded || socket.destroyed) return;
    res.writeProcessing();
    timer = clock.setTimeout(probe, HALF_CLOSED_PROBE_MS);
  };
  const onEnd = () => {
    if (res.writableEnded) return;
    if (req.httpVersionMajor === 1 && req.httpVersionMinor === 0) {
      socket.destroy();
      return;
    }
    if (!res.headersSent) probe();
  };
  socket.once('end', onEnd);
  res.once('close', stop);
  res.once('finish', stop);
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
