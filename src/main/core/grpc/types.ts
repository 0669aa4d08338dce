/** TypeScript shapes of the proto messages as @grpc/proto-loader delivers them (keepCase, defaults). */

export type HealthMessage = Record<string, never>;

export interface Result {
  message: string;
  success: boolean;
}

export interface ToolCallDelta {
  index: number;
  id: string;
  name: string;
  arguments: string;
}

export interface ChatDelta {
  content: string;
  reasoning_content: string;
  tool_calls: ToolCallDelta[];
}

export interface Reply {
  message: Buffer | Uint8Array;
  tokens: number;
  prompt_tokens: number;
  timing_prompt_processing: number;
  timing_token_generation: number;
  logprobs?: Buffer | Uint8Array;
  chat_deltas?: ChatDelta[];
}

export interface ChatMessage {
  role: string;
  content: string;
  name?: string;
  tool_call_id?: string;
  reasoning_content?: string;
  tool_calls?: string;
}

export interface TokenizationResponse {
  length: number;
  tokens: number[];
}

export interface EmbeddingResult {
  embeddings: number[];
  tokens: number;
  dim: number;
  prompt_tokens: number;
}

export interface MemoryUsageData {
  total: number;
  breakdown: Record<string, number>;
}

export type StatusState = 'UNINITIALIZED' | 'BUSY' | 'READY' | 'ERROR';

export interface StatusResponse {
  state: StatusState;
  memory: MemoryUsageData | null;
  load_progress: number;
}

export interface ModelOptions {
  Model: string;
  ContextSize?: number;
  Seed?: number;
  NBatch?: number;
  F16Memory?: boolean;
  MLock?: boolean;
  MMap?: boolean;
  Embeddings?: boolean;
  NUMA?: boolean;
  NGPULayers?: number;
  MainGPU?: string;
  TensorSplit?: string;
  Threads?: number;
  RopeFreqBase?: number;
  RopeFreqScale?: number;
  ModelFile?: string;
  LoraAdapter?: string;
  DraftModel?: string;
  MMProj?: string;
  Type?: string;
  FlashAttention?: string;
  NoKVOffload?: boolean;
  ModelPath?: string;
  Options?: string[];
  CacheTypeKey?: string;
  CacheTypeValue?: string;
}

export interface PredictOptions {
  Prompt?: string;
  Seed?: number;
  Threads?: number;
  /** Max new tokens. */
  Tokens?: number;
  TopK?: number;
  Repeat?: number;
  Batch?: number;
  NKeep?: number;
  Temperature?: number;
  /** Repeat penalty. */
  Penalty?: number;
  StopPrompts?: string[];
  IgnoreEOS?: boolean;
  TailFreeSamplingZ?: number;
  TypicalP?: number;
  FrequencyPenalty?: number;
  PresencePenalty?: number;
  Mirostat?: number;
  MirostatETA?: number;
  MirostatTAU?: number;
  LogitBias?: string;
  Grammar?: string;
  TopP?: number;
  Embeddings?: string;
  UseTokenizerTemplate?: boolean;
  Messages?: ChatMessage[];
  CorrelationId?: string;
  Tools?: string;
  ToolChoice?: string;
  Metadata?: Record<string, string>;
  MinP?: number;
  ModelIdentity?: string;
}

/** Per-call options: a deadline and a cancel signal. */
export interface CallOptions {
  /** Milliseconds from now. */
  timeoutMs?: number;
  signal?: AbortSignal;
}

/** A typed client of one backend address. Every method rejects with a `GrpcCallError`. */
export interface BackendClient {
  readonly address: string;
  health(opts?: CallOptions): Promise<Reply>;
  /** Polls Health fast (tens of ms, backing off) until it answers "OK", the timeout, or the signal. */
  waitReady(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void>;
  loadModel(options: ModelOptions, opts?: CallOptions): Promise<Result>;
  predict(options: PredictOptions, opts?: CallOptions): Promise<Reply>;
  /** A server stream as an async iterator; aborting the signal (or breaking the loop) cancels the call. */
  predictStream(options: PredictOptions, opts?: CallOptions): AsyncIterable<Reply>;
  embedding(options: PredictOptions, opts?: CallOptions): Promise<EmbeddingResult>;
  tokenizeString(options: PredictOptions, opts?: CallOptions): Promise<TokenizationResponse>;
  status(opts?: CallOptions): Promise<StatusResponse>;
  free(opts?: CallOptions): Promise<Result>;
  close(): void;
}
