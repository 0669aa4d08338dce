/**
 * The web UI's WebSocket bridge for the contract at `/ws?token=...`: the headless twin of the
 * Electron preload. Commands run through the same `dispatch` as IPC; every core event is pushed.
 * The token and the Origin are checked before the upgrade, so a page on another site (or one
 * without the token) never gets a socket.
 */
import { timingSafeEqual } from 'node:crypto';
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import { WebSocketServer } from 'ws';
import type { WebSocket } from 'ws';
import type { CoreEvent } from '../../../shared/model';
import { WIRE_CLOSE_SHUTDOWN, parseWireCall } from '../../../shared/wire';
import type { WireServerMessage } from '../../../shared/wire';
import { contractHandlers, dispatch } from '../handlers';
import type { ServerContext, ServerParts } from './httpServer';

/** A page that stops reading is dropped rather than buffering events without end. */
const MAX_BUFFERED_BYTES = 32 * 1024 * 1024;
/** How long a page gets to answer the close handshake when the server stops. */
const CLOSE_WAIT_MS = 500;

export function attachWsBridge(ctx: ServerContext): ServerParts {
  const wss = new WebSocketServer({ noServer: true, maxPayload: 1024 * 1024 });
  const handlers = contractHandlers(ctx.core);
  const sockets = new Set<WebSocket>();

  function serve(ws: WebSocket): void {
    sockets.add(ws);
    const send = (msg: WireServerMessage) => {
      if (ws.readyState !== ws.OPEN) return;
      if (ws.bufferedAmount > MAX_BUFFERED_BYTES) {
        ws.close(1013, 'the page is not keeping up; reconnect');
        return;
      }
      ws.send(JSON.stringify(msg));
    };
    const unsubscribe = ctx.core.events.on((event: CoreEvent) => send({ event }));
    ws.on('message', (data, isBinary) => {
      if (isBinary) {
        send({ id: null, outcome: { ok: false, error: { code: 'invalid', message: 'send commands as JSON text' } } });
        return;
      }
      const parsed = parseWireCall(data.toString());
      if (!parsed.ok) {
        send({ id: parsed.id, outcome: { ok: false, error: { code: 'invalid', message: parsed.message } } });
        return;
      }
      const { id, name, args } = parsed.call;
      // dispatch never throws: unknown names and failures come back as error data.
      void dispatch(handlers, name, args).then((outcome) => send({ id, outcome }));
    });
    ws.on('error', () => ws.terminate());
    ws.on('close', () => {
      unsubscribe();
      sockets.delete(ws);
    });
  }

  return {
    handlers: [],
    upgrade: [
      (req: IncomingMessage, socket: Socket, head: Buffer, url: URL) => {
        if (url.pathname !== '/ws') return false;
        if (!tokenMatches(url.searchParams.get('token'), ctx.token)) {
          refuse(socket, 401, 'Unauthorized', 'Open the URL Loadout printed when it started (it carries the access token).');
          return true;
        }
        if (!originAllowed(req.headers.origin, ctx.pageOrigin())) {
          refuse(socket, 403, 'Forbidden', 'This page is not Loadout\'s own page.');
          return true;
        }
        wss.handleUpgrade(req, socket, head, (ws) => serve(ws));
        return true;
      },
    ],
    dispose: async () => {
      const closed = [...sockets].map((ws) => new Promise<void>((resolve) => {
        ws.once('close', () => resolve());
        ws.close(WIRE_CLOSE_SHUTDOWN, 'Loadout is stopping');
      }));
      // A page that does not answer the close handshake promptly is cut.
      const timer = ctx.core.clock.setTimeout(() => {
        for (const ws of sockets) ws.terminate();
      }, CLOSE_WAIT_MS);
      await Promise.all(closed);
      ctx.core.clock.clearTimeout(timer);
      wss.close();
    },
  };
}

function tokenMatches(given: string | null, token: string): boolean {
  if (given === null) return false;
  const a = Buffer.from(given);
  const b = Buffer.from(token);
  return a.length === b.length && timingSafeEqual(a, b);
}

/** Our own page's origin, also when the user typed `localhost` instead of 127.0.0.1. */
export function originAllowed(origin: string | undefined, pageOrigin: string): boolean {
  if (!origin || !pageOrigin) return false;
  const port = new URL(pageOrigin).port;
  return origin === pageOrigin || origin === `http://localhost:${port}`;
}

function refuse(socket: Socket, status: number, reason: string, body: string): void {
  const text = `${body}\n`;
  socket.end(`HTTP/1.1 ${status} ${reason}\r\nConnection: close\r\nContent-Type: text/plain; charset=utf-8\r\nContent-Length: ${Buffer.byteLength(text)}\r\n\r\n${text}`);
}
