import * as grpc from '@grpc/grpc-js';
import { backendService } from '../../main/core/grpc/proto';
import type {
  EmbeddingResult,
  HealthMessage,
  ModelOptions,
  PredictOptions,
  Reply,
  Result,
  StatusResponse,
  TokenizationResponse,
} from '../../main/core/grpc/types';
import { BackendError, type Generation, type LlamaEngine, type OnText } from './engine';

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
export function backendHandlers(engine: LlamaEngine): grpc.UntypedServiceImplementation {
  const Health = unary<HealthMessage, Reply>(() => ({
    message: Buffer.from('OK'),
    tokens: 0,
    prompt_tokens: 0,
    timing_prompt_processing: 0,
    timing_token_generation: 0,
  }));
  const Status = unary<HealthMessage, StatusResponse>(() => engine.status());
  const LoadModel = unary<ModelOptions, Result>((req) => engine.load(req));
  const Free = unary<HealthMessage, Result>(() => engine.free());
  const TokenizeString = unary<PredictOptions, TokenizationResponse>((req) => engine.tokenize(req));
  const Embedding = unary<PredictOptions, EmbeddingResult>((req) => engine.embed(req));

  const Predict = unary<PredictOptions, Reply>(async (req, call) => {
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    const g = await engine.generate(req, () => {}, abort.signal);
    return finalReply(g, g.text);
  });

  const PredictStream: grpc.handleServerStreamingCall<PredictOptions, Reply> = (call) => {
    const abort = new AbortController();
    call.on('cancelled', () => abort.abort());
    const onText: OnText = (text, so) => {
      if (call.cancelled) return;
      call.write({
        message: Buffer.from(text, 'utf8'),
        tokens: so.tokens,
        prompt_tokens: so.promptTokens,
        timing_prompt_processing: 0,
        timing_token_generation: 0,
      } satisfies Reply);
    };
    engine.generate(call.request, onText, abort.signal).then(
      (g) => {
        if (call.cancelled) return;
        // The totals and timings ride on a last reply with no text.
        call.write(finalReply(g, ''));
        call.end();
      },
      (err: unknown) => {
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
