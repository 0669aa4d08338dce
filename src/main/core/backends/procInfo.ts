/**
 * Small, synchronous facts about OS processes, shared by the pid registry, the instance lock and
 * the process supervisor. Linux answers from /proc; elsewhere the answers degrade to "unknown".
 */
import { readdirSync, readFileSync } from 'node:fs';

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
