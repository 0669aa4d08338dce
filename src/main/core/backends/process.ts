/**
 * Local backend processes (L9, L10, U1, U3, U4, U7): spawn `<program> --addr 127.0.0.1:<port>` in
 * its own process group, capture its output, wait for Health "OK" while watching for an early
 * exit, and stop the whole group (SIGTERM, grace, SIGKILL) when asked.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { LoadoutError } from '../../../shared/errors';
import { systemClock, type Clock } from '../clock';
import { createBackendClient } from '../grpc/client';
import type { BackendClient } from '../grpc/types';
import { freePort } from '../../../wire';
import type { LogStore } from './logs';
import type { PidRegistry } from './pidRegistry';
import { childPids, readRssBytes, signalGroup } from './procInfo';
import type { ExitInfo, HostLauncher, HostSpec, ModelHost, ResolvedBackend } from './types';

export interface LocalHostLauncherOptions {
  logs: LogStore;
  pids: PidRegistry;
  clock?: Clock;
  /** The gRPC client factory (default: `createBackendClient`). */
  createClient?: (address: string) => BackendClient;
  /** Picks the port for the next start (default: `freePort`); tests use it to hand out a taken one. */
  pickPort?: () => Promise<number>;
  /** The standby process appeared, was adopted or went away (the GUI shows it). */
  onStandbyChange?: () => void;
}

type ProgramBackend = Extract<ResolvedBackend, { kind: 'program' }>;

/** Log name of a standby process until a model adopts it. */
export const STANDBY_LOG = '(standby)';

/** A standby process serves a load only if it was started exactly as that load would start one. */
function standbyKey(b: ProgramBackend, env: Record<string, string> | undefined): string {
  return [b.name, b.command, ...b.args, JSON.stringify(b.env ?? {}), JSON.stringify(env ?? {})].join('\0');
}

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

export class LocalHostLauncher implements HostLauncher {
  private readonly logs: LogStore;
  private readonly pids: PidRegistry;
  private readonly clock: Clock;
  private readonly createClient: (address: string) => BackendClient;
  private readonly pickPort: () => Promise<number>;
  private readonly live = new Set<LocalHost>();
  private standby: { key: string; host: Promise<LocalHost | null>; ready: LocalHost | null } | null = null;
  private readonly standbyChanged: () => void;

  constructor(options: LocalHostLauncherOptions) {
    this.standbyChanged = options.onStandbyChange ?? (() => {});
    this.logs = options.logs;
    this.pids = options.pids;
    this.clock = options.clock ?? systemClock;
    this.createClient = options.createClient ?? createBackendClient;
    this.pickPort = options.pickPort ?? freePort;
  }

  async start(spec: HostSpec): Promise<ModelHost> {
    const backend = spec.backend;
    if (backend.kind !== 'program') {
      throw new LoadoutError('invalid', `backend ${backend.name} is a remote host (${backend.address}), not a program to start`);
    }
    const spare = this.standby?.key === standbyKey(backend, spec.env) ? this.standby : null;
    if (spare) {
      this.standby = null;
      this.standbyChanged();
      const host = await spare.host;
      if (host && !host.exitSeen) {
        host.adopt(spec.model);
        this.logs.append(spec.model, 'loadout', `using the warm standby backend ${backend.name} (pid ${host.pid}, started ahead of time)`);
        return host;
      }
    }
    // The free port can be taken between our probe and the backend's bind; one retry covers that race.
    for (let attempt = 1; ; attempt++) {
      if (spec.signal?.aborted) throw cancelled(spec);
      const port = await this.pickPort();
      try {
        return await this.startOnce(spec, backend, port);
      } catch (e) {
        if (!(e instanceof PortTaken)) throw e;
        if (attempt >= 2) throw e.failure;
        this.logs.append(spec.model, 'loadout', `port ${port} was taken before the backend could use it; trying another port`);
      }
    }
  }

  /**
   * Keeps one started process of `backend` waiting (node-llama-cpp loaded, no model), so the next
   * load of that backend skips process start-up. It is a live backend process without a model:
   * I3's one exception, shown in the snapshot (`standby`).
   */
  warm(backend: ProgramBackend, startTimeoutMs: number, env?: Record<string, string>): void {
    if (this.standby) return;
    const entry: { key: string; host: Promise<LocalHost | null>; ready: LocalHost | null } = { key: standbyKey(backend, env), host: Promise.resolve(null), ready: null };
    entry.host = this.start({ model: STANDBY_LOG, backend, env, startTimeoutMs }).then(
      (h) => {
        const host = h as LocalHost;
        entry.ready = host;
        this.standbyChanged();
        void host.exited.then(() => {
          if (this.standby !== entry) return;
          this.standby = null;
          this.standbyChanged();
        });
        return host;
      },
      () => {
        if (this.standby === entry) this.standby = null;
        return null;
      },
    );
    this.standby = entry;
  }

  /** The waiting standby process, if one is ready. */
  standbyInfo(): { pid: number; backend: string } | null {
    const host = this.standby?.ready;
    return host && !host.exitSeen && host.pid !== null ? { pid: host.pid, backend: this.standby!.key.split('\0')[0] } : null;
  }

  /** Stops the standby process (the setting was turned off). */
  async dropStandby(): Promise<void> {
    const spare = this.standby;
    this.standby = null;
    this.standbyChanged();
    const host = await spare?.host;
    await host?.stop(0);
  }

  /** SIGKILLs every backend group still running, synchronously (for a last-chance process exit hook). */
  killAll(): void {
    for (const host of this.live) host.kill('SIGKILL');
  }

  /** Stops every backend still running (graceful up to `graceMs`) and waits for them to exit. */
  async stopAll(graceMs: number): Promise<void> {
    await Promise.all([...this.live].map((h) => h.stop(graceMs)));
  }

  /** The safety net behind the loader's orderly shutdown: whatever still runs is killed (U4). */
  dispose(): Promise<void> {
    return this.stopAll(0);
  }

  private async startOnce(spec: HostSpec, backend: ProgramBackend, port: number): Promise<ModelHost> {
    const address = `127.0.0.1:${port}`;
    const args = [...backend.args, '--addr', address];
    const env = { ...process.env, ...backend.env, ...spec.env };
    this.logs.append(spec.model, 'loadout', `starting backend ${backend.name}: ${[backend.command, ...args].join(' ')}`);

    let child: ChildProcess;
    try {
      child = spawn(backend.command, args, {
        // Own process group (POSIX), so stop() reaches whatever the backend itself starts.
        detached: !isWindows,
        // stdin stays an open pipe: our backends exit when it closes, i.e. when we die (U4).
        stdio: ['pipe', 'pipe', 'pipe'],
        env,
        windowsHide: true,
      });
    } catch (e) {
      throw spawnError(backend, e);
    }
    const host = new LocalHost({
      child,
      address,
      model: spec.model,
      backend: backend.name,
      client: this.createClient(address),
      logs: this.logs,
      clock: this.clock,
      onExit: (pid) => {
        this.live.delete(host);
        if (pid !== null) this.pids.remove(pid);
      },
    });
    const spawnFailure = await host.spawned;
    if (spawnFailure) throw spawnError(backend, spawnFailure);
    this.live.add(host);
    this.pids.record(host.pid as number, [backend.command, ...args]);

    const outcome = await this.waitReady(spec, host);
    if (outcome === 'ready') return host;
    await host.stop(0);
    throw outcome;
  }

  /** Health OK, or why not: the process exited, the start budget ran out, or the caller gave up. */
  private waitReady(spec: HostSpec, host: LocalHost): Promise<'ready' | LoadoutError | PortTaken> {
    return new Promise((resolve) => {
      const stopPolling = new AbortController();
      let settled = false;
      const finish = (outcome: 'ready' | LoadoutError | PortTaken) => {
        if (settled) return;
        settled = true;
        this.clock.clearTimeout(timer);
        spec.signal?.removeEventListener('abort', onAbort);
        stopPolling.abort();
        resolve(outcome);
      };
      const onTimeout = () => finish(startTimeout(spec, host.lastStderr));
      const onAbort = () => finish(cancelled(spec));
      const timer = this.clock.setTimeout(onTimeout, spec.startTimeoutMs);
      spec.signal?.addEventListener('abort', onAbort, { once: true });
      if (spec.signal?.aborted) onAbort();

      // An exit while starting fails the start at once, with the reason (L10).
      void host.exited.then((info) => {
        const failure = exitedWhileStarting(spec.backend.name, info);
        finish(host.sawAddressInUse ? new PortTaken(failure) : failure);
      });
      host.client.waitReady({ timeoutMs: spec.startTimeoutMs, signal: stopPolling.signal }).then(
        () => {
          // Health OK from a process that already died came from someone else on that port.
          if (!host.exitSeen) finish('ready');
        },
        () => {
          if (!stopPolling.signal.aborted && !host.exitSeen) onTimeout();
        },
      );
    });
  }
}

interface LocalHostInit {
  child: ChildProcess;
  address: string;
  model: string;
  backend: string;
  client: BackendClient;
  logs: LogStore;
  clock: Clock;
  onExit: (pid: number | null) => void;
}

/** One running backend process and its group. */
class LocalHost implements ModelHost {
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

  constructor(init: LocalHostInit) {
    const { child, logs, model } = init;
    this.child = child;
    this.address = init.address;
    this.client = init.client;
    this.model = model;
    this.logs = logs;
    this.clock = init.clock;

    child.stdin?.on('error', () => {}); // EPIPE once the process is gone
    child.stdout?.setEncoding('utf8').on('data', (text: string) => logs.append(this.model, 'stdout', text));
    child.stderr?.setEncoding('utf8').on('data', (text: string) => {
      logs.append(this.model, 'stderr', text);
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
        if (this.stderrTail.trim()) this.lastStderr = this.stderrTail.trim();
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
    if (this.exitSeen || this.child.pid === undefined) return null;
    const own = readRssBytes(this.child.pid);
    if (own === null) return null;
    // Add what the backend started itself (a wrapper's real server, workers), a few levels deep.
    let total = own;
    const seen = new Set([this.child.pid]);
    let frontier = childPids(this.child.pid);
    for (let depth = 0; depth < 4 && frontier.length; depth++) {
      const next: number[] = [];
      for (const pid of frontier) {
        if (seen.has(pid)) continue;
        seen.add(pid);
        total += readRssBytes(pid) ?? 0;
        next.push(...childPids(pid));
      }
      frontier = next;
    }
    return total;
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
      this.lastStderr = trimmed;
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

/** Marks a start that failed because another process took our port (retried once). */
class PortTaken extends Error {
  constructor(readonly failure: LoadoutError) {
    super(failure.message);
  }
}

function describeExit(info: ExitInfo): string {
  return info.signal ? `was killed by ${info.signal}` : `exited with code ${info.code}`;
}

function exitedWhileStarting(backend: string, info: ExitInfo): LoadoutError {
  const why = info.stderr ? `: ${info.stderr}` : ' (it printed no error; see the model log)';
  return new LoadoutError('backend_failed', `backend ${backend} ${describeExit(info)} while starting${why}`);
}

function startTimeout(spec: HostSpec, lastStderr: string | null): LoadoutError {
  const last = lastStderr ? ` Its last error output: ${lastStderr}` : '';
  return new LoadoutError(
    'timeout',
    `backend ${spec.backend.name} for ${spec.model} did not become ready within ${formatMs(spec.startTimeoutMs)} and was stopped. If it needs longer to start, raise start_timeout (in Settings or the model's config).${last}`,
  );
}

function cancelled(spec: HostSpec): LoadoutError {
  return new LoadoutError('cancelled', `starting backend ${spec.backend.name} for ${spec.model} was cancelled`);
}

function spawnError(backend: ProgramBackend, e: unknown): LoadoutError {
  const code = (e as NodeJS.ErrnoException).code;
  const path = backend.command;
  if (code === 'ENOENT') {
    return new LoadoutError(
      'backend_failed',
      `cannot start backend ${backend.name}: ${path} was not found. Check the program path in Settings > Backends (for a script, also the interpreter on its #! line).`,
    );
  }
  if (code === 'EACCES') {
    return new LoadoutError(
      'backend_failed',
      `cannot start backend ${backend.name}: ${path} is not executable. Make it executable (chmod +x ${path}) or choose the program itself in Settings > Backends.`,
    );
  }
  return new LoadoutError('backend_failed', `cannot start backend ${backend.name} (${path}): ${(e as Error).message}`);
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}
