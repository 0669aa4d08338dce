import { spawn, type ChildProcess } from 'node:child_process';
import { chmodSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { faultBackendPath, freePort, pidAlive, waitUntil } from '../../../../test/fixtures/backends';
import { commandMatches, PidRegistry } from './pidRegistry';

let dir: string;
const children: ChildProcess[] = [];
const extraPids: number[] = [];

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'loadout-pids-'));
});
afterEach(async () => {
  for (const pid of extraPids.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // gone
    }
  }
  await Promise.all(
    children.splice(0).map(
      (c) =>
        new Promise<void>((resolve) => {
          if (c.exitCode !== null || c.signalCode !== null) return resolve();
          c.once('exit', () => resolve());
          try {
            process.kill(-(c.pid as number), 'SIGKILL');
          } catch {
            c.kill('SIGKILL');
          }
        }),
    ),
  );
  rmSync(dir, { recursive: true, force: true });
});

/** A pid that certainly ran and has exited (a dead "owner"). */
async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => c.once('exit', r));
  return c.pid as number;
}

/** Starts `command` in its own process group, like the launcher does, and returns it once it runs. */
async function spawnDetached(command: string, args: string[]): Promise<ChildProcess> {
  const c = spawn(command, args, { detached: true, stdio: ['pipe', 'pipe', 'pipe'] });
  c.stdin?.on('error', () => {});
  children.push(c);
  await new Promise((resolve, reject) => {
    c.once('spawn', resolve);
    c.once('error', reject);
  });
  return c;
}

const exitOf = (c: ChildProcess) =>
  new Promise<{ code: number | null; signal: string | null }>((resolve) => {
    if (c.exitCode !== null || c.signalCode !== null) resolve({ code: c.exitCode, signal: c.signalCode });
    else c.once('exit', (code, signal) => resolve({ code, signal }));
  });

describe('PidRegistry', () => {
  it('U4: records each spawned pid with the owner pid and command line, and removes it on exit', () => {
    const pids = new PidRegistry({ dataDir: dir });
    pids.record(1111, ['/opt/backend', '--addr', '127.0.0.1:1']);
    pids.record(2222, ['/opt/other', '--addr', '127.0.0.1:2']);
    const file = JSON.parse(readFileSync(join(dir, 'backends.json'), 'utf8'));
    expect(file.entries).toEqual([
      expect.objectContaining({ pid: 1111, owner: process.pid, command: ['/opt/backend', '--addr', '127.0.0.1:1'] }),
      expect.objectContaining({ pid: 2222, owner: process.pid }),
    ]);
    pids.remove(1111);
    expect(pids.entries().map((e) => e.pid)).toEqual([2222]);
  });

  it('U4: a missing or corrupt file is tolerated (starts fresh, never throws)', async () => {
    const missing = new PidRegistry({ dataDir: join(dir, 'not', 'yet') });
    expect(missing.entries()).toEqual([]);
    await expect(missing.reapOrphans()).resolves.toEqual({ killed: [] });

    writeFileSync(join(dir, 'backends.json'), '{"entries": [ {"pid": 12, "own');
    const pids = new PidRegistry({ dataDir: dir });
    expect(pids.entries()).toEqual([]);
    await expect(pids.reapOrphans()).resolves.toEqual({ killed: [] });
    pids.record(42, ['x']);
    expect(pids.entries().map((e) => e.pid)).toEqual([42]);

    writeFileSync(join(dir, 'backends.json'), JSON.stringify({ entries: [{ pid: 'x' }, null, { pid: 7, owner: 1, command: ['a'] }] }));
    expect(pids.entries().map((e) => e.pid)).toEqual([7]);
  });

  it('U4: reapOrphans kills a live backend of a dead owner, its whole process group, and rewrites the file', async () => {
    // A wrapper that runs the backend as a child (no exec), so the group holds two processes.
    const wrapper = join(dir, 'wrapper.sh');
    writeFileSync(wrapper, `#!/bin/sh\n'${process.execPath}' '${faultBackendPath()}' "$@"\n`);
    chmodSync(wrapper, 0o755);
    const address = `127.0.0.1:${await freePort()}`;
    const leader = await spawnDetached(wrapper, ['--addr', address]);
    let out = '';
    leader.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    const inner = Number((await waitUntil(() => /faultBackend\[(\d+)\]/.exec(out), 'the backend to print its pid'))[1]);
    expect(inner).not.toBe(leader.pid);

    const owner = await deadPid();
    new PidRegistry({ dataDir: dir, ownerPid: owner }).record(leader.pid as number, [wrapper, '--addr', address]);

    const started = Date.now();
    const result = await new PidRegistry({ dataDir: dir }).reapOrphans();
    expect(result.killed).toEqual([leader.pid]);
    expect(await exitOf(leader)).toEqual({ code: null, signal: 'SIGKILL' });
    await waitUntil(() => !pidAlive(inner), 'the backend child in the group to die');
    expect(Date.now() - started).toBeLessThan(3000);
    expect(new PidRegistry({ dataDir: dir }).entries()).toEqual([]);
  });

  it('U4: an entry whose owner pid was reused by another process (other start time) counts as orphaned', async () => {
    const address = `127.0.0.1:${await freePort()}`;
    const backend = await spawnDetached(process.execPath, [faultBackendPath(), '--addr', address]);
    const pids = new PidRegistry({ dataDir: dir });
    pids.record(backend.pid as number, [process.execPath, faultBackendPath(), '--addr', address]);
    const file = JSON.parse(readFileSync(pids.path, 'utf8'));
    file.entries[0].ownerStart = '1';
    writeFileSync(pids.path, JSON.stringify(file));
    expect((await pids.reapOrphans()).killed).toEqual([backend.pid]);
    expect((await exitOf(backend)).signal).toBe('SIGKILL');
  });

  it('U4: never kills a live pid whose command line differs (pid reused), nor backends of a live owner', async () => {
    const stranger = await spawnDetached('sleep', ['30']);
    const ours = await spawnDetached('sleep', ['31']);
    const owner = await deadPid();
    new PidRegistry({ dataDir: dir, ownerPid: owner }).record(stranger.pid as number, ['/opt/backend', '--addr', '127.0.0.1:9']);
    const pids = new PidRegistry({ dataDir: dir });
    pids.record(ours.pid as number, ['sleep', '31']);
    expect(await pids.reapOrphans()).toEqual({ killed: [] });
    expect(pidAlive(stranger.pid as number)).toBe(true);
    expect(pidAlive(ours.pid as number)).toBe(true);
    // The stranger's entry is dropped (its owner is dead), ours is kept.
    expect(pids.entries().map((e) => e.pid)).toEqual([ours.pid]);
  });

  it('U4: command lines match through a #! interpreter and through an exec that keeps --addr', () => {
    const rec = ['/opt/b.sh', '--addr', '127.0.0.1:5000'];
    expect(commandMatches(['/opt/b.sh', '--addr', '127.0.0.1:5000'], rec)).toBe(true);
    expect(commandMatches(['/bin/sh', '/opt/b.sh', '--addr', '127.0.0.1:5000'], rec)).toBe(true);
    expect(commandMatches(['/usr/bin/node', '/x/fault.mjs', '--addr', '127.0.0.1:5000'], rec)).toBe(true);
    expect(commandMatches(['/usr/bin/node', '/x/fault.mjs', '--addr', '127.0.0.1:5001'], rec)).toBe(false);
    expect(commandMatches(['sleep', '30'], rec)).toBe(false);
    expect(commandMatches([], rec)).toBe(false);
  });
});
