import { spawn, type ChildProcess } from 'node:child_process';
import pidusage from 'pidusage';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../clock';
import { pidusageRss, ProcessRss, readRssBytes, treeRssBytes } from './procInfo';

const children: ChildProcess[] = [];
afterEach(() => {
  for (const c of children.splice(0)) c.kill('SIGKILL');
});

/** A real process holding about 64 MB. */
function bigProcess(): Promise<number> {
  const child = spawn(process.execPath, ['-e', 'globalThis.keep = Buffer.alloc(64 * 1024 * 1024, 1); console.log("ok"); setInterval(() => {}, 1000);'], {
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  children.push(child);
  return new Promise((resolve) => child.stdout!.once('data', () => resolve(child.pid!)));
}

describe('a backend process\'s memory on each desktop OS', () => {
  it('where the OS answers asynchronously (macOS, Windows): a read gives the last sample and asks again once it is stale', async () => {
    const clock = new FakeClock();
    const answers = [100, 200];
    let asked = 0;
    const rss = new ProcessRss(42, {
      platform: 'darwin',
      now: () => clock.now(),
      maxAgeMs: 2000,
      probe: async () => {
        asked++;
        return answers.shift()!;
      },
    });
    expect(rss.read()).toBeNull(); // unknown until the OS has answered; estimates stand in
    await Promise.resolve();
    await Promise.resolve();
    expect(rss.read()).toBe(100);
    expect(asked).toBe(1); // fresh: not asked again
    clock.advance(2000);
    expect(rss.read()).toBe(100);
    await Promise.resolve();
    await Promise.resolve();
    expect(rss.read()).toBe(200);
    expect(asked).toBe(2);
  });

  it('a process the OS no longer knows reads as unknown, not as its last figure', async () => {
    let alive = true;
    const rss = new ProcessRss(42, {
      platform: 'win32',
      maxAgeMs: 60_000,
      probe: async () => {
        if (!alive) throw new Error('No matching pid found');
        return 5_000_000;
      },
    });
    await rss.ask();
    expect(rss.read()).toBe(5_000_000);
    alive = false;
    await rss.ask();
    expect(rss.read()).toBeNull();
  });

  it('pidusage measures a real process as the OS does (the path macOS and Windows take)', async () => {
    const pid = await bigProcess();
    const measured = await pidusageRss(pid);
    expect(measured).toBeGreaterThan(64 * 1024 * 1024);
    // macOS's way (ps), run here.
    expect((await pidusage(pid, { usePs: true })).memory).toBeGreaterThan(64 * 1024 * 1024);
    const rss = new ProcessRss(pid, { platform: 'darwin' });
    await rss.ask();
    expect(rss.read()).toBeGreaterThan(64 * 1024 * 1024);
  });

  it.skipIf(process.platform !== 'linux')('Linux reads /proc at once and adds what the process started', async () => {
    const parent = spawn('sh', ['-c', `'${process.execPath}' -e 'globalThis.k = Buffer.alloc(64 * 1024 * 1024, 1); console.log("ok"); setInterval(() => {}, 1000)' & wait`], {
      stdio: ['ignore', 'pipe', 'ignore'],
      detached: true,
    });
    children.push(parent);
    await new Promise((resolve) => parent.stdout!.once('data', resolve));
    const own = readRssBytes(parent.pid!)!;
    expect(own).toBeLessThan(16 * 1024 * 1024); // the shell itself is small
    expect(treeRssBytes(parent.pid!)!).toBeGreaterThan(64 * 1024 * 1024);
    expect(new ProcessRss(parent.pid!).read()).toBeGreaterThan(64 * 1024 * 1024);
    process.kill(-parent.pid!, 'SIGKILL');
  });
});
