/**
 * A worker's one gRPC port (distributed-spec.md section 3): the `Backend` service over TLS,
 * each call routed by its ModelIdentity to this worker's own loader, so queueing, the thread
 * budget, stall checks and in-flight accounting run where the work runs. Backends themselves
 * stay on 127.0.0.1.
 *
 * D11: a call without this incarnation's bearer token, or for a model that is not resident
 * here, is refused (the gateway never loads: loads come over NATS). Live calls are counted per
 * model and end when the client goes (cancel, or HTTP/2 keepalive), so in-flight cannot leak.
 */
import { timingSafeEqual } from 'node:crypto';
import * as grpc from '@grpc/grpc-js';
import { LoadoutError } from '../../../shared/errors';
import type { ErrorCode } from '../../../shared/errors';
import { isResident, type ModelRow, type ModelState } from '../../../shared/model';
import { backendService, type BackendHandlers, type PredictOptions__Output, type Reply } from '../../../wire';
import type { ModelRouter, StreamChunk } from '../loader/router';
import { serverCredentials, type GatewayCert } from './tls';

export type GatewayRouter = Pick<ModelRouter, 'stream' | 'predict' | 'embed' | 'tokenize'>;

export interface GatewayOptions {
  router: GatewayRouter;
  /** The model's row; throws not_found for a model this worker does not have. */
  row: (name: string) => ModelRow;
  cert: GatewayCert;
  /** The bearer token this incarnation accepts. */
  token: string;
  host: string;
  port: number;
  nodeName: string;
}

/** Trailing metadata key carrying the core's error code, so a frontend can tell a refusal from a lost node. */
export const ERROR_CODE_METADATA = 'loadout-error-code';

const GRPC_OF: Partial<Record<ErrorCode, grpc.status>> = {
  not_found: grpc.status.NOT_FOUND,
  invalid: grpc.status.INVALID_ARGUMENT,
  queue_full: grpc.status.RESOURCE_EXHAUSTED,
  slots_busy: grpc.status.RESOURCE_EXHAUSTED,
  timeout: grpc.status.DEADLINE_EXCEEDED,
  cancelled: grpc.status.CANCELLED,
  unauthorized: grpc.status.UNAUTHENTICATED,
  unloaded: grpc.status.FAILED_PRECONDITION,
};

function serviceError(code: ErrorCode, message: string): grpc.ServiceError {
  const metadata = new grpc.Metadata();
  metadata.set(ERROR_CODE_METADATA, code);
  // Never UNAVAILABLE: a frontend reads that status as "this node is unreachable".
  return Object.assign(new Error(message), { code: GRPC_OF[code] ?? grpc.status.INTERNAL, details: message, metadata });
}

function toServiceError(e: unknown): grpc.ServiceError {
  if (e instanceof LoadoutError) return serviceError(e.code, e.message);
  return serviceError('backend_failed', (e as Error)?.message ?? String(e));
}

function replyOf(c: StreamChunk): Reply {
  const reply: Reply = { message: Buffer.from(c.text, 'utf8'), tokens: c.tokens, prompt_tokens: c.promptTokens };
  if (c.pieces) reply.pieces = c.pieces.map((p) => Buffer.from(p, 'utf8'));
  if (c.toolCalls?.length) reply.chat_deltas = [{ tool_calls: c.toolCalls }];
  return reply;
}

type AnyCall = grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>;

export class Gateway {
  private readonly live = new Map<string, number>();

  private constructor(
    private readonly server: grpc.Server,
    readonly port: number,
    private readonly o: GatewayOptions,
  ) {}

  static async start(o: GatewayOptions): Promise<Gateway> {
    const server = new grpc.Server({
      // A client gone without a FIN (a killed frontend's host, a cut link) is noticed in 10 + 5 s.
      'grpc.keepalive_time_ms': 10_000,
      'grpc.keepalive_timeout_ms': 5_000,
      'grpc.keepalive_permit_without_calls': 1,
      'grpc.http2.min_ping_interval_without_data_ms': 5_000,
      'grpc.max_receive_message_length': 128 * 1024 * 1024,
      'grpc.max_send_message_length': 128 * 1024 * 1024,
    });
    let gateway: Gateway | null = null;
    server.addService(backendService().service, handlers(() => gateway!));
    const host = o.host.includes(':') && !o.host.startsWith('[') ? `[${o.host}]` : o.host;
    const port = await new Promise<number>((resolve, reject) =>
      server.bindAsync(`${host}:${o.port}`, serverCredentials(o.cert), (err, p) => (err ? reject(new Error(`the gateway cannot listen on ${o.host}:${o.port} (${err.message}); pick another --listen`)) : resolve(p))),
    );
    gateway = new Gateway(server, port, o);
    return gateway;
  }

  /** Calls running now, per model (the record's stats and the frontend's in-flight view). */
  liveCalls(): Map<string, number> {
    return new Map(this.live);
  }

  totalLive(): number {
    let n = 0;
    for (const v of this.live.values()) n += v;
    return n;
  }

  async close(): Promise<void> {
    await new Promise<void>((resolve) => this.server.tryShutdown(() => resolve()));
  }

  /** Closes at once, ending running calls (a worker that stops). */
  forceClose(): void {
    this.server.forceShutdown();
  }

  /** The model a call may run, or the reason it may not (D11). */
  admit(call: AnyCall, model: string | null): LoadoutError | null {
    const auth = call.metadata.get('authorization')[0];
    const expected = Buffer.from(`Bearer ${this.o.token}`);
    const got = Buffer.from(typeof auth === 'string' ? auth : '');
    if (got.length !== expected.length || !timingSafeEqual(got, expected)) return new LoadoutError('unauthorized', `worker ${this.o.nodeName}: missing or wrong gateway token (it changes when the worker restarts; read it from the node record again)`);
    if (model === null) return null;
    if (!model) return new LoadoutError('invalid', 'ModelIdentity is empty: the gateway routes each call by it');
    let state: ModelState;
    try {
      state = this.o.row(model).state;
    } catch {
      return new LoadoutError('not_found', `worker ${this.o.nodeName} has no model named "${model}"`);
    }
    if (!isResident(state)) return new LoadoutError('unloaded', `model "${model}" is not loaded on worker ${this.o.nodeName} (it is ${state}); load it there first`);
    return null;
  }

  /** Counts the call while it runs and gives the signal that ends the work when the client goes. */
  track(call: AnyCall, model: string): { signal: AbortSignal; done: () => void } {
    const controller = new AbortController();
    const onCancel = () => controller.abort(new LoadoutError('cancelled', 'the frontend went away'));
    call.on('cancelled', onCancel);
    this.live.set(model, (this.live.get(model) ?? 0) + 1);
    let ended = false;
    return {
      signal: controller.signal,
      done: () => {
        if (ended) return;
        ended = true;
        call.off('cancelled', onCancel);
        const n = (this.live.get(model) ?? 1) - 1;
        if (n <= 0) this.live.delete(model);
        else this.live.set(model, n);
      },
    };
  }

  get router(): GatewayRouter {
    return this.o.router;
  }
}

function handlers(gw: () => Gateway): BackendHandlers {
  const unary = <T>(run: (req: PredictOptions__Output, signal: AbortSignal) => Promise<T>) =>
    ((call: grpc.ServerUnaryCall<PredictOptions__Output, T>, cb: grpc.sendUnaryData<T>) => {
      const g = gw();
      const model = call.request.ModelIdentity;
      const refused = g.admit(call, model);
      if (refused) return cb(toServiceError(refused));
      const t = g.track(call, model);
      run(call.request, t.signal).then(
        (r) => {
          t.done();
          cb(null, r);
        },
        (e) => {
          t.done();
          cb(toServiceError(e));
        },
      );
    }) as grpc.handleUnaryCall<PredictOptions__Output, T>;

  return {
    Health: (call, cb) => {
      const refused = gw().admit(call, null);
      if (refused) return cb(toServiceError(refused));
      cb(null, { message: Buffer.from('OK') });
    },
    Status: (call, cb) => {
      const refused = gw().admit(call, null);
      if (refused) return cb(toServiceError(refused));
      cb(null, { state: 'READY' });
    },
    LoadModel: (_call, cb) => cb(Object.assign(new Error('loads go through NATS (loadout.node.<name>.load), not the gateway'), { code: grpc.status.UNIMPLEMENTED })),
    Free: (_call, cb) => cb(Object.assign(new Error('unloads go through NATS (loadout.node.<name>.unload), not the gateway'), { code: grpc.status.UNIMPLEMENTED })),
    Predict: unary(async (req, signal) => replyOf(await gw().router.predict(req.ModelIdentity, req, { signal, origin: 'api' }))),
    Embedding: unary((req, signal) => gw().router.embed(req.ModelIdentity, req, { signal, origin: 'api' })),
    TokenizeString: unary((req, signal) => gw().router.tokenize(req.ModelIdentity, req, { signal, origin: 'api' })),
    PredictStream: (call) => {
      const g = gw();
      const model = call.request.ModelIdentity;
      const refused = g.admit(call, model);
      if (refused) {
        call.emit('error', toServiceError(refused));
        return;
      }
      const t = g.track(call, model);
      void (async () => {
        try {
          for await (const chunk of g.router.stream(model, call.request, { signal: t.signal, origin: 'api' })) {
            if (t.signal.aborted) break;
            // HTTP/2 flow control: wait while the client reads slower than we generate.
            if (!call.write(replyOf(chunk))) await new Promise<void>((r) => {
              const go = () => { call.off('drain', go); call.off('cancelled', go); r(); };
              call.once('drain', go);
              call.once('cancelled', go);
            });
          }
          t.done();
          if (!t.signal.aborted) call.end();
        } catch (e) {
          t.done();
          if (!t.signal.aborted) call.emit('error', toServiceError(e));
        }
      })();
    },
  } satisfies BackendHandlers;
}
