/**
 * Two Loadouts on one data dir would fight over the pid file, the logs and each other's backends
 * (U4), so the data dir is locked: `<data dir>/loadout.lock` holds the owner's pid (and, on Linux,
 * its start time, so a pid reused by another program after a crash does not keep the lock).
 */
import { closeSync, mkdirSync, openSync, readFileSync, rmSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { LoadoutError } from '../../../shared/errors';
import { pidAlive, processStartTime } from './procInfo';

export interface InstanceLock {
  readonly path: string;
  release(): void;
}

/** Locks this process holds: a second core in the same process must be refused too. */
const heldHere = new Set<string>();

export function acquireInstanceLock(dataDir: string): InstanceLock {
  mkdirSync(dataDir, { recursive: true });
  const path = join(dataDir, 'loadout.lock');
  if (heldHere.has(path)) {
    throw new LoadoutError(
      'invalid',
      `Another Loadout (pid ${process.pid}) is already using the data folder ${dataDir}. Quit it first, or start this one with another --data folder.`,
    );
  }
  const content = `${process.pid}\n${processStartTime(process.pid) ?? ''}\n`;
  // A stale lock is removed and the exclusive create tried again; a few rounds cover a race
  // with another Loadout starting at the same moment.
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'EEXIST') throw e;
      const holder = liveHolder(path);
      if (holder !== null) {
        throw new LoadoutError(
          'invalid',
          `Another Loadout (pid ${holder}) is already using the data folder ${dataDir}. Quit it first, or start this one with another --data folder.`,
        );
      }
      rmSync(path, { force: true });
      continue;
    }
    try {
      writeSync(fd, content);
    } finally {
      closeSync(fd);
    }
    let released = false;
    heldHere.add(path);
    return {
      path,
      release() {
        if (released) return;
        released = true;
        heldHere.delete(path);
        // Only remove the lock if it is still ours (it is never taken from a live owner, but be sure).
        if (readPid(path) === process.pid) rmSync(path, { force: true });
      },
    };
  }
  throw new LoadoutError('invalid', `Could not lock the data folder ${dataDir}: ${path} keeps reappearing. Is another Loadout starting?`);
}

/** The pid of a live other process holding the lock, or null if the lock is stale (or ours). */
function liveHolder(path: string): number | null {
  let text: string;
  try {
    text = readFileSync(path, 'utf8');
  } catch {
    return null;
  }
  const [pidText = '', start = ''] = text.split('\n');
  const pid = /^\d+$/.test(pidText.trim()) ? Number(pidText.trim()) : NaN;
  if (!Number.isInteger(pid) || pid === process.pid || !pidAlive(pid)) return null;
  const now = processStartTime(pid);
  if (start.trim() && now !== null && now !== start.trim()) return null;
  return pid;
}

function readPid(path: string): number | null {
  try {
    const pid = Number(readFileSync(path, 'utf8').split('\n')[0]);
    return Number.isInteger(pid) ? pid : null;
  } catch {
    return null;
  }
}
