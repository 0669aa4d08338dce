/**
 * Every backend we spawn is recorded in `<data dir>/backends.json` with the owning app's pid (U4).
 * If the app is killed outright, its backends may survive it (an external backend cannot watch its
 * parent); the next start reads this file and kills those leftovers before anything loads.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../fsx/writeFileAtomic';
import { pidAlive, processStartTime, readCmdline, signalGroup } from './procInfo';

export interface PidEntry {
  pid: number;
  /** The command line we spawned (program and arguments). */
  command: string[];
  owner: number;
  /** The owner's start time (see `processStartTime`), so a reused owner pid is not taken for it. */
  ownerStart: string | null;
  startedAt: string;
}

export interface PidRegistryOptions {
  dataDir: string;
  /** The owning app's pid (default: this process). */
  ownerPid?: number;
}

/** How long `reapOrphans` waits for killed processes to disappear before going on. */
const REAP_WAIT_MS = 2000;

export class PidRegistry {
  readonly path: string;
  private readonly owner: number;
  private readonly ownerStart: string | null;

  constructor(options: PidRegistryOptions) {
    this.path = join(options.dataDir, 'backends.json');
    this.owner = options.ownerPid ?? process.pid;
    this.ownerStart = processStartTime(this.owner);
  }

  /** Records a spawned backend. Never throws: failing to write state must not fail a load. */
  record(pid: number, command: string[]): void {
    const entries = this.read().filter((e) => e.pid !== pid);
    entries.push({ pid, command, owner: this.owner, ownerStart: this.ownerStart, startedAt: new Date().toISOString() });
    this.write(entries);
  }

  /** Forgets a backend that has exited. */
  remove(pid: number): void {
    const entries = this.read();
    const kept = entries.filter((e) => e.pid !== pid);
    if (kept.length !== entries.length) this.write(kept);
  }

  /** The recorded entries (a missing or corrupt file reads as none). */
  entries(): PidEntry[] {
    return this.read();
  }

  /**
   * Kills the process groups of backends whose owner is gone, if the pid still runs the command
   * we recorded (pids get reused: never kill a stranger), then rewrites the file with what is left.
   */
  async reapOrphans(): Promise<{ killed: number[] }> {
    const keep: PidEntry[] = [];
    const killed: number[] = [];
    for (const entry of this.read()) {
      if (ownerAlive(entry)) {
        keep.push(entry);
        continue;
      }
      if (!pidAlive(entry.pid)) continue;
      const actual = readCmdline(entry.pid);
      // Off Linux we cannot check the command line; a live pid of a dead owner is then trusted.
      if (actual !== null && !commandMatches(actual, entry.command)) continue;
      if (signalGroup(entry.pid, 'SIGKILL')) killed.push(entry.pid);
    }
    this.write(keep);
    await waitGone(killed, REAP_WAIT_MS);
    return { killed };
  }

  private read(): PidEntry[] {
    let raw: string;
    try {
      raw = readFileSync(this.path, 'utf8');
    } catch {
      return [];
    }
    try {
      const parsed = JSON.parse(raw) as { entries?: unknown };
      if (!parsed || !Array.isArray(parsed.entries)) return [];
      return parsed.entries.filter(isEntry);
    } catch {
      return [];
    }
  }

  private write(entries: PidEntry[]): void {
    try {
      writeFileAtomicSync(this.path, `${JSON.stringify({ version: 1, entries }, null, 2)}\n`, { durable: false });
    } catch {
      // The data dir may be read-only or full; supervision goes on without the safety net.
    }
  }
}

function isEntry(e: unknown): e is PidEntry {
  const x = e as PidEntry;
  return (
    !!x &&
    Number.isInteger(x.pid) &&
    x.pid > 0 &&
    Number.isInteger(x.owner) &&
    Array.isArray(x.command) &&
    x.command.every((c) => typeof c === 'string')
  );
}

function ownerAlive(entry: PidEntry): boolean {
  if (!pidAlive(entry.owner)) return false;
  // Same pid but a different start time: the owner died and its pid went to someone else.
  if (entry.ownerStart && processStartTime(entry.owner) !== entry.ownerStart) return false;
  return true;
}

/**
 * Whether a live process still runs what we spawned. The kernel shows a `#!` script as
 * `<interpreter> <script> <args...>`, so the recorded command may be a suffix of the actual one;
 * a wrapper that `exec`s its real program keeps our `--addr 127.0.0.1:<port>` arguments, which
 * are specific enough to identify it.
 */
export function commandMatches(actual: string[], recorded: string[]): boolean {
  if (actual.length === 0 || recorded.length === 0) return false;
  if (actual.length >= recorded.length) {
    const offset = actual.length - recorded.length;
    if (recorded.every((arg, i) => actual[offset + i] === arg)) return true;
  }
  const addr = recorded.indexOf('--addr');
  if (addr >= 0 && addr + 1 < recorded.length) {
    const value = recorded[addr + 1];
    for (let i = 0; i + 1 < actual.length; i++) if (actual[i] === '--addr' && actual[i + 1] === value) return true;
  }
  return false;
}

/**
 * Polls until the pids are gone (no exit event exists for processes that are not our children).
 * Real timers on purpose: this runs at start-up, before anything else holds the event loop open,
 * and the Clock's timers are unref'd, so `serve` could exit in the middle of the wait.
 */
async function waitGone(pids: number[], budgetMs: number): Promise<void> {
  const deadline = Date.now() + budgetMs;
  while (pids.some(pidAlive) && Date.now() < deadline) {
    await new Promise((r) => setTimeout(r, 20));
  }
}
