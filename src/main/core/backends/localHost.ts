/**
 * One running local backend process (U1, U3, U4, U7): captures its output into the model's log,
 * notices its exit at once (with the last stderr line), and stops its whole group (SIGTERM, grace,
 * SIGKILL) when asked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import type { Clock } from '../clock';
import type { BackendClient } from '../grpc/types';
import type { LogStore } from './logs';
import { ProcessRss, signalGroup } from './procInfo';
import type { ExitInfo, ModelHost } from './types';

/** How long an exit waits for the last output still in the pipes (the crash message is often there). */
const DRAIN_MS = 50;
/** A backend that cannot bind says so on stderr; LocalAI's Go backends and grpc-js both use these words. */
const ADDRESS_IN_USE = /EADDRINUSE|address already in use|address in use/i;

const isWindows = process.platform === 'win32';

/**
 * U7: how to stop a backend's whole process tree. POSIX (Linux, macOS) signals the process group
 * the backend leads; Windows has no groups, so `taskkill /T` walks the tree (`/F` forces it).
 */
export function treeKill(platform: NodeJS.Platform, pid: number, signal: 'SIGTERM' | 'SIGKILL'): { kind: 'group'; pgid: number; signal: string } | { kind: 'taskkill'; args: string[] } {
  if (platform === 'win32') return { kind: 'taskkill', args: ['/pid', String(pid), '/T', ...(signal === 'SIGKILL' ? ['/F'] : [])] };
  return { kind: 'group', pgid: pid, signal };
}

export interface LocalHostInit {
  child: ChildProcess;
  address: string;
  model: string;
  backend: string;
  client: BackendClient;
  logs: LogStore;
  clock: Clock;
  onExit: (pid: number | null) => void;
  /** Sees the process's output as it arrives (llama-server's memory lines). */
  onOutput?: (text: string) => void;
}

/** One running backend process and its group. */
export class LocalHost implements ModelHost {
  readonly kind = 'local' as const;
  readonly address: string;
  readonly client: BackendClient;
  readonly exited: Promise<ExitInfo>;
  /** Settles with null once the process runs, or with the spawn error (ENOENT, EACCES). */
  readonly spawned: Promise<Error | null>;
  /** Set synchronously by the exit event (before the output drain that `exited` waits for). */
  exitSeen = false;
  sawAddressInUse = false;
  lastStderr: string | null = null;

  private readonly child: ChildProcess;
  private model: string;
  private readonly logs: LogStore;
  private readonly clock: Clock;
  private stderrTail = '';
  private termSent = false;
  private killTimer: unknown = null;
  private killAt = Infinity;
  private readonly rss: ProcessRss | null;

  constructor(init: LocalHostInit) {
    const { child, logs, model } = init;
    this.child = child;
    this.address = init.address;
    this.client = init.client;
    this.model = model;
    this.logs = logs;
    this.clock = init.clock;
    this.rss = child.pid === undefined ? null : new ProcessRss(child.pid, { now: () => init.clock.now() });

    child.stdin?.on('error', () => {}); // EPIPE once the process is gone
    child.stdout?.setEncoding('utf8').on('data', (text: string) => {
      logs.append(this.model, 'stdout', text);
      init.onOutput?.(text);
    });
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      logs.append(this.model, 'stderr', text);
      init.onOutput?.(text);
      this.noteStderr(text);
    });

    let resolveSpawned!: (e: Error | null) => void;
    this.spawned = new Promise((r) => (resolveSpawned = r));
    let resolveExited!: (info: ExitInfo) => void;
    this.exited = new Promise((r) => (resolveExited = r));

    child.once('spawn', () => resolveSpawned(null));
    child.on('error', (e) => {
      if (child.pid === undefined) {
        // Never ran: there is no exit event to wait for.
        resolveSpawned(e);
        this.exitSeen = true;
        this.client.close();
        init.onExit(null);
        resolveExited({ code: null, signal: null, stderr: null });
      }
      // Otherwise a failed kill or pipe error; the exit event still comes.
    });
    child.once('exit', (code, signal) => {
      this.exitSeen = true;
      const pid = child.pid as number;
      if (this.killTimer !== null) this.clock.clearTimeout(this.killTimer);
      // Whatever the backend left running in its group goes with it (U4). Only the group: the
      // pid itself is reaped now and could be reused.
      if (!isWindows) {
        try {
          process.kill(-pid, 'SIGKILL');
        } catch {
          // group already empty
        }
      }
      init.onExit(pid);
      void this.drainOutput().then(() => {
        logs.flush(this.model);
        if (this.stderrTail.trim()) this.lastStderr = clipLine(this.stderrTail.trim());
        const info: ExitInfo = { code, signal, stderr: this.lastStderr };
        logs.append(this.model, 'loadout', `backend ${init.backend} (pid ${pid}) ${describeExit(info)}`);
        this.client.close();
        resolveExited(info);
      });
    });
  }

  get pid(): number | null {
    return this.child.pid ?? null;
  }

  /** A warm standby process becomes a model's backend: its output goes to that model's log. */
  adopt(model: string): void {
    this.logs.flush(this.model);
    this.model = model;
  }

  rssBytes(): number | null {
    if (this.exitSeen || this.rss === null) return null;
    return this.rss.read();
  }

  stop(graceMs: number): Promise<ExitInfo> {
    if (this.exitSeen) return this.exited;
    if (graceMs <= 0) {
      this.kill('SIGKILL');
      return this.exited;
    }
    if (!this.termSent) {
      this.termSent = true;
      this.kill('SIGTERM');
    }
    // A later stop with a shorter grace (say, a force unload during a graceful one) wins.
    const at = this.clock.now() + graceMs;
    if (at < this.killAt) {
      if (this.killTimer !== null) this.clock.clearTimeout(this.killTimer);
      this.killAt = at;
      this.killTimer = this.clock.setTimeout(() => this.kill('SIGKILL'), graceMs);
    }
    return this.exited;
  }

  kill(signal: 'SIGTERM' | 'SIGKILL'): void {
    const pid = this.child.pid;
    if (this.exitSeen || pid === undefined) return;
    const how = treeKill(process.platform, pid, signal);
    if (how.kind === 'taskkill') {
      spawn('taskkill', how.args, { stdio: 'ignore', windowsHide: true }).on('error', () => {});
      return;
    }
    signalGroup(pid, signal);
  }

  private noteStderr(text: string): void {
    const lines = (this.stderrTail + text).split('\n');
    this.stderrTail = (lines.pop() ?? '').slice(-4096);
    for (const line of lines) {
      const trimmed = line.trim();
      if (!trimmed) continue;
      this.lastStderr = clipLine(trimmed);
      if (ADDRESS_IN_USE.test(trimmed)) this.sawAddressInUse = true;
    }
    if (ADDRESS_IN_USE.test(this.stderrTail)) this.sawAddressInUse = true;
  }

  /** Output written just before the exit may still be in the pipes when the exit event fires. */
  private drainOutput(): Promise<void> {
    const streams = [this.child.stdout, this.child.stderr].filter((s) => s && !s.readableEnded && !s.destroyed);
    if (!streams.length) return Promise.resolve();
    return new Promise((resolve) => {
      let left = streams.length;
      const timer = this.clock.setTimeout(resolve, DRAIN_MS);
      for (const s of streams) {
        s!.once('close', () => {
          if (--left === 0) {
            this.clock.clearTimeout(timer);
            resolve();
          }
        });
      }
    });
  }
}

export function describeExit(info: ExitInfo): string {
  return info.signal ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
}

/** The last output line travels in failure messages, rows and events: a backend that prints a
 * megabyte on one line must not make every event that big (Trust 12). */
const LAST_LINE_MAX = 500;
function clipLine(line: string): string {
  return line.length <= LAST_LINE_MAX ? line : `${line.slice(0, LAST_LINE_MAX)}…`;
}
