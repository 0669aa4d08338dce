import * as grpc from '@grpc/grpc-js';
import { backendService, type BackendHandlers, type Reply } from '../../wire';
import { BackendError, type Generation, type LlamaEngine, type Taken } from './engine';

const STATUS: Record<BackendError['code'], grpc.status> = {
  FAILED_PRECONDITION: grpc.status.FAILED_PRECONDITION,
  INVALID_ARGUMENT: grpc.status.INVALID_ARGUMENT,
  ABORTED: grpc.status.ABORTED,
  CANCELLED: grpc.status.CANCELLED,
  INTERNAL: grpc.status.INTERNAL,
};

function toServiceError(err: unknown): Partial<grpc.ServiceError> {
  if (err instanceof BackendError) return { code: STATUS[err.code], details: err.message, message: err.message };
  const message = err instanceof Error ? err.message : String(err);
  return { code: grpc.status.INTERNAL, details: message, message };
}

function finalReply(g: Generation, text: string): Reply {
  return {
    message: Buffer.from(text, 'utf8'),
    tokens: g.tokens,
    prompt_tokens: g.promptTokens,
    timing_prompt_processing: g.promptMs,
    timing_token_generation: g.generationMs,
  };
}

/**
 * Streams text with at most one reply per COALESCE_MS: the first piece goes out at once (time to
 * first token is untouched), later pieces from a timer, and pieces produced faster than that
 * ride together in the next reply.
 * Each reply costs CPU in both processes that the decode thread then competes with, which on a
 * 2-core machine showed in tokens/s: at 4 ms a model making ~350 tokens/s still sent about one
 * reply per token, and reached 0.86-0.92x llama-server's tokens/s against 0.96-0.99x at 16 ms
 * (bench:llama-server, `small-h64`, alternating runs). 16 ms is one display frame, the window the
 * API's SSE writes are joined in too (sse.ts), so the grouping is invisible in a UI.
 */
export const COALESCE_MS = 16;

export class CoalescingWriter {
  private take: (() => Taken) | null = null;
  private timer: NodeJS.Timeout | null = null;
  private lastWrite = -Infinity;

  constructor(private readonly write: (reply: Reply) => void, private readonly windowMs = COALESCE_MS) {}

  /** New tokens wait; `take` gives their text, called when the reply is due (engine.ts OnText). */
  push(take: () => Taken): void {
    this.take = take;
    if (this.timer) return;
    if (this.lastWrite === -Infinity) {
      this.flush();
      return;
    }
    // Even when a write is due, it goes out from a timer: node-llama-cpp calls us between two
    // evaluations, so a write done here would delay the next token; from a timer it overlaps
    // the next evaluation (which node-llama-cpp dispatches from setImmediate, before timers).
    const wait = Math.max(0, this.lastWrite + this.windowMs - performance.now());
    this.timer = setTimeout(() => this.flush(), wait);
  }

  flush(): void {
    if (this.timer) clearTimeout(this.timer);
    this.timer = null;
    const take = this.take;
    this.take = null;
    if (!take) return;
    const { pieces, tokens, promptTokens } = take();
    // Nothing whole yet (the first bytes of a character): the next token flushes at once again.
    if (pieces.length === 0) return;
    this.lastWrite = performance.now();
    this.write({
      message: Buffer.from(pieces.join(''), 'utf8'),
      // Each sampled token stays its own piece, so the API can send one event per token
      // (clarifications 2) while the pipe carries one reply per window.
      pieces: pieces.length > 1 ? pieces.map((p) => Buffer.from(p, 'utf8')) : [],
      tokens,
      prompt_tokens: promptTokens,
      timing_prompt_processing: 0,
      timing_token_generation: 0,
    });
  }
}

/** Aborts when the client cancels the call or goes away, so the work for it stops. */
function cancelSignal(call: grpc.ServerUnaryCall<unknown, unknown> | grpc.ServerWritableStream<unknown, unknown>): AbortSignal {
  const abort = new AbortController();
  if (call.cancelled) abort.abort(new BackendError('CANCELLED', 'The request was cancelled.'));
  else call.once('cancelled', () => abort.abort(new BackendError('CANCELLED', 'The request was cancelled.')));
  return abort.signal;
}

/** Runs `fn` as a unary handler: its value is the reply, a thrown error the gRPC status. */
function unary<Req, Res>(fn: (req: Req, call: grpc.ServerUnaryCall<Req, Res>) => Res | Promise<Res>): grpc.handleUnaryCall<Req, Res> {
  return (call, callback) => {
    Promise.resolve()
      .then(() => fn(call.request, call))
      .then(
        (res) => callback(null, res),
        (err: unknown) => callback(toServiceError(err)),
      );
  };
}

/** The Backend service's handlers over an engine. */
export function backendHandlers(engine: LlamaEngine): BackendHandlers {
  const Health: BackendHandlers['Health'] = unary(() => ({
    message: Buffer.from('OK'),
    tokens: 0,
    prompt_tokens: 0,
    timing_prompt_processing: 0,
    timing_token_generation: 0,
  }));
  const Status: BackendHandlers['Status'] = unary(async () => ({ ...engine.status(), gpu: await engine.gpuReport() }));
  const LoadModel: BackendHandlers['LoadModel'] = unary((req) => engine.load(req));
  const Free: BackendHandlers['Free'] = unary(() => engine.free());
  const TokenizeString: BackendHandlers['TokenizeString'] = unary((req, call) => engine.tokenize(req, cancelSignal(call)));
  const Embedding: BackendHandlers['Embedding'] = unary((req, call) => engine.embed(req, cancelSignal(call)));

  const Predict: BackendHandlers['Predict'] = unary(async (req, call) => {
    const g = await engine.generate(req, () => {}, cancelSignal(call));
    return finalReply(g, g.text);
  });

  const PredictStream: BackendHandlers['PredictStream'] = (call) => {
    const signal = cancelSignal(call);
    const out = new CoalescingWriter((reply) => {
      if (!call.cancelled) call.write(reply);
    });
    engine.generate(call.request, (take) => out.push(take), signal).then(
      (g) => {
        out.flush();
        if (call.cancelled) return;
        // The totals and timings ride on a last reply with no text.
        call.write(finalReply(g, ''));
        call.end();
      },
      (err: unknown) => {
        out.flush();
        if (!call.cancelled) call.emit('error', toServiceError(err));
      },
    );
  };

  return { Health, Status, LoadModel, Free, Predict, PredictStream, Embedding, TokenizeString };
}

export class AddressInUseError extends Error {}

/** Binds the Backend service on `addr` (insecure: loopback only) and starts serving. */
export function serve(addr: string, engine: LlamaEngine): Promise<grpc.Server> {
  const server = new grpc.Server({
    'grpc.max_receive_message_length': 64 * 1024 * 1024,
    'grpc.max_send_message_length': 64 * 1024 * 1024,
  });
  server.addService(backendService().service, backendHandlers(engine));
  return new Promise((resolve, reject) => {
    server.bindAsync(addr, grpc.ServerCredentials.createInsecure(), (err) => {
      if (err) {
        server.forceShutdown();
        reject(/EADDRINUSE|address already in use/i.test(err.message) ? new AddressInUseError(`address ${addr} is in use`) : err);
        return;
      }
      resolve(server);
    });
  });
}
