/** The core's typed client of one backend (the wire messages are generated in src/wire). */
import type {
  EmbeddingResult__Output,
  ModelOptions,
  PredictOptions,
  Reply__Output,
  Result__Output,
  StatusResponse__Output,
  TokenizationResponse__Output,
} from '../../../wire';

/** Per-call options: a deadline and a cancel signal. */
export interface CallOptions {
  /** Milliseconds from now. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A typed client of one backend address. Every method rejects with a `GrpcCallError`. */
export interface BackendClient {
  readonly address: string;
  health(opts?: CallOptions): Promise<Reply__Output>;
  /** Polls Health fast (tens of ms, backing off) until it answers "OK", the timeout, or the signal. */
  waitReady(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
  loadModel(options: ModelOptions, opts?: CallOptions): Promise<Result__Output>;
  predict(options: PredictOptions, opts?: CallOptions): Promise<Reply__Output>;
  /** A server stream as an async iterator; aborting the signal (or breaking the loop) cancels the call. */
  predictStream(options: PredictOptions, opts?: CallOptions): AsyncIterable<Reply__Output>;
  embedding(options: PredictOptions, opts?: CallOptions): Promise<EmbeddingResult__Output>;
  tokenizeString(options: PredictOptions, opts?: CallOptions): Promise<TokenizationResponse__Output>;
  status(opts?: CallOptions): Promise<StatusResponse__Output>;
  free(opts?: CallOptions): Promise<Result__Output>;
  close(): void;
}
