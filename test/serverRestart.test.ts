/**
 * Headless restart on the same data dir, against the real core and server: the page's token is
 * the same on both starts, so an open page client reconnects by itself; when the token was
 * replaced in between, the client says the link is out of date and stops trying.
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { WebSocket } from 'ws';
import { createCore } from '../src/main/core/createCore';
import type { Core } from '../src/main/core/createCore';
import { startHttpServer } from '../src/main/core/server/httpServer';
import type { HttpServerHandle } from '../src/main/core/server/httpServer';
import { SERVER_TOKEN_FILE } from '../src/main/core/server/serverToken';
import { socketClient } from '../src/renderer/src/api/client';
import type { Connection, LoadoutClient } from '../src/renderer/src/api/client';
import { waitUntil } from './harness';

interface Running {
  core: Core;
  server: HttpServerHandle;
  stop(): Promise<void>;
}

const cleanups: (() => unknown)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

function tempRoot(): { dataDir: string; modelsDir: string } {
  const root = mkdtempSync(join(os.tmpdir(), 'loadout-restart-'));
  cleanups.push(() => rmSync(root, { recursive: true, force: true }));
  const modelsDir = join(root, 'models');
  mkdirSync(modelsDir);
  return { dataDir: join(root, 'data'), modelsDir };
}

/** What `npm run serve` does: a core on the data dir, then the server with the web UI. */
async function start(dirs: { dataDir: string; modelsDir: string }, port: number): Promise<Running> {
  const core = await createCore({ dataDir: dirs.dataDir, overrides: { models_dir: dirs.modelsDir, warm_standby: false }, demoModel: false });
  const server = await startHttpServer(core, { port });
  let stopped = false;
  const stop = async () => {
    if (stopped) return;
    stopped = true;
    await server.close();
    await core.dispose();
  };
  cleanups.push(stop);
  return { core, server, stop };
}

/** The page's client as in a browser: its Origin, and the token check `createClient` does (a HEAD of the page). */
function pageClient(server: HttpServerHandle): LoadoutClient & { seen: Connection['status'][]; checks: () => number } {
  let checks = 0;
  const origin = `http://127.0.0.1:${server.port}`;
  const WithOrigin = class extends WebSocket {
    constructor(url: string) {
      super(url, { origin });
      // A browser's WebSocket reports a failed connect by onerror/onclose and never throws; ws
      // throws an 'error' that has no listener.
      this.on('error', () => {});
    }
  } as unknown as typeof globalThis.WebSocket;
  const client = socketClient({
    url: `ws://127.0.0.1:${server.port}/ws?token=${server.token}`,
    WebSocketImpl: WithOrigin,
    tokenRefused: async () => {
      checks += 1;
      return (await fetch(server.url, { method: 'HEAD', signal: AbortSignal.timeout(5000) })).status === 401;
    },
  });
  const seen: Connection['status'][] = [];
  client.onConnection((c) => {
    if (seen.at(-1) !== c.status) seen.push(c.status);
  });
  cleanups.push(() => client.dispose());
  return Object.assign(client, { seen, checks: () => checks });
}

const status = (client: LoadoutClient, s: Connection['status']) => waitUntil(() => client.connection().status === s, `the page client to be ${s}`, { timeoutMs: 15_000 });

describe('restart on the same data dir', () => {
  it('the page token and URL are the same on both starts, and an open page client reconnects by itself', async () => {
    const dirs = tempRoot();
    const first = await start(dirs, 0);
    const { port, token, url } = first.server;
    const client = pageClient(first.server);
    await status(client, 'open');
    expect((await client.invoke('settings')).ok).toBe(true);

    await first.stop();
    await status(client, 'reconnecting');
    // While Loadout is down a failed attempt is asked about, and keeps the client trying.
    await waitUntil(() => client.checks() >= 2, 'two failed attempts while Loadout is down');
    expect(client.connection().status).toBe('reconnecting');
    const second = await start(dirs, port);
    expect(second.server.token).toBe(token);
    expect(second.server.url).toBe(url);
    await status(client, 'open');
    const snap = await client.invoke('snapshot');
    expect(snap.ok).toBe(true);
    expect(client.connection().drops).toBe(1);
    expect(client.seen).toEqual(['connecting', 'open', 'reconnecting', 'open']);
  });

  it('a token replaced between the starts: the open page client says its link is out of date and stops trying', async () => {
    const dirs = tempRoot();
    const first = await start(dirs, 0);
    const { port, token } = first.server;
    const client = pageClient(first.server);
    await status(client, 'open');

    await first.stop();
    rmSync(join(dirs.dataDir, SERVER_TOKEN_FILE));
    const second = await start(dirs, port);
    expect(second.server.token).not.toBe(token);
    await status(client, 'token-refused');
    expect(client.connection().retryInSeconds).toBeNull();
    expect(client.seen).toEqual(['connecting', 'open', 'reconnecting', 'token-refused']);
    // Calls fail at once with what to do, rather than waiting for a connection that will not come.
    const call = await client.invoke('snapshot');
    expect(call).toEqual({ ok: false, error: { code: 'unauthorized', message: expect.stringMatching(/link is out of date.*Open the URL Loadout printed/) } });
  });
});
