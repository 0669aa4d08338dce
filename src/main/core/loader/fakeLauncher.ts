/**
 * A test fixture: a `HostLauncher` whose hosts live on a `FakeClock`, so the loader's timeouts,
 * waits and backoffs run in fake time. It keeps the real launcher's contract (Health within
 * `startTimeoutMs` or a `timeout` LoadoutError, `exited` once, `stop(grace)`) and the gRPC
 * client's (deadlines reject with kind `deadline`, aborted calls with kind `cancelled`).
 */
import { LoadoutError } from '../../../shared/errors';
import type { ExitInfo, HostLauncher, HostSpec, ModelHost } from '../backends/types';
import type { FakeClock } from '../clock';
import type { ModelOptions, PredictOptions, Reply__Output as Reply, Result__Output as Result, StatusResponse__Output as StatusResponse } from '../../../wire';
import type { BackendClient, CallOptions } from '../grpc/types';

/** How one model's fake backend behaves; times in fake ms. */
export interface FakeBehaviour {
  /** Time until Health answers; beyond startTimeoutMs the start fails like the real launcher's. */
  startMs?: number;
  /** Time LoadModel takes (Infinity: it never answers). */
  loadMs?: number;
  /** LoadModel answers success=false with this message. */
  loadFail?: string;
  tokens?: number;
  tokenMs?: number;
  rssBytes?: number;
}

type CallError = Error & { kind: string };

function callError(kind: string, message: string): CallError {
  return Object.assign(new Error(message), { kind });
}

export class FakeLauncher implements HostLauncher {
  readonly hosts: FakeHost[] = [];
  /** Every start, in order (model names). */
  readonly starts: string[] = [];
  private nextPid = 1000;

  constructor(
    readonly clock: FakeClock,
    private readonly behaviour: (model: string) => FakeBehaviour = () => ({}),
  ) {}

  start(spec: HostSpec): Promise<ModelHost> {
    this.starts.push(spec.model);
    const b = this.behaviour(spec.model);
    const startMs = b.startMs ?? 10;
    return new Promise<ModelHost>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        spec.signal?.removeEventListener('abort', onAbort);
        if (startMs > spec.startTimeoutMs) {
          reject(new LoadoutError('timeout', `backend ${spec.backend.name} for ${spec.model} did not become ready within ${spec.startTimeoutMs} ms and was stopped. If it needs longer to start, raise start_timeout.`));
          return;
        }
        const host = new FakeHost(this.clock, spec.model, this.nextPid++, b);
        this.hosts.push(host);
        resolve(host);
      }, Math.min(startMs, spec.startTimeoutMs));
      const onAbort = () => {
        this.clock.clearTimeout(timer);
        reject(new LoadoutError('cancelled', `starting backend ${spec.backend.name} for ${spec.model} was cancelled`));
      };
      spec.signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  /** Hosts whose process has not exited. */
  live(): FakeHost[] {
    return this.hosts.filter((h) => h.alive);
  }
}

export class FakeHost implements ModelHost {
  readonly kind = 'local' as const;
  readonly address: string;
  readonly exited: Promise<ExitInfo>;
  readonly client: BackendClient;
  alive = true;
  /** Calls received, by RPC name. */
  readonly calls: string[] = [];
  private exit!: (info: ExitInfo) => void;

  constructor(
    private readonly clock: FakeClock,
    readonly model: string,
    readonly pid: number,
    private readonly b: FakeBehaviour,
  ) {
    this.address = `127.0.0.1:${pid}`;
    this.exited = new Promise((resolve) => (this.exit = resolve));
    this.client = this.makeClient();
  }

  rssBytes(): number | null {
    return this.alive ? (this.b.rssBytes ?? 100 * 1024 ** 2) : null;
  }

  /** The process dies by itself (U3). */
  crash(info: ExitInfo = { code: 1, signal: null, stderr: 'fault: crashed' }): void {
    if (!this.alive) return;
    this.alive = false;
    this.exit(info);
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.calls.push(`stop(${graceMs})`);
    this.crash({ code: null, signal: graceMs > 0 ? 'SIGTERM' : 'SIGKILL', stderr: null });
    return this.exited;
  }

  /** Resolves after `ms` fake ms, or rejects like the gRPC client on deadline, abort or exit. */
  private wait(method: string, ms: number, opts: CallOptions = {}): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      const timers: unknown[] = [];
      const done = (fn: () => void) => {
        for (const t of timers) this.clock.clearTimeout(t);
        opts.signal?.removeEventListener('abort', onAbort);
        fn();
      };
      const onAbort = () => done(() => reject(callError('cancelled', `${method} cancelled`)));
      if (opts.signal?.aborted) return onAbort();
      opts.signal?.addEventListener('abort', onAbort, { once: true });
      if (Number.isFinite(ms)) timers.push(this.clock.setTimeout(() => done(resolve), ms));
      if (opts.timeoutMs !== undefined && !(ms <= opts.timeoutMs)) {
        timers.push(this.clock.setTimeout(() => done(() => reject(callError('deadline', `${method}: deadline exceeded`))), opts.timeoutMs));
      }
      void this.exited.then(() => done(() => reject(callError('unavailable', `${method}: connection dropped`))));
    });
  }

  private makeClient(): BackendClient {
    const ok = (message = ''): Result => ({ success: true, message }) as Result;
    const host = this;
    const unary = async <T>(method: string, value: T, ms = 0, opts?: CallOptions): Promise<T> => {
      this.calls.push(method);
      if (!this.alive) throw callError('unavailable', `${method}: connection refused`);
      await this.wait(method, ms, opts);
      return value;
    };
    return {
      address: this.address,
      health: (opts) => unary('Health', { message: Buffer.from('OK') } as unknown as Reply, 0, opts),
      waitReady: async () => {},
      loadModel: async (_o: ModelOptions, opts?: CallOptions) => {
        await unary('LoadModel', null, this.b.loadMs ?? 20, opts);
        return this.b.loadFail ? ({ success: false, message: this.b.loadFail } as Result) : ok();
      },
      predict: (o: PredictOptions, opts) => unary('Predict', { message: Buffer.from(o.Prompt ?? '') } as unknown as Reply, 0, opts),
      predictStream(_o: PredictOptions, opts?: CallOptions): AsyncIterable<Reply> {
        return (async function* () {
          host.calls.push('PredictStream');
          const n = host.b.tokens ?? 3;
          for (let i = 0; i < n; i++) {
            await host.wait('PredictStream', host.b.tokenMs ?? 10, { signal: opts?.signal });
            yield { message: Buffer.from(`tok${i} `), tokens: i + 1, prompt_tokens: 1 } as unknown as Reply;
          }
        })();
      },
      embedding: (_o, opts) => unary('Embedding', { embeddings: [0.5, 0.5], tokens: 1, prompt_tokens: 1 } as never, 0, opts),
      tokenizeString: (_o, opts) => unary('TokenizeString', { length: 1, tokens: [1] } as never, 0, opts),
      status: (opts) => unary('Status', { load_progress: 0 } as unknown as StatusResponse, 0, opts),
      free: (opts) => unary('Free', ok(), 0, opts),
      close: () => {},
    };
  }
}
