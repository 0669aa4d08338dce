/**
 * Local backend processes (L9, L10, L12): start `<program> --addr 127.0.0.1:<port>` in its own
 * process group (or adopt the warm standby), and wait for Health "OK" while watching for an early
 * exit. The running process is a `LocalHost` (localHost.ts); the standby lives in standbyPool.ts.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { LoadoutError } from '../../../shared/errors';
import { systemClock, type Clock } from '../clock';
import { createBackendClient } from '../grpc/client';
import type { BackendClient } from '../grpc/types';
import { freePort } from '../../../wire';
import { describeExit, LocalHost } from './localHost';
import type { LogStore } from './logs';
import type { PidRegistry } from './pidRegistry';
import { Reaper } from './reaper';
import { StandbyPool, type ProgramBackend } from './standbyPool';
import type { ExitInfo, HostLauncher, HostSpec, LlamaServerBackend, ModelHost } from './types';
import { LlamaServerHost } from './llamaServer/host';

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
  /** Kills the backends' groups if the app dies (default: a new one). */
  reaper?: Reaper;
}

const isWindows = process.platform === 'win32';

export class LocalHostLauncher implements HostLauncher {
  private readonly logs: LogStore;
  private readonly pids: PidRegistry;
  private readonly clock: Clock;
  private readonly createClient: (address: string) => BackendClient;
  private readonly pickPort: () => Promise<number>;
  private readonly live = new Set<LocalHost>();
  private readonly standby: StandbyPool;
  private readonly reaper: Reaper;

  constructor(options: LocalHostLauncherOptions) {
    this.reaper = options.reaper ?? new Reaper();
    this.logs = options.logs;
    this.pids = options.pids;
    this.clock = options.clock ?? systemClock;
    this.createClient = options.createClient ?? createBackendClient;
    this.pickPort = options.pickPort ?? freePort;
    this.standby = new StandbyPool((spec) => this.startFresh(spec, spec.backend as ProgramBackend), options.onStandbyChange ?? (() => {}));
  }

  async start(spec: HostSpec): Promise<ModelHost> {
    const backend = spec.backend;
    if (backend.kind === 'llama-server') return this.startLlamaServer(spec, backend);
    if (backend.kind !== 'program') {
      throw new LoadoutError('invalid', `backend ${backend.name} is a remote host (${backend.address}), not a program to start`);
    }
    const spare = await this.standby.take(backend, spec.env);
    if (spare) {
      if (await answersHealth(spare, spec.signal)) {
        spare.adopt(spec.model);
        this.logs.append(spec.model, 'loadout', `using the warm standby backend ${backend.name} (pid ${spare.pid}, started ahead of time)`);
        return spare;
      }
      void spare.stop(0);
      if (spec.signal?.aborted) throw cancelled(spec);
      // Frozen (SIGSTOP, a debugger) or wedged: a load on it would hang until load_timeout.
      this.logs.append(
        spec.model,
        'loadout',
        `the warm standby backend ${backend.name} (pid ${spare.pid}) did not answer Health within ${formatMs(STANDBY_HEALTH_MS)}; it was stopped and a fresh backend is started`,
      );
    }
    return this.startFresh(spec, backend);
  }

  private async startFresh(spec: HostSpec, backend: ProgramBackend): Promise<LocalHost> {
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
    this.standby.warm(backend, startTimeoutMs, env);
  }

  /** The waiting standby process, if one is ready. */
  standbyInfo(): { pid: number; backend: string } | null {
    return this.standby.info();
  }

  /** Stops the standby process (the setting was turned off). */
  dropStandby(): Promise<void> {
    return this.standby.drop();
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
  async dispose(): Promise<void> {
    await this.stopAll(0);
    this.reaper.close();
  }

  private async startOnce(spec: HostSpec, backend: ProgramBackend, port: number): Promise<LocalHost> {
    const address = `127.0.0.1:${port}`;
    const args = [...backend.args, '--addr', address];
    const host = await this.spawnHost({
      model: spec.model,
      backend: backend.name,
      command: backend.command,
      args,
      env: { ...backend.env, ...spec.env },
      address,
      client: this.createClient(address),
    });
    const outcome = await this.waitReady(spec, host);
    if (outcome === 'ready') return host;
    await host.stop(0);
    throw outcome;
  }

  /**
   * Spawns one backend process in its own group, with its output in the model's log, recorded in
   * the pid file and watched by the reaper (U4), so it dies with the app however the app dies.
   */
  private async spawnHost(o: {
    model: string;
    backend: string;
    command: string;
    args: string[];
    env: Record<string, string>;
    address: string;
    client: BackendClient;
    onOutput?: (text: string) => void;
  }): Promise<LocalHost> {
    this.logs.append(o.model, 'loadout', `starting backend ${o.backend}: ${[o.command, ...o.args].join(' ')}`);
    let child: ChildProcess;
    try {
      child = spawn(o.command, o.args, {
        // Own process group (POSIX), so stop() reaches whatever the backend itself starts.
        detached: !isWindows,
        // stdin stays an open pipe: our backends exit when it closes, i.e. when we die (U4).
        stdio: ['pipe', 'pipe', 'pipe'],
        env: { ...process.env, ...o.env },
        windowsHide: true,
      });
    } catch (e) {
      throw spawnError(o.backend, o.command, e);
    }
    const host = new LocalHost({
      child,
      address: o.address,
      model: o.model,
      backend: o.backend,
      client: o.client,
      logs: this.logs,
      clock: this.clock,
      onOutput: o.onOutput,
      onExit: (pid) => {
        this.live.delete(host);
        if (pid === null) return;
        this.pids.remove(pid);
        this.reaper.unwatch(pid);
      },
    });
    const spawnFailure = await host.spawned;
    if (spawnFailure) throw spawnError(o.backend, o.command, spawnFailure);
    this.live.add(host);
    this.pids.record(host.pid as number, [o.command, ...o.args]);
    // Its group (it leads one) dies with the app even if the backend cannot watch for that itself.
    this.reaper.watch(host.pid as number);
    return host;
  }

  /**
   * A llama-server model (Engine 1): the process starts when the loader sends LoadModel, since
   * llama-server takes the model and its settings on its command line.
   */
  private async startLlamaServer(spec: HostSpec, backend: LlamaServerBackend): Promise<ModelHost> {
    if (spec.signal?.aborted) throw cancelled(spec);
    const found = backend.locate();
    if (!found.found) throw new LoadoutError('backend_failed', `cannot start llama-server for ${spec.model}: ${found.why}`);
    const port = await this.pickPort();
    return new LlamaServerHost({
      model: spec.model,
      command: found.found.path,
      port,
      spawn: (o) => this.spawnHost({ ...o, model: spec.model, backend: backend.name, env: spec.env ?? {} }),
    });
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

/** How long a standby gets to answer Health before a load adopts it; an idle backend answers in ms. */
export const STANDBY_HEALTH_MS = 2000;

async function answersHealth(host: LocalHost, signal: AbortSignal | undefined): Promise<boolean> {
  if (host.exitSeen) return false;
  try {
    const reply = await host.client.health({ timeoutMs: STANDBY_HEALTH_MS, signal });
    return Buffer.from(reply.message).toString() === 'OK' && !host.exitSeen;
  } catch {
    return false;
  }
}

/** Marks a start that failed because another process took our port (retried once). */
class PortTaken extends Error {
  constructor(readonly failure: LoadoutError) {
    super(failure.message);
  }
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

function spawnError(backend: string, path: string, e: unknown): LoadoutError {
  const code = (e as NodeJS.ErrnoException).code;
  if (code === 'ENOENT') {
    return new LoadoutError(
      'backend_failed',
      `cannot start backend ${backend}: ${path} was not found. Check the program path in Settings > Backends (for a script, also the interpreter on its #! line).`,
    );
  }
  if (code === 'EACCES') {
    return new LoadoutError(
      'backend_failed',
      `cannot start backend ${backend}: ${path} is not executable. Make it executable (chmod +x ${path}) or choose the program itself in Settings > Backends.`,
    );
  }
  return new LoadoutError('backend_failed', `cannot start backend ${backend} (${path}): ${(e as Error).message}`);
}

function formatMs(ms: number): string {
  return ms < 1000 ? `${ms} ms` : `${Number((ms / 1000).toFixed(1))} s`;
}
