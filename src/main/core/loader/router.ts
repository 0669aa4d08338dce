/**
 * The interface the rest of the core (createCore, the API, chats, the tray) uses to run models.
 * The local `Loader` implements it today; a cluster router that places models on other machines
 * implements the same interface later, so nothing above it changes. State changes reach the UI
 * as events (`model` rows, E1; `journal` entries, E2) through the `emit` the implementation is
 * constructed with, never through this interface.
 */
import type { ModelRow, Plan, Snapshot, UnloadReason } from '../../../shared/model';
import type {
  EmbeddingResult__Output as EmbeddingResult,
  PredictOptions,
  TokenizationResponse__Output as TokenizationResponse,
  ToolCallDelta__Output as ToolCallDelta,
} from '../../../wire';

/** Who asked for a load: the API's on-demand loads get the failure cooldown (L13), users never. */
export type LoadOrigin = 'user' | 'api' | 'restart';

export interface RequestOptions {
  signal?: AbortSignal;
  origin?: LoadOrigin;
}

export interface UnloadOptions {
  force?: boolean;
  reason?: UnloadReason;
  sentence?: string;
  /** The model whose load caused this unload (journal `by`). */
  by?: string | null;
}

export interface StreamChunk {
  text: string;
  /** The sampled tokens' texts when the backend sent several in one reply (`text` is their concatenation). */
  pieces?: string[];
  /** Totals, as the backend reports them (on the last chunk at least). */
  tokens: number;
  promptTokens: number;
  /** Pieces of tool calls (Reply.chat_deltas[].tool_calls), for backends that do function calling. */
  toolCalls?: ToolCallDelta[];
}

export interface ModelRouter {
  /** L1-L14: resident at once, else one coalesced load; the caller's signal only stops its wait. */
  load(name: string, opts?: RequestOptions): Promise<ModelRow>;
  /** U1/U2: resolves once the model's process has exited; cancels a load in progress (L12). */
  unload(name: string, opts?: UnloadOptions): Promise<void>;
  /** L12: false when nothing was loading. */
  cancelLoad(name: string): boolean;
  /** E3: the dry run of a load, the same decision the load acts on. */
  plan(name: string): Plan;
  /** R1-R5: a generation, loading the model on demand. */
  stream(name: string, options: PredictOptions, opts?: RequestOptions): AsyncGenerator<StreamChunk>;
  predict(name: string, options: PredictOptions, opts?: RequestOptions): Promise<StreamChunk>;
  embed(name: string, options: PredictOptions, opts?: RequestOptions): Promise<EmbeddingResult>;
  tokenize(name: string, options: PredictOptions, opts?: RequestOptions): Promise<TokenizationResponse>;
  rowOf(name: string): ModelRow;
  snapshot(): Snapshot;
  /** C3: the row says a config template failed and the GGUF's own is used. */
  setTemplateWarning(name: string, warning: string | null): void;
  /** C6/W4: catalog and settings changes apply at once. */
  catalogChanged(name: string, removed: boolean): void;
  enforcePolicy(): void;
  /** No load in progress and nothing generating (background work may run). */
  isQuiet(): boolean;
  /** U4: stops every backend. */
  dispose(): Promise<void>;
}
