/** `loadout worker ...` from the installed binary: the launch is routed to the headless entry, never the GUI. */
import type { App } from 'electron';
import { describe, expect, it } from 'vitest';
import { launchMode, runCliLaunch, type CliLaunchOptions } from './cliMode';
import { FakeEmitter } from './fakes';

class FakeApp extends FakeEmitter {
  exits: number[] = [];
  hidden = 0;
  dock = { hide: () => void this.hidden++ };
  constructor(readonly isPackaged: boolean) {
    super();
  }
  exit(code = 0) {
    this.exits.push(code);
  }
}

const asApp = (a: FakeApp) => a as unknown as CliLaunchOptions['app'] & Pick<App, 'isPackaged'>;

describe('the desktop binary as a worker', () => {
  it('the packaged binary routes `worker` and `serve` with every argument after them; anything else is the GUI', () => {
    const packaged = asApp(new FakeApp(true));
    expect(launchMode(['/opt/Loadout/loadout', 'worker', '--nats', 'nats://h:4222', '--name', 'w1'], packaged)).toEqual({ kind: 'cli', argv: ['worker', '--nats', 'nats://h:4222', '--name', 'w1'] });
    expect(launchMode(['/opt/Loadout/loadout', 'serve', '--port', '0'], packaged)).toEqual({ kind: 'cli', argv: ['serve', '--port', '0'] });
    expect(launchMode(['/opt/Loadout/loadout'], packaged)).toEqual({ kind: 'gui' });
    expect(launchMode(['/opt/Loadout/loadout', '--data', '/tmp/d'], packaged)).toEqual({ kind: 'gui' });
    // Only the first argument names a command: a Chromium switch first, or a file called worker, stays the GUI's.
    expect(launchMode(['/opt/Loadout/loadout', '--no-sandbox', 'worker'], packaged)).toEqual({ kind: 'gui' });
    expect(launchMode(['/opt/Loadout/loadout', 'workers'], packaged)).toEqual({ kind: 'gui' });
  });

  it('`electron <app dir> worker ...` in development skips the app path', () => {
    const dev = asApp(new FakeApp(false));
    expect(launchMode(['/x/electron', '/x/loadout', 'worker', '--nats', 'nats://h:4222'], dev)).toEqual({ kind: 'cli', argv: ['worker', '--nats', 'nats://h:4222'] });
    expect(launchMode(['/x/electron', 'worker'], dev)).toEqual({ kind: 'gui' });
  });

  it('runs the headless entry with the arguments, hides the dock icon and keeps running without windows', async () => {
    const app = new FakeApp(true);
    const seen: string[][] = [];
    await runCliLaunch(['worker', '--nats', 'nats://h:4222'], { app: asApp(app), cli: async () => ({ main: async (argv) => void seen.push(argv) }), log: () => {} });
    expect(seen).toEqual([['worker', '--nats', 'nats://h:4222']]);
    expect(app.hidden).toBe(1);
    expect(app.listenerCount('window-all-closed')).toBe(1);
    app.emit('window-all-closed');
    expect(app.exits).toEqual([]);
  });

  it('--help ends the app once printed; a command that cannot start exits 1 saying why', async () => {
    const app = new FakeApp(true);
    await runCliLaunch(['worker', '--help'], { app: asApp(app), cli: async () => ({ main: async () => {} }), log: () => {} });
    expect(app.exits).toEqual([0]);
    const broken = new FakeApp(true);
    const lines: string[] = [];
    await runCliLaunch(['worker', '--nats', 'x'], { app: asApp(broken), cli: async () => { throw new Error('cli bundle missing'); }, log: (l) => void lines.push(l) });
    expect(broken.exits).toEqual([1]);
    expect(lines).toEqual(['loadout worker: cli bundle missing']);
  });
});
