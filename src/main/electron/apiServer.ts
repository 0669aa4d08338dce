/**
 * The desktop app's local HTTP API (OpenAI-compatible, `/api`): started when `api_enabled` is on,
 * restarted when `api_enabled`, `api_port` or `api_lan` change, and reported through the core's
 * server status. A port in use never stops the app: the status says so and how to fix it.
 */
import type { ServerStatus, Settings } from '../../shared/model';
import { SerialQueue } from '../core/fsx/serialQueue';
import { apiListenHost } from '../core/server/listenHost';

export interface RunningServer {
  port: number;
  close(): Promise<void>;
}

export interface ApiServerDeps {
  /** Starts the HTTP server (the core's `startHttpServer` with `ui: false`). */
  start(opts: { port: number; host: string }): Promise<RunningServer>;
  setStatus(status: ServerStatus): void;
  /** Why the API must stay off (the settings file could not be read, so its api_key is unknown), or null. */
  blockedBy?: () => string | null;
}

type ListenKey = { enabled: boolean; port: number; host: string };

function listenKey(s: Settings): { key: ListenKey; warning: string | null } {
  const { host, warning } = apiListenHost(s);
  return { key: { enabled: s.api_enabled, port: s.api_port, host }, warning };
}

export function startErrorMessage(port: number, e: unknown): string {
  const err = e as NodeJS.ErrnoException;
  const text = err instanceof Error ? err.message : String(e);
  if (err?.code === 'EADDRINUSE' || /in use/i.test(text)) {
    return `Port ${port} is already in use (another Loadout, or another program). Choose another port in Settings > API, or 0 to pick a free one.`;
  }
  if (err?.code === 'EACCES' || /not allowed|permission/i.test(text)) {
    return `Not allowed to listen on port ${port}. Choose a port above 1024 in Settings > API.`;
  }
  return `The local API could not start on port ${port}: ${text}`;
}

export class ApiServerController {
  private server: RunningServer | null = null;
  private current: ListenKey | null = null;
  private readonly queue = new SerialQueue();
  private disposed = false;

  constructor(private readonly deps: ApiServerDeps) {}

  /** Brings the server in line with `settings`; calls are serialised, never throws. */
  apply(settings: Settings): Promise<void> {
    return this.queue.run(() => this.reconcile(settings)).catch(() => {});
  }

  /** Closes the server for good (on quit). */
  dispose(): Promise<void> {
    this.disposed = true;
    return this.queue.run(() => this.close()).catch(() => {});
  }

  private async reconcile(settings: Settings): Promise<void> {
    if (this.disposed) return;
    const { key, warning } = listenKey(settings);
    const apiKeySet = settings.api_key !== '';
    const blocked = this.deps.blockedBy?.() ?? null;
    if (blocked) {
      await this.close();
      this.deps.setStatus({ listening: false, url: null, host: key.host, port: null, error: `The local API is off: ${blocked}`, apiKeySet });
      return;
    }
    const c = this.current;
    const unchanged = c !== null && c.enabled === key.enabled && c.port === key.port && c.host === key.host;
    // A server that failed to start is retried on the next settings change, whatever it is.
    if (!unchanged || (key.enabled && !this.server)) {
      await this.close();
      this.current = key;
      if (key.enabled) {
        try {
          this.server = await this.deps.start({ port: key.port, host: key.host });
        } catch (e) {
          this.deps.setStatus({ listening: false, url: null, host: key.host, port: key.port, error: startErrorMessage(key.port, e), apiKeySet });
          return;
        }
      }
    }
    if (!this.server) {
      this.deps.setStatus({ listening: false, url: null, host: key.host, port: null, error: 'The local API is turned off (Settings > API).', apiKeySet });
      return;
    }
    // Local clients always reach it on loopback, whichever interface it also listens on.
    const port = this.server.port;
    this.deps.setStatus({ listening: true, url: `http://127.0.0.1:${port}`, host: key.host, port, error: warning, apiKeySet });
  }

  private async close(): Promise<void> {
    const server = this.server;
    this.server = null;
    this.current = null;
    if (server) await server.close();
  }
}
