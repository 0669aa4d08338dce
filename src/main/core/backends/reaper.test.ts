import { spawn } from 'node:child_process';
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { pidAlive, waitUntil } from '../../../../test/fixtures/backends';
import { Reaper } from './reaper';

const groups: number[] = [];
afterEach(() => {
  for (const g of groups.splice(0)) {
    try {
      process.kill(-g, 'SIGKILL');
    } catch {
      // gone
    }
  }
});

/** A process group led by a `sleep`, as a backend leads its own group. */
function group(): number {
  const child = spawn('sleep', ['1000'], { detached: true, stdio: 'ignore' });
  child.unref();
  groups.push(child.pid!);
  return child.pid!;
}

describe.skipIf(process.platform === 'win32')('the reaper', () => {
  it('Trust 9: when its pipe from the app closes it kills every group still listed, stopped ones too; forgotten ones are left alone', async () => {
    const reaper = new Reaper();
    const [stopped, running, ended] = [group(), group(), group()];
    process.kill(stopped, 'SIGSTOP');
    for (const g of [stopped, running, ended]) reaper.watch(g);
    reaper.unwatch(ended);
    const pid = reaper.pid!;
    expect(pidAlive(pid)).toBe(true);
    reaper.close(); // what the OS does to the pipe when the app dies
    await waitUntil(() => !pidAlive(stopped) && !pidAlive(running) && !pidAlive(pid), 'the listed groups and the reaper to end', { timeoutMs: 5000 });
    expect(pidAlive(ended)).toBe(true);
  });

  it('a reaper that was killed is started again by the next backend, with every group still running', async () => {
    const reaper = new Reaper();
    const first = group();
    reaper.watch(first);
    const old = reaper.pid!;
    process.kill(old, 'SIGKILL');
    await waitUntil(() => reaper.pid === null, 'the launcher to notice the reaper died');
    const second = group();
    reaper.watch(second);
    expect(reaper.pid).not.toBe(old);
    reaper.close();
    await waitUntil(() => !pidAlive(first) && !pidAlive(second), 'both groups to be killed', { timeoutMs: 5000 });
  });

  it('terminal signals (Ctrl-C to the foreground group, a closed terminal) do not stop it', async () => {
    const reaper = new Reaper();
    const g = group();
    reaper.watch(g);
    const pid = reaper.pid!;
    // The shell sets its traps first thing; wait for that (Linux shows ignored signals in /proc).
    if (process.platform === 'linux') await waitUntil(() => (BigInt(`0x${/^SigIgn:\s+(\w+)/m.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]}`) & 2n) !== 0n, 'the traps');
    else await new Promise((r) => setTimeout(r, 500));
    for (const sig of ['SIGINT', 'SIGHUP', 'SIGTERM'] as const) process.kill(pid, sig);
    await new Promise((r) => setTimeout(r, 300));
    expect(pidAlive(pid)).toBe(true);
    reaper.close();
    await waitUntil(() => !pidAlive(g), 'the group to be killed', { timeoutMs: 5000 });
  });
});
