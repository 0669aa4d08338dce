/**
 * THE one client of the contract in the page. In the desktop window it wraps the preload's
 * `window.loadout`; in a browser (headless serve) it speaks src/shared/wire.ts over a WebSocket
 * to `/ws?token=<token from the page URL>`, reconnecting with backoff until the server refuses the
 * token (the link is out of date). Generic over `Commands`, so a command's name, arguments and
 * result are checked against the contract.
 */
import type { CommandName, Commands, LoadoutBridge, Outcome } from '../../../shared/contract';
import type { ErrorData } from '../../../shared/errors';
import type { CoreEvent } from '../../../shared/model';
import type { WireServerMessage } from '../../../shared/wire';

declare global {
  interface Window {
    loadout?: LoadoutBridge;
  }
}

/** `token-refused`: the server is up but no longer takes this page's token; it never will, so no more tries. */
export type ConnectionStatus = 'connecting' | 'open' | 'reconnecting' | 'no-token' | 'token-refused';

export interface Connection {
  status: ConnectionStatus;
  /** Times the socket dropped since the page opened (a resync follows each reconnect). */
  drops: number;
  /** Seconds until the next attempt while reconnecting. */
  retryInSeconds: number | null;
}

export interface LoadoutClient {
  invoke<K extends CommandName>(name: K, ...args: Commands[K]['args']): Promise<Outcome<Commands[K]['result']>>;
  onEvent(listener: (event: CoreEvent) => void): () => void;
  /** Called with every connection change; `open` after a drop means events were missed: resync. */
  onConnection(listener: (c: Connection) => void): () => void;
  connection(): Connection;
  dispose(): void;
}

const err = (message: string): { ok: false; error: ErrorData } => ({ ok: false, error: { code: 'timeout', message } });

/** The desktop window: IPC through the preload, always connected. */
function bridgeClient(bridge: LoadoutBridge): LoadoutClient {
  const connection: Connection = { status: 'open', drops: 0, retryInSeconds: null };
  return {
    invoke: (name, ...args) => bridge.invoke(name, ...args),
    onEvent: (listener) => bridge.onEvent(listener),
    onConnection: (listener) => {
      listener(connection);
      return () => {};
    },
    connection: () => connection,
    dispose: () => {},
  };
}

export interface SocketClientOptions {
  url: string;
  /** For tests: the WebSocket constructor. */
  WebSocketImpl?: typeof WebSocket;
  /** A call made while disconnected waits this long for the connection, then fails. */
  queueTimeoutMs?: number;
  /**
   * Whether the server refuses the page's token (true only on a clear "no", e.g. HTTP 401).
   * Asked after a connect attempt fails: a browser cannot see the status of a refused upgrade, so
   * "Loadout is down" and "this link is out of date" look alike from the WebSocket. Without it
   * the client retries for ever.
   */
  tokenRefused?: () => Promise<boolean>;
}

const outOfDate = (): { ok: false; error: ErrorData } => ({
  ok: false,
  error: { code: 'unauthorized', message: 'This link is out of date: Loadout no longer accepts its access token. Open the URL Loadout printed when it started ("Open http://127.0.0.1:.../?token=...").' },
});

const BACKOFF_MS = [250, 500, 1000, 2000, 4000];

/** Headless mode: the contract over one WebSocket, reconnecting after a drop. */
export function socketClient(options: SocketClientOptions): LoadoutClient {
  const WS = options.WebSocketImpl ?? WebSocket;
  const queueTimeoutMs = options.queueTimeoutMs ?? 10_000;
  const eventListeners = new Set<(e: CoreEvent) => void>();
  const connectionListeners = new Set<(c: Connection) => void>();
  // Calls sent and awaiting their reply; and calls waiting for a connection.
  const inFlight = new Map<number, (o: Outcome<unknown>) => void>();
  const queued: { frame: string; id: number; done: (o: Outcome<unknown>) => void; timer: ReturnType<typeof setTimeout> }[] = [];
  let nextId = 1;
  let socket: WebSocket | null = null;
  let attempt = 0;
  let retryTimer: ReturnType<typeof setTimeout> | null = null;
  let disposed = false;
  let connection: Connection = { status: 'connecting', drops: 0, retryInSeconds: null };

  const setConnection = (c: Connection) => {
    connection = c;
    for (const l of connectionListeners) l(c);
  };

  /** The token is refused: fail what waits, stop trying. */
  function giveUp(): void {
    setConnection({ status: 'token-refused', drops: connection.drops, retryInSeconds: null });
    for (const q of queued.splice(0)) {
      clearTimeout(q.timer);
      q.done(outOfDate());
    }
  }

  function connect(): void {
    const ws = new WS(options.url);
    let opened = false;
    socket = ws;
    ws.onopen = () => {
      opened = true;
      attempt = 0;
      setConnection({ status: 'open', drops: connection.drops, retryInSeconds: null });
      for (const q of queued.splice(0)) {
        clearTimeout(q.timer);
        inFlight.set(q.id, q.done);
        ws.send(q.frame);
      }
    };
    ws.onmessage = (m) => {
      let msg: WireServerMessage;
      try {
        msg = JSON.parse(String(m.data)) as WireServerMessage;
      } catch {
        return; // not ours to understand; the core never sends this
      }
      if ('event' in msg) {
        for (const l of eventListeners) l(msg.event);
      } else if (msg.id !== null) {
        const resolve = inFlight.get(msg.id);
        inFlight.delete(msg.id);
        resolve?.(msg.outcome);
      }
    };
    ws.onclose = () => {
      if (socket !== ws) return;
      socket = null;
      // Replies to calls already sent are lost with the socket: say so rather than hang.
      for (const resolve of inFlight.values()) resolve(err('The connection to Loadout dropped before it answered. It reconnects by itself; check the result and try again if needed.'));
      inFlight.clear();
      if (disposed) return;
      const delay = BACKOFF_MS[Math.min(attempt, BACKOFF_MS.length - 1)];
      attempt += 1;
      const wasOpen = connection.status === 'open';
      setConnection({ status: 'reconnecting', drops: connection.drops + (wasOpen ? 1 : 0), retryInSeconds: Math.ceil(delay / 1000) });
      // A socket that was open just dropped (the server stopped): nothing to ask. An attempt that
      // never opened may have been refused: ask once per attempt (cheap: one tiny request, and
      // while Loadout is down it fails at once).
      if (opened || !options.tokenRefused) {
        retryTimer = setTimeout(connect, delay);
        return;
      }
      void options.tokenRefused().then(
        (refused) => {
          if (disposed) return;
          if (refused) giveUp();
          else retryTimer = setTimeout(connect, delay);
        },
        () => {
          if (!disposed) retryTimer = setTimeout(connect, delay);
        },
      );
    };
  }

  connect();

  return {
    invoke<K extends CommandName>(name: K, ...args: Commands[K]['args']): Promise<Outcome<Commands[K]['result']>> {
      const id = nextId++;
      const frame = JSON.stringify({ id, name, args });
      return new Promise((resolve) => {
        const done = resolve as (o: Outcome<unknown>) => void;
        if (connection.status === 'token-refused') {
          done(outOfDate());
          return;
        }
        if (socket && socket.readyState === WS.OPEN) {
          inFlight.set(id, done);
          socket.send(frame);
          return;
        }
        const timer = setTimeout(() => {
          const i = queued.findIndex((q) => q.id === id);
          if (i >= 0) queued.splice(i, 1);
          done(err('Not connected to Loadout (it may have stopped). Start it again with "npm run serve"; this page reconnects by itself.'));
        }, queueTimeoutMs);
        queued.push({ frame, id, done, timer });
      });
    },
    onEvent(listener) {
      eventListeners.add(listener);
      return () => eventListeners.delete(listener);
    },
    onConnection(listener) {
      connectionListeners.add(listener);
      listener(connection);
      return () => connectionListeners.delete(listener);
    },
    connection: () => connection,
    dispose() {
      disposed = true;
      if (retryTimer) clearTimeout(retryTimer);
      socket?.close();
    },
  };
}

/** A client that can only say why it cannot connect (the page was opened without its token). */
function noTokenClient(): LoadoutClient {
  const connection: Connection = { status: 'no-token', drops: 0, retryInSeconds: null };
  return {
    invoke: async () => err('This page was opened without its access token. Open the exact URL Loadout printed when it started.'),
    onEvent: () => () => {},
    onConnection: (l) => {
      l(connection);
      return () => {};
    },
    connection: () => connection,
    dispose: () => {},
  };
}

/** The client for this page: the preload bridge when present, else the WebSocket bridge. */
export function createClient(): LoadoutClient {
  if (window.loadout) return bridgeClient(window.loadout);
  const token = new URLSearchParams(location.search).get('token');
  if (!token) return noTokenClient();
  const proto = location.protocol === 'https:' ? 'wss:' : 'ws:';
  // The page itself is served only with the right token: a 401 for it means the token is out of
  // date (Loadout was started again with a new one). A HEAD answers with headers only.
  const page = `${location.origin}/?token=${encodeURIComponent(token)}`;
  const tokenRefused = async () => (await fetch(page, { method: 'HEAD', cache: 'no-store', signal: AbortSignal.timeout(5000) })).status === 401;
  return socketClient({ url: `${proto}//${location.host}/ws?token=${encodeURIComponent(token)}`, tokenRefused });
}
