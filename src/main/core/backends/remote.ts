/**
 * Remote backends (U6): a `host:port` that already serves the Backend service. There is no
 * process to start or stop; "start" means reachable and Health OK, "stop" closes our channel.
 */
import { connect } from 'node:net';
import { LoadoutError } from '../../../shared/errors';
import { systemClock, type Clock } from '../clock';
import { createBackendClient } from '../grpc/client';
import type { BackendClient } from '../grpc/types';
import type { ExitInfo, HostLauncher, HostSpec, ModelHost } from './types';

export interface RemoteHostLauncherOptions {
  createClient?: (address: string) => BackendClient;
  clock?: Clock;
}

export class RemoteHostLauncher implements HostLauncher {
  private readonly createClient: (address: string) => BackendClient;
  private readonly clock: Clock;

  constructor(options: RemoteHostLauncherOptions = {}) {
    this.createClient = options.createClient ?? createBackendClient;
    this.clock = options.clock ?? systemClock;
  }

  async start(spec: HostSpec): Promise<ModelHost> {
    const backend = spec.backend;
    if (backend.kind !== 'remote') {
      throw new LoadoutError('invalid', `backend ${backend.name} is a program, not a remote host:port`);
    }
    if (spec.signal?.aborted) throw cancelled(spec);
    const started = this.clock.now();
    // A plain TCP connect first: gRPC would keep retrying a refused address until the deadline,
    // while "nothing listens there" is an answer the user can act on right away.
    await probe(backend.address, spec, this.clock);
    const client = this.createClient(backend.address);
    try {
      await client.waitReady({ timeoutMs: Math.max(1, spec.startTimeoutMs - (this.clock.now() - started)), signal: spec.signal });
    } catch {
      client.close();
      if (spec.signal?.aborted) throw cancelled(spec);
      throw new LoadoutError(
        'timeout',
        `remote backend ${backend.address} accepts connections but did not answer Health "OK" within ${spec.startTimeoutMs} ms: is it a Loadout/LocalAI backend, and is it up? (start_timeout sets the wait)`,
      );
    }
    return new RemoteHost(backend.address, client);
  }
}

class RemoteHost implements ModelHost {
  readonly kind = 'remote' as const;
  readonly pid = null;
  readonly exited: Promise<ExitInfo>;
  private resolveExited!: (info: ExitInfo) => void;

  constructor(
    readonly address: string,
    readonly client: BackendClient,
  ) {
    this.exited = new Promise((r) => (this.resolveExited = r));
  }

  rssBytes(): null {
    return null;
  }

  stop(): Promise<ExitInfo> {
    this.client.close();
    this.resolveExited({ code: null, signal: null, stderr: null });
    return this.exited;
  }
}

/** Resolves once a TCP connection to `address` opens; rejects with a message the user can act on. */
function probe(address: string, spec: HostSpec, clock: Clock): Promise<void> {
  const i = address.lastIndexOf(':');
  const host = address.slice(0, i).replace(/^\[(.*)\]$/, '$1');
  const port = Number(address.slice(i + 1));
  return new Promise((resolve, reject) => {
    const socket = connect({ host, port });
    const done = (err?: LoadoutError) => {
      clock.clearTimeout(timer);
      spec.signal?.removeEventListener('abort', onAbort);
      socket.destroy();
      if (err) reject(err);
      else resolve();
    };
    const onAbort = () => done(cancelled(spec));
    const timer = clock.setTimeout(
      () =>
        done(
          new LoadoutError(
            'timeout',
            `cannot reach remote backend ${address}: no answer within ${spec.startTimeoutMs} ms - is the host up and the port open?`,
          ),
        ),
      spec.startTimeoutMs,
    );
    spec.signal?.addEventListener('abort', onAbort, { once: true });
    socket.once('connect', () => done());
    socket.once('error', (e: NodeJS.ErrnoException) => done(unreachable(address, e)));
  });
}

function unreachable(address: string, e: NodeJS.ErrnoException): LoadoutError {
  const reason: Record<string, string> = {
    ECONNREFUSED: 'connection refused - is it running?',
    ENOTFOUND: 'host not found - check the name',
    EAI_AGAIN: 'host name lookup failed - check the name and the network',
    EHOSTUNREACH: 'host unreachable - check the network',
    ENETUNREACH: 'network unreachable - check the network',
    ETIMEDOUT: 'connection timed out - is the host up and the port open?',
  };
  const why = (e.code && reason[e.code]) || e.message;
  return new LoadoutError('backend_failed', `cannot reach remote backend ${address}: ${why}`);
}

function cancelled(spec: HostSpec): LoadoutError {
  return new LoadoutError('cancelled', `connecting to remote backend ${spec.backend.name} for ${spec.model} was cancelled`);
}
