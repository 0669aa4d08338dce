import { spawn, type ChildProcess } from 'node:child_process';
import { connect, createServer, type Server, type Socket } from 'node:net';
import { afterEach, describe, expect, it } from 'vitest';
import { LoadoutError } from '../../../shared/errors';
import { faultBackendPath, freePort, killAllBackends, spawnBackend, waitUntil } from '../../../../test/fixtures/backends';
import { FakeClock } from '../clock';
import { RemoteHostLauncher } from './remote';
import type { HostSpec, ModelHost } from './types';

const hosts: ModelHost[] = [];
const servers: Server[] = [];
const sockets: Socket[] = [];
const stopped: ChildProcess[] = [];

afterEach(async () => {
  await Promise.all(hosts.splice(0).map((h) => h.stop(0)));
  for (const s of sockets.splice(0)) s.destroy();
  for (const s of servers.splice(0)) s.close();
  for (const c of stopped.splice(0)) c.kill('SIGKILL');
  await killAllBackends();
});

function spec(address: string, startTimeoutMs = 5000): HostSpec {
  return { model: 'm', backend: { kind: 'remote', name: 'box', address }, startTimeoutMs };
}

async function failure(p: Promise<unknown>): Promise<LoadoutError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(LoadoutError);
    return e as LoadoutError;
  }
  throw new Error('expected the start to fail');
}

describe('RemoteHostLauncher', () => {
  it('U6: a refused connection fails at once, saying so', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const t0 = performance.now();
    const e = await failure(new RemoteHostLauncher().start(spec(address)));
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(e.code).toBe('backend_failed');
    expect(e.message).toBe(`cannot reach remote backend ${address}: connection refused - is it running?`);
  });

  it('U6: a running backend at host:port is used without a process of ours', async () => {
    const backend = await spawnBackend(faultBackendPath());
    await waitUntil(() => backend.stdout().includes('listening on'), 'the backend to listen');
    const host = await new RemoteHostLauncher().start(spec(backend.address));
    hosts.push(host);
    expect(host.kind).toBe('remote');
    expect(host.address).toBe(backend.address);
    expect(host.pid).toBeNull();
    expect(host.rssBytes()).toBeNull();
    expect(Buffer.from((await host.client.health()).message).toString()).toBe('OK');

    let exited = false;
    void host.exited.then(() => (exited = true));
    await host.client.status();
    expect(exited).toBe(false);
    expect(await host.stop(10_000)).toEqual({ code: null, signal: null, stderr: null });
    expect(exited).toBe(true);
    // Stopping a remote host leaves the remote process alone.
    expect(backend.child.exitCode).toBeNull();
  });

  it('U6: something listening that never answers Health times out with a message', async () => {
    const server = createServer((s) => sockets.push(s));
    servers.push(server);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const address = `127.0.0.1:${(server.address() as { port: number }).port}`;
    const t0 = performance.now();
    const e = await failure(new RemoteHostLauncher().start(spec(address, 300)));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(new RegExp(`^remote backend ${address} accepts connections but did not answer Health "OK" within 300 ms`));
  });

  it('A3: a host that never completes the TCP handshake times out on the injected clock', async () => {
    // A stopped process whose one-place accept queue is full: the kernel drops further SYNs, so
    // a connect neither succeeds nor fails (as with a firewall that drops packets).
    const holder = spawn(process.execPath, ['-e', "const s = require('net').createServer(); s.listen({ port: 0, host: '127.0.0.1', backlog: 0 }, () => console.log(s.address().port))"], {
      stdio: ['ignore', 'pipe', 'ignore'],
    });
    stopped.push(holder);
    const port = Number(await new Promise<string>((r) => holder.stdout!.once('data', (d) => r(String(d).trim()))));
    holder.kill('SIGSTOP');
    const filler = connect(port, '127.0.0.1');
    sockets.push(filler);
    await new Promise((r) => filler.once('connect', r));
    const clock = new FakeClock();
    const address = `127.0.0.1:${port}`;
    const started = failure(new RemoteHostLauncher({ clock }).start(spec(address, 60_000)));
    clock.advance(60_000);
    const e = await started;
    expect(e.code).toBe('timeout');
    expect(e.message).toBe(`cannot reach remote backend ${address}: no answer within 60000 ms - is the host up and the port open?`);
  });

  it('a program backend spec is refused by the remote launcher', async () => {
    const e = await failure(
      new RemoteHostLauncher().start({ model: 'm', backend: { kind: 'program', name: 'p', command: '/x', args: [] }, startTimeoutMs: 100 }),
    );
    expect(e.code).toBe('invalid');
  });
});
