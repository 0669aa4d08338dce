/**
 * The installed app as a worker: `loadout worker ...` on the desktop binary runs the worker in the
 * Electron main process (src/main/electron/main.ts through cliMode.ts), with no window, tray or
 * single-instance lock. main.ts boots here against the stand-in `electron` module (no Electron
 * binary runs on this machine) with a packaged app's argv; the worker it starts joins a real
 * nats-server, and its record is read back from the registry.
 */
import { mkdirSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it, vi } from 'vitest';
import { createStandInElectron, type StandInElectron } from '../../src/main/electron/standInElectron';
import { WORKER_USAGE } from '../../src/main/workerCli';
import { cleanupCluster, clusterClient, readRecord, startNats, tempDir, waitUntil } from './harness';

const electron = vi.hoisted(() => ({ current: null as unknown }));
vi.mock('electron', () => {
  if (!electron.current) throw new Error('the stand-in Electron is not set up');
  return (electron.current as StandInElectron).module;
});

const argvBefore = process.argv;
afterEach(async () => {
  process.argv = argvBefore;
  vi.restoreAllMocks();
  vi.resetModules();
  await cleanupCluster();
});

/** Boots main.ts as the packaged binary launched with `args`; returns the stand-in and what it printed. */
async function launch(args: string[]) {
  const standIn = createStandInElectron(process.cwd());
  electron.current = standIn;
  const lock = vi.spyOn(standIn.module.app, 'requestSingleInstanceLock');
  const out: string[] = [];
  const err: string[] = [];
  vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
  vi.spyOn(process.stderr, 'write').mockImplementation((s) => (err.push(String(s)), true));
  const exits: (number | undefined)[] = [];
  vi.spyOn(process, 'exit').mockImplementation(((code?: number) => void exits.push(code)) as never);
  process.argv = ['/opt/Loadout/loadout', ...args];
  await import('../../src/main/electron/main');
  return { standIn, lock, out, err, exits };
}

describe('the desktop binary as a worker', () => {
  it('`loadout worker --help` prints the worker usage and ends the app; no GUI starts', async () => {
    const { standIn, lock, out } = await launch(['worker', '--help']);
    await standIn.state.until(() => standIn.state.exitCode !== null, 'the app to exit');
    expect(standIn.state.exitCode).toBe(0);
    expect(out.join('')).toContain(WORKER_USAGE);
    expect(standIn.state.windows).toHaveLength(0);
    expect(standIn.state.trays).toHaveLength(0);
    expect(lock).not.toHaveBeenCalled();
  });

  it('`loadout worker` with its flags joins the cluster from the app binary, and stops on SIGTERM', async () => {
    const nats = await startNats();
    const dir = tempDir('loadout-appworker-');
    mkdirSync(join(dir, 'models'));
    const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
    const before = new Map(signals.map((s) => [s, process.listeners(s)]));
    const { standIn, lock, out, exits } = await launch(['worker', '--nats', nats.url, '--name', 'app-w1', '--models', join(dir, 'models'), '--data', join(dir, 'data'), '--heartbeat', '250', '--listen', '127.0.0.1:0', '--warm-standby', 'false', '--labels', 'from=app']);
    const client = await clusterClient(nats.url);
    const record = await waitUntil(() => readRecord(client, 'app-w1'), 'the app worker record', { timeoutMs: 20_000, intervalMs: 50 });
    expect(record.labels).toEqual({ from: 'app' });
    // It says so once joined (its record is written a moment before the line is printed).
    await waitUntil(() => out.join('').includes('Worker app-w1 joined'), 'the joined line', { timeoutMs: 5_000, intervalMs: 20 });
    expect(standIn.state.windows).toHaveLength(0);
    expect(lock).not.toHaveBeenCalled();
    // Its own signal handlers stop it: the record is deleted (a clean stop) and the process exits 0.
    const added = signals.flatMap((s) => process.listeners(s).filter((l) => !before.get(s)!.includes(l)).map((l) => [s, l] as const));
    expect(added.map(([s]) => s).sort()).toEqual(['SIGHUP', 'SIGINT', 'SIGTERM']);
    for (const [s, l] of added) if (s === 'SIGTERM') (l as (sig: string) => void)('SIGTERM');
    await waitUntil(() => exits.includes(0), 'the worker to exit 0', { timeoutMs: 20_000, intervalMs: 50 });
    expect(await readRecord(client, 'app-w1')).toBeNull();
    for (const [s, l] of added) process.removeListener(s, l);
  });
});
