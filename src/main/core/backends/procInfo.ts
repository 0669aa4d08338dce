/**
 * Small, synchronous facts about OS processes, shared by the pid registry, the instance lock and
 * the process supervisor. Linux answers from /proc. Elsewhere, memory comes from the OS through
 * pidusage (`ps` on macOS, WMI on Windows; asynchronous, so sampled: see `ProcessRss`), and the
 * other facts degrade to "unknown".
 */
import { readdirSync, readFileSync } from 'node:fs';
import pidusage from 'pidusage';

/** True if a process with this pid exists and is not a zombie (EPERM still means "exists"). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
  } catch (e) {
    if ((e as NodeJS.ErrnoException).code !== 'EPERM') return false;
  }
  // A zombie has exited; only its exit status is waiting to be collected.
  return procState(pid) !== 'Z';
}

/** The one-letter state from /proc/<pid>/stat (R, S, D, Z, ...), or null where unknown. */
function procState(pid: number): string | null {
  const fields = statFields(pid);
  return fields ? fields[0] : null;
}

/** Fields of /proc/<pid>/stat after the `(comm)` part: [state, ppid, pgrp, ...], or null. */
function statFields(pid: number): string[] | null {
  if (process.platform !== 'linux') return null;
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // comm may contain spaces and parentheses; everything after the last ')' is well-formed.
    return stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  } catch {
    return null;
  }
}

/**
 * When the process started (clock ticks since boot, /proc/<pid>/stat field 22), or null where
 * unknown. With the pid it identifies one process for its lifetime, even if the pid is reused.
 */
export function processStartTime(pid: number): string | null {
  const fields = statFields(pid);
  // statFields starts at field 3 (state), so field 22 is index 19.
  return fields && fields.length > 19 ? fields[19] : null;
}

/** The process's argv from /proc/<pid>/cmdline, or null where unknown (not Linux, gone, denied). */
export function readCmdline(pid: number): string[] | null {
  if (process.platform !== 'linux') return null;
  try {
    const raw = readFileSync(`/proc/${pid}/cmdline`, 'utf8');
    const parts = raw.split('\0');
    if (parts.length && parts[parts.length - 1] === '') parts.pop();
    return parts;
  } catch {
    return null;
  }
}

/** Resident set size of one process in bytes (VmRSS), or null where unknown. */
export function readRssBytes(pid: number): number | null {
  if (process.platform !== 'linux') return null;
  try {
    const status = readFileSync(`/proc/${pid}/status`, 'utf8');
    const m = /^VmRSS:\s+(\d+)\s+kB/m.exec(status);
    return m ? Number(m[1]) * 1024 : null;
  } catch {
    return null;
  }
}

/** Resident memory of a process plus what it started (a wrapper's real server, workers), from /proc. */
export function treeRssBytes(pid: number): number | null {
  const own = readRssBytes(pid);
  if (own === null) return null;
  let total = own;
  const seen = new Set([pid]);
  let frontier = childPids(pid);
  for (let depth = 0; depth < 4 && frontier.length; depth++) {
    const next: number[] = [];
    for (const child of frontier) {
      if (seen.has(child)) continue;
      seen.add(child);
      total += readRssBytes(child) ?? 0;
      next.push(...childPids(child));
    }
    frontier = next;
  }
  return total;
}

/** Asks the OS for one process's resident memory in bytes (rejects if it is gone). */
export type RssProbe = (pid: number) => Promise<number>;

/**
 * pidusage's answer. Its default history (for CPU figures, expired by an unref'd timer) stays on:
 * with `maxage: 0` its /proc and WMI readers ask again forever.
 */
export const pidusageRss: RssProbe = async (pid) => (await pidusage(pid)).memory;

export interface ProcessRssOptions {
  platform?: NodeJS.Platform;
  probe?: RssProbe;
  now?: () => number;
  /** A sample older than this is refreshed by the next read. */
  maxAgeMs?: number;
}

/**
 * A process's resident memory, readable synchronously on every OS (the loader reads it on its
 * upkeep tick). Linux reads /proc at each read: exact, and it adds the process's children.
 * Elsewhere the OS can only be asked asynchronously, so a read answers the last sample (null
 * before the first) and asks again when that sample is older than `maxAgeMs`; only the process
 * itself is counted there.
 */
export class ProcessRss {
  private sample: number | null = null;
  private sampledAt = -Infinity;
  private asking = false;
  private readonly platform: NodeJS.Platform;
  private readonly probe: RssProbe;
  private readonly now: () => number;
  private readonly maxAgeMs: number;

  constructor(
    private readonly pid: number,
    options: ProcessRssOptions = {},
  ) {
    this.platform = options.platform ?? process.platform;
    this.probe = options.probe ?? pidusageRss;
    this.now = options.now ?? Date.now;
    this.maxAgeMs = options.maxAgeMs ?? 2000;
  }

  read(): number | null {
    if (this.platform === 'linux') return treeRssBytes(this.pid);
    if (this.now() - this.sampledAt >= this.maxAgeMs) void this.ask();
    return this.sample;
  }

  /** Asks the OS now (a load just finished: the figure is about to change a lot). */
  async ask(): Promise<void> {
    if (this.platform === 'linux' || this.asking) return;
    this.asking = true;
    try {
      const bytes = await this.probe(this.pid);
      this.sample = Number.isFinite(bytes) && bytes > 0 ? bytes : null;
    } catch {
      // Gone, or the OS would not say: unknown, and estimates stand in.
      this.sample = null;
    } finally {
      this.sampledAt = this.now();
      this.asking = false;
    }
  }
}

/** Direct children of a process (needs /proc/<pid>/task/<tid>/children), [] where unknown. */
export function childPids(pid: number): number[] {
  if (process.platform !== 'linux') return [];
  const out: number[] = [];
  // A multi-threaded process (node) forks from any thread; each thread lists its own children.
  for (const tid of readdirSafe(`/proc/${pid}/task`)) {
    try {
      const text = readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').trim();
      if (text) for (const c of text.split(/\s+/)) out.push(Number(c));
    } catch {
      // thread gone, or the kernel lacks CONFIG_PROC_CHILDREN
    }
  }
  return out;
}

function readdirSafe(path: string): string[] {
  try {
    return readdirSync(path);
  } catch {
    return [];
  }
}

/**
 * Signals a whole process group (our backends lead their own group, U4), falling back to the
 * single pid if it is not a group leader. Returns false if nothing was there to signal.
 */
export function signalGroup(pid: number, signal: NodeJS.Signals): boolean {
  try {
    process.kill(-pid, signal);
    return true;
  } catch {
    try {
      process.kill(pid, signal);
      return true;
    } catch {
      return false;
    }
  }
}
