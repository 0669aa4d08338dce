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
  /** The machine's GPU as this backend sees it (the built-in backend's Status `gpu`); none: no GPU. */
  gpu?: FakeGpu;
  /** VRAM the model takes at `gpuLayers` (the backend's measured figure, without the process base). */
  vramForLayers?: (gpuLayers: number) => number;
  totalLayers?: number;
}

/**
 * A GPU shared by the fake backends: free VRAM is the total less other programs' use and each
 * live backend's (its process base once started on the GPU, its model once loaded).
 */
export class FakeGpu {
  readonly hosts = new Set<FakeHost>();
  constructor(
    readonly type: 'cuda' | 'vulkan' | 'metal' | null,
    readonly totalBytes: number,
    /** VRAM held by other programs (a test raises it to cause pressure, V10). */
    public otherBytes = 0,
    readonly baseBytes = 0,
  ) {}

  usedBytes(): number {
    let used = this.otherBytes;
    for (const h of this.hosts) used += h.vramUsed();
    return used;
  }

  /** What `--probe` and the built-in backend's Status say (src/backends/llama/runtime.ts GpuProbe). */
  report(requested: string): string {
    const onGpu = this.type !== null && requested !== 'cpu';
    const used = onGpu ? this.usedBytes() : 0;
    return JSON.stringify({
      requested,
      used: onGpu ? this.type : false,
      fallbackReason: onGpu || requested === 'cpu' ? null : 'no GPU found (node-llama-cpp finds no CUDA, Vulkan or Metal driver on this machine)',
      deviceNames: onGpu ? ['Fake GPU'] : [],
      vram: { total: onGpu ? this.totalBytes : 0, used, free: onGpu ? this.totalBytes - used : 0, unifiedSize: 0 },
    });
  }
}

type CallError = Error & { kind: string };

function callError(kind: string, message: string): CallError {
  return Object.assign(new Error(message), { kind });
}

export class FakeLauncher implements HostLauncher {
  readonly hosts: FakeHost[] = [];
  /** Every start, in order (model names). */
  readonly starts: string[] = [];
  /** Every start's environment additions, in order. */
  readonly envs: (Record<string, string> | undefined)[] = [];
  private nextPid = 1000;

  constructor(
    readonly clock: FakeClock,
    private readonly behaviour: (model: string) => FakeBehaviour = () => ({}),
  ) {}

  start(spec: HostSpec): Promise<ModelHost> {
    this.starts.push(spec.model);
    this.envs.push(spec.env);
    const b = this.behaviour(spec.model);
    const startMs = b.startMs ?? 10;
    return new Promise<ModelHost>((resolve, reject) => {
      const timer = this.clock.setTimeout(() => {
        spec.signal?.removeEventListener('abort', onAbort);
        if (startMs > spec.startTimeoutMs) {
          reject(new LoadoutError('timeout', `backend ${spec.backend.name} for ${spec.model} did not become ready within ${spec.startTimeoutMs} ms and was stopped. If it needs longer to start, raise start_timeout.`));
          return;
        }
        const host = new FakeHost(this.clock, spec.model, this.nextPid++, b, spec.env?.LOADOUT_GPU ?? 'cpu');
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
  /** The layer count LoadModel asked for (NGPULayers), once it was called. */
  gpuLayers: number | null = null;
  private loaded = false;
  private exit!: (info: ExitInfo) => void;

  constructor(
    private readonly clock: FakeClock,
    readonly model: string,
    readonly pid: number,
    private readonly b: FakeBehaviour,
    private readonly requestedGpu = 'cpu',
  ) {
    b.gpu?.hosts.add(this);
    this.address = `127.0.0.1:${pid}`;
    this.exited = new Promise((resolve) => (this.exit = resolve));
    this.client = this.makeClient();
  }

  private onGpu(): boolean {
    return !!this.b.gpu?.type && this.requestedGpu !== 'cpu';
  }

  /** VRAM this process holds: its base on the GPU, and its model's layers once loaded. */
  vramUsed(): number {
    if (!this.alive || !this.onGpu()) return 0;
    return this.b.gpu!.baseBytes + (this.loaded ? this.modelVram() : 0);
  }

  private modelVram(): number {
    return this.onGpu() && this.gpuLayers ? (this.b.vramForLayers?.(this.gpuLayers) ?? 0) : 0;
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
      loadModel: async (o: ModelOptions, opts?: CallOptions) => {
        this.gpuLayers = o.NGPULayers ?? 0;
        await unary('LoadModel', null, this.b.loadMs ?? 20, opts);
        if (this.b.loadFail) return { success: false, message: this.b.loadFail } as Result;
        this.loaded = true;
        return ok();
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
      status: (opts) => {
        const total = this.b.totalLayers ?? 0;
        const gpuLayers = this.onGpu() ? Math.min(this.gpuLayers ?? 0, total) : 0;
        const breakdown = this.loaded ? { vram: this.modelVram(), gpu_layers: gpuLayers, total_layers: total } : {};
        const gpu = this.b.gpu ? this.b.gpu.report(this.requestedGpu) : '';
        return unary('Status', { load_progress: 0, memory: { total: 0, breakdown }, gpu } as unknown as StatusResponse, 0, opts);
      },
      free: (opts) => unary('Free', ok(), 0, opts),
      close: () => {},
    };
  }
}
