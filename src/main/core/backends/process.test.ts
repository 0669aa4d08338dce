import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, type Server } from 'node:net';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoadoutError } from '../../../shared/errors';
import {
  FAULT_START_CRASH_EXIT,
  FAULT_START_CRASH_LINE,
  faultBackendPath,
  freePort,
  pidAlive,
  waitUntil,
  writeFaultProgram,
} from '../../../../test/fixtures/backends';
import { LogStore } from './logs';
import { PidRegistry } from './pidRegistry';
import { LocalHostLauncher } from './process';
import { BackendRegistry } from './registry';
import type { HostSpec, ModelHost } from './types';

/** Remembers every pid the launcher recorded, so a test can check each one is gone. */
class SpyPids extends PidRegistry {
  readonly recorded: number[] = [];
  override record(pid: number, command: string[]): void {
    this.recorded.push(pid);
    super.record(pid, command);
  }
}

let dir: string;
let logs: LogStore;
let pids: SpyPids;
let launcher: LocalHostLauncher;
const strays: number[] = [];
const servers: Server[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'loadout-process-'));
  logs = new LogStore({ logsDir: join(dir, 'logs') });
  pids = new SpyPids({ dataDir: dir });
  launcher = new LocalHostLauncher({ logs, pids });
});

afterEach(async () => {
  await launcher.dispose();
  for (const pid of pids.recorded) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone, as it should be
    }
  }
  // Helpers are only killed here if the code under test failed to (pids are fresh: not reused yet).
  for (const pid of strays.splice(0)) {
    try {
      if (pidAlive(pid)) process.kill(pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  for (const s of servers.splice(0)) s.close();
  logs.dispose();
  rmSync(dir, { recursive: true, force: true });
});

function spec(command: string, extra: Partial<HostSpec> = {}, args: string[] = []): HostSpec {
  return {
    model: 'm',
    backend: { kind: 'program', name: 'fault', command, args },
    startTimeoutMs: 10_000,
    ...extra,
  };
}

const start = (s: HostSpec): Promise<ModelHost> => launcher.start(s);

async function failure(p: Promise<unknown>): Promise<LoadoutError> {
  try {
    await p;
  } catch (e) {
    expect(e).toBeInstanceOf(LoadoutError);
    return e as LoadoutError;
  }
  throw new Error('expected the start to fail');
}

/** A program that starts a `sleep` in its group (printing its pid) and then becomes the backend. */
function programWithHelper(env: Record<string, string> = {}): string {
  const path = join(dir, 'with-helper.sh');
  const exports = Object.entries(env).map(([k, v]) => `export ${k}='${v}'\n`).join('');
  writeFileSync(
    path,
    `#!/bin/sh\n${exports}sleep 1000 &\necho "helper $!"\nexec '${process.execPath}' '${faultBackendPath()}' "$@"\n`,
  );
  chmodSync(path, 0o755);
  return path;
}

async function helperPid(model = 'm'): Promise<number> {
  const match = await waitUntil(
    () => logs.lines(model).map((l) => /^helper (\d+)$/.exec(l.text)).find(Boolean),
    'the helper pid in the log',
  );
  const pid = Number(match[1]);
  strays.push(pid);
  return pid;
}

describe('LocalHostLauncher', () => {
  it('L9/L10: spawns <program> --addr 127.0.0.1:<port> in its own group and is ready fast', async () => {
    const t0 = performance.now();
    const host = await start(spec(process.execPath, { env: { FROM_SPEC: '1' } }, [faultBackendPath()]));
    const ms = performance.now() - t0;
    console.log(`L10: spawn to Health OK in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(5000);

    expect(host.kind).toBe('local');
    expect(host.address).toMatch(/^127\.0\.0\.1:\d+$/);
    const pid = host.pid as number;
    expect(pidAlive(pid)).toBe(true);
    // Leader of its own process group, so the group can be signalled as one.
    const stat = (await import('node:fs')).readFileSync(`/proc/${pid}/stat`, 'utf8');
    expect(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[2]).toBe(String(pid));
    expect(Buffer.from((await host.client.health()).message).toString()).toBe('OK');
    expect(pids.entries()).toEqual([
      expect.objectContaining({ pid, owner: process.pid, command: [process.execPath, faultBackendPath(), '--addr', host.address] }),
    ]);
    expect(host.rssBytes()).toBeGreaterThan(10 * 1024 * 1024);
    await waitUntil(() => logs.lines('m').some((l) => l.stream === 'stdout' && l.text.includes(`listening on ${host.address}`)), 'stdout in the log');
    expect(logs.lines('m')[0]).toEqual(expect.objectContaining({ stream: 'loadout', text: expect.stringMatching(/^starting backend fault: /) }));
  });

  it('L9: the environment is ours plus the backend entry and the spec additions', async () => {
    const path = join(dir, 'env.sh');
    writeFileSync(path, `#!/bin/sh\necho "env $FROM_BACKEND $FROM_SPEC $HOME"\nexec '${process.execPath}' '${faultBackendPath()}' "$@"\n`);
    chmodSync(path, 0o755);
    const s = spec(path, { env: { FROM_SPEC: 'spec' } });
    s.backend = { kind: 'program', name: 'fault', command: path, args: [], env: { FROM_BACKEND: 'entry' } };
    await start(s);
    expect(logs.lines('m').map((l) => l.text)).toContain(`env entry spec ${process.env.HOME}`);
  });

  it('L10: a crash at start is reported at once with the exit code and the last stderr line', async () => {
    const program = writeFaultProgram(dir, { FAULT_START: 'crash' });
    const t0 = performance.now();
    const e = await failure(launcher.start(spec(program)));
    const ms = performance.now() - t0;
    console.log(`L10: crash at start reported in ${ms.toFixed(0)} ms`);
    expect(ms).toBeLessThan(1000);
    expect(e.code).toBe('backend_failed');
    expect(e.message).toBe(`backend fault exited with code ${FAULT_START_CRASH_EXIT} while starting: ${FAULT_START_CRASH_LINE}`);
    expect(pids.recorded).toHaveLength(1);
    expect(pidAlive(pids.recorded[0])).toBe(false);
    expect(pids.entries()).toEqual([]);
    expect(logs.lines('m').map((l) => l.text)).toContain(FAULT_START_CRASH_LINE);
  });

  it('L10: a crash whose last line is megabytes long is reported with that line clipped (Trust 12)', async () => {
    const program = join(dir, 'long-line.sh');
    writeFileSync(program, `#!/bin/sh\nhead -c 3000000 /dev/zero | tr '\\0' x >&2\necho >&2\nexit 3\n`);
    chmodSync(program, 0o755);
    const e = await failure(launcher.start(spec(program)));
    expect(e.code).toBe('backend_failed');
    expect(e.message).toMatch(/x…$/);
    expect(e.message.length).toBeLessThan(1000);
  });

  it('L10: a backend that never answers Health is stopped at start_timeout with a hint', async () => {
    const program = writeFaultProgram(dir, { FAULT_START: 'hang' });
    const t0 = performance.now();
    const e = await failure(launcher.start(spec(program, { startTimeoutMs: 400 })));
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(390);
    expect(ms).toBeLessThan(2000);
    expect(e.code).toBe('timeout');
    expect(e.message).toMatch(/^backend fault for m did not become ready within 400 ms and was stopped\. .*raise start_timeout/);
    expect(pidAlive(pids.recorded[0])).toBe(false);
    expect(pids.entries()).toEqual([]);
  });

  it('L12: an aborted start kills the group and rejects with cancelled', async () => {
    const program = writeFaultProgram(dir, { FAULT_START: 'hang' });
    const ac = new AbortController();
    const p = launcher.start(spec(program, { signal: ac.signal }));
    await waitUntil(() => pids.recorded.length === 1, 'the backend to be spawned');
    ac.abort();
    const e = await failure(p);
    expect(e.code).toBe('cancelled');
    expect(e.message).toBe('starting backend fault for m was cancelled');
    expect(pidAlive(pids.recorded[0])).toBe(false);

    const already = new AbortController();
    already.abort();
    expect((await failure(launcher.start(spec(program, { signal: already.signal })))).code).toBe('cancelled');
    expect(pids.recorded).toHaveLength(1); // nothing spawned for an already-aborted start
  });

  it('U1: stop sends SIGTERM to the group; the backend and what it started exit', async () => {
    const host = await start(spec(programWithHelper()));
    const helper = await helperPid();
    expect(pidAlive(helper)).toBe(true);
    const t0 = performance.now();
    const info = await host.stop(10_000);
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(info).toEqual({ code: 0, signal: null, stderr: null });
    expect(pidAlive(host.pid as number)).toBe(false);
    await waitUntil(() => !pidAlive(helper), 'the helper in the group to exit');
    expect(pids.entries()).toEqual([]);
    // Stopping again answers at once with the same exit.
    expect(await host.stop(10_000)).toBe(info);
    expect(host.rssBytes()).toBeNull();
  });

  it('U1: a backend that ignores SIGTERM is SIGKILLed (with its group) after the grace', async () => {
    const host = await start(spec(programWithHelper({ FAULT_IGNORE_SIGTERM: '1' })));
    const helper = await helperPid();
    const t0 = performance.now();
    const info = await host.stop(500);
    const ms = performance.now() - t0;
    expect(ms).toBeGreaterThanOrEqual(490);
    expect(ms).toBeLessThan(2000);
    expect(info.signal).toBe('SIGKILL');
    await waitUntil(() => !pidAlive(helper), 'the helper in the group to die');
    expect(logs.lines('m').map((l) => l.text)).toContain('faultBackend[' + host.pid + ']: ignoring SIGTERM (FAULT_IGNORE_SIGTERM=1)');
  });

  it('U1: stop(0) kills at once; a shorter stop during a graceful one wins', async () => {
    const a = await start(spec(writeFaultProgram(dir, { FAULT_IGNORE_SIGTERM: '1' })));
    const t0 = performance.now();
    const graceful = a.stop(30_000);
    const forced = await a.stop(0);
    expect(performance.now() - t0).toBeLessThan(1000);
    expect(forced.signal).toBe('SIGKILL');
    expect(await graceful).toBe(forced);
  });

  it('U3/U4: an unexpected exit is noticed at once, and what the backend left in its group is killed', async () => {
    const host = await start(spec(programWithHelper()));
    const helper = await helperPid();
    const t0 = performance.now();
    process.kill(host.pid as number, 'SIGKILL');
    const info = await host.exited;
    const ms = performance.now() - t0;
    console.log(`U3: exit noticed in ${ms.toFixed(1)} ms`);
    expect(ms).toBeLessThan(100);
    expect(info.signal).toBe('SIGKILL');
    expect(info.code).toBeNull();
    await waitUntil(() => !pidAlive(helper), 'the orphaned helper to be killed');
    expect(pids.entries()).toEqual([]);
    await expect(host.client.health({ timeoutMs: 500 })).rejects.toThrow();
  });

  it('L9: a port taken before the backend binds is retried once on a new port', async () => {
    const taken = createServer();
    servers.push(taken);
    await new Promise<void>((r) => taken.listen(0, '127.0.0.1', r));
    const takenPort = (taken.address() as { port: number }).port;
    const ports = [takenPort];
    const retrying = new LocalHostLauncher({ logs, pids, pickPort: async () => ports.shift() ?? freePort() });
    const host = await retrying.start(spec(writeFaultProgram(dir)));
    await host.stop(0);
    expect(host.address).not.toBe(`127.0.0.1:${takenPort}`);
    expect(pids.recorded).toHaveLength(2);
    expect(pidAlive(pids.recorded[0])).toBe(false);
    expect(logs.lines('m').map((l) => l.text)).toContain(
      `port ${takenPort} was taken before the backend could use it; trying another port`,
    );

    // Twice in a row: the second failure is reported as it is.
    const always = new LocalHostLauncher({ logs, pids, pickPort: async () => takenPort });
    const e = await failure(always.start(spec(writeFaultProgram(dir))));
    expect(e.code).toBe('backend_failed');
    expect(e.message).toMatch(/^backend fault exited with code 1 while starting: .*EADDRINUSE/);
  });

  it('L9: a missing program and a non-executable one fail with clear messages', async () => {
    const missing = join(dir, 'no-such-backend');
    const e1 = await failure(launcher.start(spec(missing)));
    expect(e1.code).toBe('backend_failed');
    expect(e1.message).toBe(
      `cannot start backend fault: ${missing} was not found. Check the program path in Settings > Backends (for a script, also the interpreter on its #! line).`,
    );
    const plain = join(dir, 'plain.sh');
    writeFileSync(plain, '#!/bin/sh\n');
    chmodSync(plain, 0o644);
    const e2 = await failure(launcher.start(spec(plain)));
    expect(e2.message).toBe(
      `cannot start backend fault: ${plain} is not executable. Make it executable (chmod +x ${plain}) or choose the program itself in Settings > Backends.`,
    );
    expect(pids.recorded).toEqual([]);
  });

  it('L9: the built-in llama-cpp backend starts from sources (node + tsx) and stops on SIGTERM', async () => {
    const backend = new BackendRegistry({ dataDir: null }).resolve('llama');
    const t0 = performance.now();
    const host = await start({ model: 'm', backend, startTimeoutMs: 20_000 });
    console.log(`L9: built-in backend ready in ${(performance.now() - t0).toFixed(0)} ms`);
    expect(Buffer.from((await host.client.health()).message).toString()).toBe('OK');
    const info = await host.stop(10_000);
    expect(info.code).toBe(0);
    expect(pidAlive(host.pid as number)).toBe(false);
  });

  it('U4: dispose kills every backend still running and waits for them', async () => {
    const a = await start(spec(writeFaultProgram(dir, { FAULT_IGNORE_SIGTERM: '1' })));
    const b = await start({ ...spec(writeFaultProgram(dir)), model: 'n' });
    await launcher.dispose();
    expect(pidAlive(a.pid as number)).toBe(false);
    expect(pidAlive(b.pid as number)).toBe(false);
    expect((await a.exited).signal).toBe('SIGKILL');
    expect(pids.entries()).toEqual([]);
  });

  it('a remote backend spec is refused by the local launcher', async () => {
    const e = await failure(launcher.start({ model: 'm', backend: { kind: 'remote', name: 'r', address: 'h:1' }, startTimeoutMs: 100 }));
    expect(e.code).toBe('invalid');
  });
});

describe('U7: stopping process trees on each platform', () => {
  it('U7: POSIX signals the group the backend leads; Windows uses taskkill /T (and /F to force)', async () => {
    const { treeKill } = await import('./localHost');
    expect(treeKill('linux', 42, 'SIGTERM')).toEqual({ kind: 'group', pgid: 42, signal: 'SIGTERM' });
    expect(treeKill('darwin', 42, 'SIGKILL')).toEqual({ kind: 'group', pgid: 42, signal: 'SIGKILL' });
    expect(treeKill('win32', 42, 'SIGTERM')).toEqual({ kind: 'taskkill', args: ['/pid', '42', '/T'] });
    expect(treeKill('win32', 42, 'SIGKILL')).toEqual({ kind: 'taskkill', args: ['/pid', '42', '/T', '/F'] });
  });
});
