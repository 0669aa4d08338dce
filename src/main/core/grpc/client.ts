/** The typed gRPC client of one backend address (LocalAI's `backend.Backend` service). */
import * as grpc from '@grpc/grpc-js';
import {
  backendService,
  type EmbeddingResult__Output,
  type ModelOptions,
  type PredictOptions,
  type Reply__Output,
  type Result__Output,
  type StatusResponse__Output,
  type TokenizationResponse__Output,
} from '../../../wire';
import type { BackendClient, CallOptions } from './types';

export type GrpcErrorKind = 'unavailable' | 'deadline' | 'cancelled' | 'precondition' | 'other';

/** Why a backend call failed: the gRPC status `code`, a coarse `kind`, and the backend's `details`. */
export class GrpcCallError extends Error {
  readonly code: number;
  readonly kind: GrpcErrorKind;
  readonly details: string;
  /** The RPC, e.g. "PredictStream". */
  readonly method: string;
  readonly address: string;

  constructor(init: { code: number; details: string; method: string; address: string; message?: string }) {
    const kind = kindOf(init.code, init.details);
    super(init.message ?? describe(kind, init.code, init.details, init.method, init.address));
    this.name = 'GrpcCallError';
    this.code = init.code;
    this.kind = kind;
    this.details = init.details;
    this.method = init.method;
    this.address = init.address;
  }
}

const CONNECTION_DETAILS = /ECONNREFUSED|ECONNRESET/;

function kindOf(code: number, details: string): GrpcErrorKind {
  switch (code) {
    case grpc.status.UNAVAILABLE:
      return 'unavailable';
    case grpc.status.DEADLINE_EXCEEDED:
      return 'deadline';
    case grpc.status.CANCELLED:
      return 'cancelled';
    case grpc.status.FAILED_PRECONDITION:
      return 'precondition';
    default:
      // A connection torn down mid-call can surface as INTERNAL with the socket error in details.
      return CONNECTION_DETAILS.test(details) ? 'unavailable' : 'other';
  }
}

function describe(kind: GrpcErrorKind, code: number, details: string, method: string, address: string): string {
  const why = details ? `: ${details}` : '';
  switch (kind) {
    case 'unavailable':
      return `The backend at ${address} cannot be reached (${method}${why}). It may have crashed or not be running; check its output and restart the model.`;
    case 'deadline':
      return `The backend at ${address} did not answer ${method} in time${why}. It may be overloaded or stuck; try again or raise the timeout.`;
    case 'cancelled':
      return `The ${method} call to the backend at ${address} was cancelled.`;
    case 'precondition':
      return `The backend at ${address} refused ${method}${why}. Reload the model and try again.`;
    default:
      return `The backend at ${address} failed ${method} (gRPC ${grpc.status[code] ?? code}${why}).`;
  }
}

function errorFields(e: unknown): { code: number; details: string } | undefined {
  if (typeof e !== 'object' || e === null) return undefined;
  const o = e as { code?: unknown; details?: unknown };
  if (typeof o.code !== 'number') return undefined;
  return { code: o.code, details: typeof o.details === 'string' ? o.details : '' };
}

/** True when the call failed because the backend could not be reached (refused, reset, dropped). */
export function isConnectionError(e: unknown): boolean {
  const f = errorFields(e);
  return !!f && (f.code === grpc.status.UNAVAILABLE || CONNECTION_DETAILS.test(f.details));
}

/** True when the call failed because its deadline passed. */
export function isDeadlineError(e: unknown): boolean {
  return errorFields(e)?.code === grpc.status.DEADLINE_EXCEEDED;
}

const MB = 1024 * 1024;

const CHANNEL_OPTIONS: grpc.ChannelOptions = {
  // grpc-js waits 1 s (growing) after a refused connect before it tries again; a backend that is
  // still starting would cost a second each time. Retry within tens of ms instead: once the
  // backend listens, the channel is READY within ~50 ms. Reconnects only run while the channel
  // is in use, and a refused loopback connect costs next to nothing.
  'grpc.initial_reconnect_backoff_ms': 10,
  'grpc.min_reconnect_backoff_ms': 10,
  'grpc.max_reconnect_backoff_ms': 50,
  // Embeddings of large batches exceed the 4 MB default.
  'grpc.max_receive_message_length': 128 * MB,
  'grpc.max_send_message_length': 128 * MB,
  // Backends are on loopback or the LAN; a proxy from the environment would only get in the way.
  'grpc.enable_http_proxy': 0,
  // Own connection per client, so close() really closes it and one backend's backoff state is
  // not shared with a new client of a restarted backend on the same port.
  'grpc.use_local_subchannel_pool': 1,
};

type UnaryFn = (
  req: unknown,
  metadata: grpc.Metadata,
  options: grpc.CallOptions,
  cb: (err: grpc.ServiceError | null, res?: unknown) => void,
) => grpc.ClientUnaryCall;
type StreamFn = (req: unknown, metadata: grpc.Metadata, options: grpc.CallOptions) => grpc.ClientReadableStream<Reply__Output>;

class Client implements BackendClient {
  private readonly raw: grpc.Client & Record<string, unknown>;

  constructor(readonly address: string) {
    const Ctor = backendService();
    this.raw = new Ctor(address, grpc.credentials.createInsecure(), CHANNEL_OPTIONS) as unknown as grpc.Client &
      Record<string, unknown>;
  }

  private error(e: unknown, method: string, timeoutMs?: number): GrpcCallError {
    if (e instanceof GrpcCallError) return e;
    const f = errorFields(e) ?? { code: grpc.status.UNKNOWN, details: e instanceof Error ? e.message : String(e) };
    let details = f.details;
    if (f.code === grpc.status.DEADLINE_EXCEEDED && timeoutMs !== undefined) details = `no answer within ${timeoutMs} ms`;
    return new GrpcCallError({ code: f.code, details, method, address: this.address });
  }

  private cancelledError(method: string): GrpcCallError {
    return new GrpcCallError({ code: grpc.status.CANCELLED, details: 'cancelled by the caller', method, address: this.address });
  }

  private callOptions(opts?: CallOptions): grpc.CallOptions {
    return opts?.timeoutMs !== undefined ? { deadline: Date.now() + opts.timeoutMs } : {};
  }

  private unary<T>(method: string, req: unknown, opts?: CallOptions): Promise<T> {
    return new Promise<T>((resolve, reject) => {
      const signal = opts?.signal;
      if (signal?.aborted) return reject(this.cancelledError(method));
      const fn = this.raw[method] as UnaryFn;
      // Fail fast when the backend is not reachable instead of queueing until the deadline.
      const metadata = new grpc.Metadata({ waitForReady: false });
      const onAbort = () => call.cancel();
      const call = fn.call(this.raw, req, metadata, this.callOptions(opts), (err, res) => {
        signal?.removeEventListener('abort', onAbort);
        if (err) reject(signal?.aborted ? this.cancelledError(method) : this.error(err, method, opts?.timeoutMs));
        else resolve(res as T);
      });
      signal?.addEventListener('abort', onAbort, { once: true });
    });
  }

  health(opts?: CallOptions): Promise<Reply__Output> {
    return this.unary('Health', {}, opts);
  }

  async waitReady(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    let delay = 10;
    let last = 'no answer yet';
    for (;;) {
      if (opts.signal?.aborted) throw this.cancelledError('Health');
      const left = deadline - Date.now();
      if (left <= 0) break;
      try {
        const reply = await this.health({ timeoutMs: left, signal: opts.signal });
        const text = Buffer.from(reply.message ?? []).toString('utf8');
        if (text === 'OK') return;
        last = `Health answered "${text}"`;
      } catch (e) {
        const err = this.error(e, 'Health');
        if (err.kind === 'cancelled') throw err;
        last = err.details || err.message;
      }
      const wait = Math.min(delay, deadline - Date.now());
      if (wait > 0) await this.channelChange(wait, opts.signal);
      delay = Math.min(100, delay * 2);
    }
    throw new GrpcCallError({
      code: grpc.status.DEADLINE_EXCEEDED,
      details: `not ready within ${opts.timeoutMs} ms (last: ${last})`,
      method: 'Health',
      address: this.address,
      message: `The backend at ${this.address} did not become ready within ${opts.timeoutMs} ms (last: ${last}). Check its output; if it is slow to start, raise the start timeout.`,
    });
  }

  /**
   * Waits up to `ms` for the channel to change state. After a refused connect the channel retries
   * in the background (every 10-50 ms) and turns READY the moment the backend listens; waking up
   * then, rather than at the next fixed poll, saves up to a poll interval on every start.
   */
  private channelChange(ms: number, signal?: AbortSignal): Promise<void> {
    const channel = this.raw.getChannel();
    const state = channel.getConnectivityState(true);
    if (state === grpc.connectivityState.READY || state === grpc.connectivityState.SHUTDOWN) return sleep(ms, signal);
    return new Promise<void>((resolve) => {
      const done = () => {
        signal?.removeEventListener('abort', done);
        resolve();
      };
      signal?.addEventListener('abort', done, { once: true });
      channel.watchConnectivityState(state, Date.now() + ms, done);
    });
  }

  loadModel(options: ModelOptions, opts?: CallOptions): Promise<Result__Output> {
    return this.unary('LoadModel', options, opts);
  }

  predict(options: PredictOptions, opts?: CallOptions): Promise<Reply__Output> {
    return this.unary('Predict', options, opts);
  }

  predictStream(options: PredictOptions, opts?: CallOptions): AsyncIterable<Reply__Output> {
    return new ReplyStream(this, options, opts);
  }

  /** Starts a raw server stream (for ReplyStream). */
  openStream(req: unknown, opts?: CallOptions): grpc.ClientReadableStream<Reply__Output> {
    const fn = this.raw.PredictStream as StreamFn;
    return fn.call(this.raw, req, new grpc.Metadata({ waitForReady: false }), this.callOptions(opts));
  }

  streamError(e: unknown, opts?: CallOptions): GrpcCallError {
    return this.error(e, 'PredictStream', opts?.timeoutMs);
  }

  streamCancelled(): GrpcCallError {
    return this.cancelledError('PredictStream');
  }

  embedding(options: PredictOptions, opts?: CallOptions): Promise<EmbeddingResult__Output> {
    return this.unary('Embedding', options, opts);
  }

  tokenizeString(options: PredictOptions, opts?: CallOptions): Promise<TokenizationResponse__Output> {
    return this.unary('TokenizeString', options, opts);
  }

  status(opts?: CallOptions): Promise<StatusResponse__Output> {
    return this.unary('Status', {}, opts);
  }

  free(opts?: CallOptions): Promise<Result__Output> {
    return this.unary('Free', {}, opts);
  }

  close(): void {
    this.raw.close();
  }
}

/**
 * PredictStream as an async iterator. It pulls from the grpc-js stream with read(), so at most
 * the Readable's high-water mark (16 replies) waits in memory, and a consumer that stops reading
 * stops the backend through HTTP/2 flow control. A stream error rejects the `next()` after the
 * replies that arrived before it; `return()` (a `break` out of for-await) and the abort signal
 * cancel the call.
 */
class ReplyStream implements AsyncIterableIterator<Reply__Output> {
  private call?: grpc.ClientReadableStream<Reply__Output>;
  private failure?: GrpcCallError;
  private ended = false;
  private finished = false;
  /** Pending next() calls waiting for an event (normally one; a list so none is ever lost). */
  private waiters: Array<() => void> = [];
  private readonly onAbort = () => this.abort();

  constructor(
    private readonly client: Client,
    private readonly req: PredictOptions,
    private readonly opts?: CallOptions,
  ) {}

  [Symbol.asyncIterator](): AsyncIterableIterator<Reply__Output> {
    return this;
  }

  /** The call starts at the first next(), so an iterator nobody reads never opens a call. */
  private start(): grpc.ClientReadableStream<Reply__Output> {
    if (this.call) return this.call;
    const call = this.client.openStream(this.req, this.opts);
    this.call = call;
    // grpc-js pushes end-of-stream before it emits a non-OK status as 'error', so replies that
    // arrived first are still in the buffer and read() hands them out before the failure.
    const poke = () => this.wakeAll();
    call.on('readable', poke);
    call.on('end', () => {
      this.ended = true;
      poke();
    });
    call.on('error', (e) => {
      // Kept for good: an 'error' without a listener would crash the process.
      if (!this.failure && !this.finished) this.failure = this.client.streamError(e, this.opts);
      poke();
    });
    this.opts?.signal?.addEventListener('abort', this.onAbort, { once: true });
    return call;
  }

  private abort(): void {
    if (this.finished) return;
    this.failure = this.client.streamCancelled();
    this.call?.cancel();
    this.wakeAll();
  }

  private wakeAll(): void {
    for (const w of this.waiters.splice(0)) w();
  }

  private finish(): void {
    if (this.finished) return;
    this.finished = true;
    this.opts?.signal?.removeEventListener('abort', this.onAbort);
    if (this.call && !this.ended) this.call.cancel();
    this.wakeAll();
  }

  async next(): Promise<IteratorResult<Reply__Output>> {
    if (this.finished) return { done: true, value: undefined };
    if (this.opts?.signal?.aborted) this.failure ??= this.client.streamCancelled();
    const call = this.failure ? this.call : this.start();
    for (;;) {
      if (this.finished) return { done: true, value: undefined }; // return() while we waited
      // An abort wins over buffered replies: the caller asked to stop.
      const abortedHere = this.opts?.signal?.aborted;
      if (!abortedHere && call) {
        const value = call.read() as Reply__Output | null;
        if (value !== null) return { done: false, value };
      }
      if (this.failure) {
        const err = this.failure;
        this.finish();
        throw err;
      }
      if (this.ended) {
        this.finish();
        return { done: true, value: undefined };
      }
      await new Promise<void>((resolve) => this.waiters.push(resolve));
    }
  }

  async return(): Promise<IteratorResult<Reply__Output>> {
    this.finish();
    return { done: true, value: undefined };
  }

  async throw(e?: unknown): Promise<IteratorResult<Reply__Output>> {
    this.finish();
    throw e;
  }
}

function sleep(ms: number, signal?: AbortSignal): Promise<void> {
  return new Promise((resolve) => {
    const t = setTimeout(done, ms);
    function done() {
      clearTimeout(t);
      signal?.removeEventListener('abort', done);
      resolve();
    }
    signal?.addEventListener('abort', done, { once: true });
  });
}

/** A client of the backend at `address` ("host:port"). Cheap: connects on the first call. */
export function createBackendClient(address: string): BackendClient {
  return new Client(address);
}
