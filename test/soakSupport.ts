/**
 * Helpers for the soak test (test/soak.test.ts): a seeded random source, a look at the real
 * backend processes and listening sockets in /proc, and the invariant checks (loader-spec.md
 * I1-I5) as plain functions that return violations instead of throwing, so the soak can report
 * every broken rule together with the operations that led to it.
 */
import { readFileSync, readdirSync, readlinkSync } from 'node:fs';
import { ERROR_STATUS, LoadoutError } from '../src/shared/errors';
import type { CoreEvent, ModelRow, ModelState, Snapshot } from '../src/shared/model';
import { isOccupying, isResident } from '../src/shared/model';
import { pidAlive } from './fixtures/backends';

// ---------------------------------------------------------------- random

export interface Rng {
  /** A float in [0, 1). */
  next(): number;
  /** An integer in [0, n). */
  int(n: number): number;
  /** An integer in [lo, hi]. */
  between(lo: number, hi: number): number;
  pick<T>(items: readonly T[]): T;
  chance(p: number): boolean;
  /** One key of `weights`, chosen in proportion to its weight. */
  weighted<K extends string>(weights: Record<K, number>): K;
}

/** mulberry32: small, fast and good enough to make a run reproducible from its seed. */
export function seededRng(seed: number): Rng {
  let a = seed >>> 0;
  const next = () => {
    a = (a + 0x6d2b79f5) >>> 0;
    let t = a;
    t = Math.imul(t ^ (t >>> 15), t | 1);
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61);
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
  const rng: Rng = {
    next,
    int: (n) => Math.floor(next() * n),
    between: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    pick: (items) => items[Math.floor(next() * items.length)],
    chance: (p) => next() < p,
    weighted: (weights) => {
      const entries = Object.entries(weights) as [keyof typeof weights, number][];
      let r = next() * entries.reduce((s, [, w]) => s + w, 0);
      for (const [k, w] of entries) {
        r -= w;
        if (r < 0) return k;
      }
      return entries[entries.length - 1][0];
    },
  };
  return rng;
}

// ---------------------------------------------------------------- real processes

/**
 * Live (non-zombie) fault-backend processes of this run: their command line runs faultBackend.mjs
 * and their environment carries `SOAK_RUN=<marker>`. The marker tells our backends apart from
 * those of other test runs on the same machine, even after they were re-parented to init.
 */
export function runBackends(marker: string): number[] {
  const out: number[] = [];
  const want = `SOAK_RUN=${marker}`;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      if (!readFileSync(`/proc/${name}/cmdline`, 'utf8').includes('faultBackend.mjs')) continue;
      if (!readFileSync(`/proc/${name}/environ`, 'utf8').split('\0').includes(want)) continue;
      if (pidAlive(Number(name))) out.push(Number(name));
    } catch {
      // gone meanwhile, or not ours to read
    }
  }
  return out.sort((x, y) => x - y);
}

/** TCP ports with a LISTEN socket (IPv4 and IPv6), each with the socket inodes listening on it. */
export function listeningPorts(): Map<number, string[]> {
  const out = new Map<number, string[]>();
  for (const file of ['/proc/net/tcp', '/proc/net/tcp6']) {
    let text = '';
    try {
      text = readFileSync(file, 'utf8');
    } catch {
      continue;
    }
    for (const line of text.split('\n').slice(1)) {
      const f = line.trim().split(/\s+/);
      if (f.length < 10 || f[3] !== '0A') continue; // 0A = LISTEN
      const port = Number.parseInt(f[1].split(':')[1], 16);
      out.set(port, [...(out.get(port) ?? []), f[9]]);
    }
  }
  return out;
}

/** Pids holding a socket inode open (to tell whose a listening port is). */
export function socketOwners(inode: string): number[] {
  const out: number[] = [];
  const target = `socket:[${inode}]`;
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    let fds: string[];
    try {
      fds = readdirSync(`/proc/${name}/fd`);
    } catch {
      continue;
    }
    for (const fd of fds) {
      try {
        if (readlinkSync(`/proc/${name}/fd/${fd}`) === target) {
          out.push(Number(name));
          break;
        }
      } catch {
        // closed meanwhile
      }
    }
  }
  return out;
}

// ---------------------------------------------------------------- invariants

const occupying = (models: readonly ModelRow[]) => models.filter((m) => isOccupying(m.state));
const shares = (a: readonly string[], b: readonly string[]) => a.find((g) => b.includes(g)) ?? null;

/**
 * Watches every state change as it happens (E1: the core emits each transition synchronously,
 * so a snapshot taken inside the listener is the state at that instant) and checks the rules
 * that are about the moment a load starts:
 *
 * - I1: when a model enters `starting`, the occupying local models, itself included, are at
 *   most the `max_active_models` in force. This is strict even after the cap was lowered: the
 *   W4 surplus may stay occupying for a while (busy ones drain when idle, stopping ones until
 *   their process exits), but the admission of a new load counts it, so no load starts until
 *   the surplus is gone.
 * - I1 (drain): while the occupying count is above the cap (only possible after a decrease), it
 *   never grows, and a model only becomes occupying by entering `starting` (never straight to
 *   loading/ready/busy/stopping), so the surplus can only shrink.
 * - I2: when a model enters `starting`, no other occupying model shares a concurrency group
 *   with it (groups in force at that instant).
 */
export class TransitionMonitor {
  readonly violations: string[] = [];
  /** Loads that started (entries into `starting`). */
  starts = 0;
  maxOccupying = 0;
  /** How often each transition happened ("loading->unloaded": a load cancelled mid-LoadModel). */
  readonly transitions: Record<string, number> = {};
  /** Every `127.0.0.1:<port>` a backend of this run served on (for the I4 port check). */
  readonly ports = new Set<number>();
  private readonly last = new Map<string, ModelState>();
  private lastOccupying = 0;

  constructor(
    private readonly snapshot: () => Snapshot,
    private readonly context: () => string,
    /** Told every state transition (the soak writes them into its operation log). */
    private readonly onTransition: (text: string) => void = () => {},
  ) {}

  onEvent(e: CoreEvent): void {
    if (e.type !== 'model') return;
    try {
      this.check(e.row);
    } catch (err) {
      this.violations.push(`monitor failed on ${e.row.name} -> ${e.row.state}: ${(err as Error).stack ?? err}`);
    }
  }

  private check(row: ModelRow): void {
    if (row.address) {
      const port = Number(row.address.split(':').pop());
      if (Number.isInteger(port)) this.ports.add(port);
    }
    const before = this.last.get(row.name) ?? 'unloaded';
    this.last.set(row.name, row.state);
    const snap = this.snapshot();
    const occ = occupying(snap.models);
    const cap = snap.settings.max_active_models;
    this.maxOccupying = Math.max(this.maxOccupying, occ.length);
    const where = () => `[${this.context()}] occupying: ${occ.map((m) => `${m.name}:${m.state}[${m.groups.join(',')}]`).join(' ') || '-'}`;

    if (cap > 0 && occ.length > cap && occ.length > this.lastOccupying) {
      this.violations.push(`I1: occupying models grew from ${this.lastOccupying} to ${occ.length} while above max_active_models ${cap} (${row.name} ${before} -> ${row.state}) ${where()}`);
    }
    this.lastOccupying = occ.length;
    if (before === row.state) return;
    const key = `${before}->${row.state}`;
    this.transitions[key] = (this.transitions[key] ?? 0) + 1;
    this.onTransition(`~ ${row.name} ${before} -> ${row.state}${row.pid ? ` pid ${row.pid}` : ''} [${row.groups.join(',')}]${row.pinned ? ' pinned' : ''} (cap ${cap}, occupying ${occ.map((m) => m.name).join(',') || '-'})`);
    if (!isOccupying(before) && isOccupying(row.state) && row.state !== 'starting') {
      this.violations.push(`I1: ${row.name} became occupying without starting (${before} -> ${row.state}) ${where()}`);
    }
    if (row.state !== 'starting') return;
    this.starts++;
    if (cap > 0 && occ.length > cap) {
      this.violations.push(`I1: ${row.name} started a load with ${occ.length} models occupying (max_active_models ${cap}) ${where()}`);
    }
    const groups = snap.models.find((m) => m.name === row.name)?.groups ?? row.groups;
    for (const other of occ) {
      if (other.name === row.name) continue;
      const g = shares(groups, other.groups);
      if (g) this.violations.push(`I2: ${row.name} started a load while ${other.name} (${other.state}) shares group ${g} with it ${where()}`);
    }
  }
}

/**
 * I3, the part that holds at every step: each resident model names a pid, that process is alive
 * (not a zombie) and is a backend of this run, and no two models claim one process.
 */
export function checkResidentProcesses(snap: Snapshot, backends: readonly number[]): string[] {
  const out: string[] = [];
  const live = new Set(backends);
  const claimed = new Map<number, string>();
  for (const m of snap.models) {
    if (m.pid !== null) {
      const other = claimed.get(m.pid);
      if (other) out.push(`I3: ${m.name} and ${other} both claim backend pid ${m.pid}`);
      claimed.set(m.pid, m.name);
    }
    if (!isResident(m.state)) continue;
    if (m.pid === null) out.push(`I3: ${m.name} is ${m.state} but has no backend pid`);
    else if (!pidAlive(m.pid)) out.push(`I3: ${m.name} is ${m.state} but its backend pid ${m.pid} is dead`);
    else if (!live.has(m.pid)) out.push(`I3: ${m.name} is ${m.state} but pid ${m.pid} is not a backend of this run`);
  }
  return out;
}

/** True when nothing is on its way anywhere: no load pending, no model between states. */
export function isQuiet(snap: Snapshot): boolean {
  return snap.pending.length === 0 && snap.models.every((m) => !['starting', 'loading', 'stopping'].includes(m.state));
}

/**
 * The checks that only hold once the core has settled (no load, stop or request in flight):
 * - I3 strict: the live backends of this run are exactly the resident models' processes (no
 *   orphan, no process missing).
 * - W4 drain: the surplus over a lowered cap is gone (pinned models are exempt, so at most
 *   max(cap, pinned occupying) remain), and no two resident unpinned models share a group.
 */
export function checkSettled(snap: Snapshot, backends: readonly number[]): string[] {
  const out: string[] = [];
  const resident = snap.models.filter((m) => isResident(m.state));
  const claimed = new Set(resident.flatMap((m) => (m.pid === null ? [] : [m.pid])));
  const orphans = backends.filter((p) => !claimed.has(p));
  if (orphans.length > 0) out.push(`I3: backend process(es) ${orphans.join(', ')} run with no model claiming them (rows: ${rowsText(snap)})`);
  for (const m of resident) if (m.pid !== null && !backends.includes(m.pid)) out.push(`I3: ${m.name} is ${m.state} with pid ${m.pid}, but that process is gone`);
  const occ = occupying(snap.models);
  const cap = snap.settings.max_active_models;
  const pinned = occ.filter((m) => m.pinned).length;
  if (cap > 0 && occ.length > Math.max(cap, pinned)) {
    out.push(`W4/I1: settled with ${occ.length} models occupying over max_active_models ${cap} (${pinned} pinned): the surplus did not drain (rows: ${rowsText(snap)})`);
  }
  for (let i = 0; i < resident.length; i++) {
    for (let j = i + 1; j < resident.length; j++) {
      const [a, b] = [resident[i], resident[j]];
      const g = shares(a.groups, b.groups);
      if (g && !a.pinned && !b.pinned) out.push(`W4/I2: settled with ${a.name} and ${b.name} both resident in group ${g}`);
    }
  }
  return out;
}

export function rowsText(snap: Snapshot): string {
  const load = (m: ModelRow) => (m.inFlight || m.queued ? `{in ${m.inFlight}, queued ${m.queued}}` : '');
  return snap.models.map((m) => `${m.name}:${m.state}${m.pid ? `(${m.pid})` : ''}${m.pinned ? '*' : ''}[${m.groups.join(',')}]${load(m)}`).join(' ');
}

/** I5: a failure must be a LoadoutError with a known code and a message for the user. */
export function errorViolation(e: unknown, what: string): string | null {
  if (!(e instanceof LoadoutError)) return `I5: ${what} failed with a non-LoadoutError: ${(e as Error)?.stack ?? String(e)}`;
  if (!Object.hasOwn(ERROR_STATUS, e.code)) return `I5: ${what} failed with unknown code ${String(e.code)}: ${e.message}`;
  if (!e.message || !e.message.trim()) return `I5: ${what} failed with code ${e.code} and an empty message`;
  return null;
}
