import { mkdtempSync, rmSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import type { AddressInfo, Server } from 'node:net';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { ServerStatus, Settings } from '../../shared/model';
import { defaultSettings } from '../../shared/settings';
import { createCore } from '../core/createCore';
import type { Core } from '../core/createCore';
import { startHttpServer } from '../core/server/httpServer';
import { ApiServerController, startErrorMessage } from './apiServer';
import type { RunningServer } from './apiServer';

const settings = (patch: Partial<Settings> = {}): Settings => ({ ...defaultSettings(), ...patch });

/** A fake `start` that records what it was asked and can be told to fail. */
function fakeStarter() {
  const log: string[] = [];
  let failWith: Error | null = null;
  return {
    log,
    failNext(e: Error) {
      failWith = e;
    },
    start: async ({ port, host }: { port: number; host: string }): Promise<RunningServer> => {
      if (failWith) {
        const e = failWith;
        failWith = null;
        log.push(`fail ${host}:${port}`);
        throw e;
      }
      log.push(`start ${host}:${port}`);
      const actual = port === 0 ? 50123 : port;
      return { port: actual, close: async () => void log.push(`close ${host}:${actual}`) };
    },
  };
}

function controller(blockedBy?: () => string | null) {
  const starter = fakeStarter();
  const statuses: ServerStatus[] = [];
  const c = new ApiServerController({ start: starter.start, setStatus: (s) => statuses.push(s), blockedBy });
  return { c, starter, statuses, last: () => statuses.at(-1)! };
}

describe('the desktop app local API server', () => {
  it('on by default: listens on 127.0.0.1 at the default port and reports it', async () => {
    const { c, starter, last } = controller();
    await c.apply(settings());
    expect(starter.log).toEqual(['start 127.0.0.1:8765']);
    expect(last()).toEqual({ listening: true, url: 'http://127.0.0.1:8765', host: '127.0.0.1', port: 8765, error: null, apiKeySet: false });
  });

  it('Trust 1: stays off while the settings file cannot be read, saying why; starts once it is fixed', async () => {
    let problem: string | null = '/data/settings.json cannot be used (it is not valid JSON)';
    const { c, starter, last } = controller(() => problem);
    await c.apply(settings());
    expect(starter.log).toEqual([]);
    expect(last()).toMatchObject({ listening: false, error: `The local API is off: ${problem}` });
    problem = null;
    await c.apply(settings());
    expect(starter.log).toEqual(['start 127.0.0.1:8765']);
    expect(last()).toMatchObject({ listening: true, error: null });
  });

  it('restarts only when api_enabled, api_port or api_lan change', async () => {
    const { c, starter, last } = controller();
    await c.apply(settings());
    await c.apply(settings({ max_active_models: 2, api_load_wait: 5 }));
    expect(starter.log).toEqual(['start 127.0.0.1:8765']);
    await c.apply(settings({ api_port: 9000 }));
    expect(starter.log).toEqual(['start 127.0.0.1:8765', 'close 127.0.0.1:8765', 'start 127.0.0.1:9000']);
    await c.apply(settings({ api_port: 9000, api_enabled: false }));
    expect(starter.log.at(-1)).toBe('close 127.0.0.1:9000');
    expect(last()).toMatchObject({ listening: false, url: null, port: null, error: 'The local API is turned off (Settings > API).' });
    await c.apply(settings({ api_port: 0 }));
    expect(last()).toMatchObject({ listening: true, port: 50123, url: 'http://127.0.0.1:50123' });
  });

  it('api_lan with a key listens on every interface; without a key it stays on loopback and says why', async () => {
    const { c, starter, last } = controller();
    await c.apply(settings({ api_lan: true }));
    expect(starter.log).toEqual(['start 127.0.0.1:8765']);
    expect(last()).toMatchObject({ listening: true, host: '127.0.0.1', error: expect.stringMatching(/LAN access needs an API key/), apiKeySet: false });
    await c.apply(settings({ api_lan: true, api_key: 'secret' }));
    expect(starter.log).toEqual(['start 127.0.0.1:8765', 'close 127.0.0.1:8765', 'start 0.0.0.0:8765']);
    expect(last()).toEqual({ listening: true, url: 'http://127.0.0.1:8765', host: '0.0.0.0', port: 8765, error: null, apiKeySet: true });
  });

  it('a failed start is a status, not a crash; the next settings change tries again', async () => {
    const { c, starter, last } = controller();
    starter.failNext(Object.assign(new Error('listen EADDRINUSE'), { code: 'EADDRINUSE' }));
    await expect(c.apply(settings())).resolves.toBeUndefined();
    expect(last()).toMatchObject({ listening: false, port: 8765, error: expect.stringMatching(/^Port 8765 is already in use .*Settings > API/) });
    await c.apply(settings({ idle_timeout: 60 }));
    expect(starter.log).toEqual(['fail 127.0.0.1:8765', 'start 127.0.0.1:8765']);
    expect(last().listening).toBe(true);
  });

  it('applies in order even when called without waiting', async () => {
    const { c, starter } = controller();
    void c.apply(settings({ api_port: 1001 }));
    await c.apply(settings({ api_port: 1002 }));
    expect(starter.log).toEqual(['start 127.0.0.1:1001', 'close 127.0.0.1:1001', 'start 127.0.0.1:1002']);
  });

  it('dispose closes for good: changes still queued or arriving later start nothing (quitting)', async () => {
    const { c, starter } = controller();
    await c.apply(settings({ api_port: 1001 }));
    void c.apply(settings({ api_port: 1002 }));
    await c.dispose();
    await c.apply(settings({ api_port: 1003 }));
    expect(starter.log).toEqual(['start 127.0.0.1:1001', 'close 127.0.0.1:1001']);
  });

  it('error messages say what to do', () => {
    expect(startErrorMessage(80, Object.assign(new Error('x'), { code: 'EACCES' }))).toBe('Not allowed to listen on port 80. Choose a port above 1024 in Settings > API.');
    expect(startErrorMessage(8765, new Error('boom'))).toBe('The local API could not start on port 8765: boom');
  });
});

describe('with the real HTTP server and core', () => {
  const cleanups: (() => Promise<void> | void)[] = [];
  afterEach(async () => {
    for (const f of cleanups.splice(0).reverse()) await f();
  });

  async function realCore(): Promise<Core> {
    const root = mkdtempSync(join(os.tmpdir(), 'loadout-api-'));
    cleanups.push(() => rmSync(root, { recursive: true, force: true }));
    const core = await createCore({ dataDir: join(root, 'data'), overrides: { models_dir: join(root, 'models') }, demoModel: false, cores: 1 });
    cleanups.push(() => core.dispose());
    return core;
  }

  function occupyPort(): Promise<Server> {
    const blocker = createServer();
    cleanups.push(() => new Promise<void>((r) => blocker.close(() => r())));
    return new Promise((resolve) => blocker.listen(0, '127.0.0.1', () => resolve(blocker)));
  }

  it('a port in use: the app keeps running, the core reports why; a free port then works and answers', async () => {
    const core = await realCore();
    const blocker = await occupyPort();
    const busy = (blocker.address() as AddressInfo).port;
    const api = new ApiServerController({
      start: async ({ port, host }) => {
        const h = await startHttpServer(core, { port, host, ui: false });
        return { port: h.port, close: () => h.close() };
      },
      setStatus: (s) => core.commands.setServerStatus(s),
    });
    cleanups.push(() => api.dispose());
    await api.apply({ ...core.commands.settings(), api_port: busy });
    expect(core.commands.serverStatus()).toMatchObject({ listening: false, port: busy, error: expect.stringContaining(`Port ${busy} is already in use`) });

    await api.apply({ ...core.commands.settings(), api_port: 0 });
    const status = core.commands.serverStatus();
    expect(status).toMatchObject({ listening: true, host: '127.0.0.1', error: null });
    const code = await new Promise<number>((resolve, reject) => {
      request(`${status.url}/v1/models`, { agent: false }, (res) => {
        res.resume();
        resolve(res.statusCode ?? 0);
      })
        .on('error', reject)
        .end();
    });
    expect(code).toBe(200);
    await api.dispose();
    expect(await new Promise<string>((resolve) => request(`${status.url}/v1/models`, { agent: false }, () => resolve('answered')).on('error', (e: NodeJS.ErrnoException) => resolve(e.code ?? '')).end())).toBe('ECONNREFUSED');
  });
});
