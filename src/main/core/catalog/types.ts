/** What the catalog knows about one model (C1-C6). */
import type { CatalogStatus, GgufInfo } from '../../../shared/model';

/** LocalAI's chat templates (Go text/template strings), the subset Loadout renders (C3). */
export interface TemplateConfig {
  chat?: string;
  chat_message?: string;
  completion?: string;
  function?: string;
  use_tokenizer_template?: boolean;
  /** What joins rendered chat messages (LocalAI default "\n"). */
  join_chat_messages_by_character?: string;
}

/** The config keys Loadout uses; everything else in the YAML is kept untouched. */
export interface ModelConfig {
  name: string;
  backend?: string;
  parameters: {
    /** File relative to the models dir, an absolute path, or a URI (huggingface://...). */
    model?: string;
    temperature?: number;
    top_p?: number;
    top_k?: number;
    max_tokens?: number;
    seed?: number;
  };
  context_size?: number;
  threads?: number;
  f16?: boolean;
  mmap?: boolean;
  gpu_layers?: number;
  /** LocalAI's GPU keys (V13): mapped for external backends, a row warning where the built-in one cannot honour them. */
  mmlock?: boolean;
  flash_attention?: boolean | string;
  main_gpu?: string;
  tensor_split?: string;
  no_kv_offloading?: boolean;
  embeddings?: boolean;
  stopwords: string[];
  concurrency_groups: string[];
  pinned: boolean;
  disabled: boolean;
  /** Seconds of idleness before unload (overrides idle_timeout). */
  ttl?: number;
  /** `key:value` strings, e.g. `parallel:4`. */
  options: string[];
  template?: TemplateConfig;
  /** `.SystemPrompt` of the templates (LocalAI's `system_prompt`). */
  system_prompt?: string;
  /** Role name prefixes used when there is no chat_message template (LocalAI's `roles`). */
  roles?: Record<string, string>;
  /** LocalAI's `download_files`: the files the model needs, with what a download must match where pinned (G24, G41). */
  download_files?: { filename: string; sha256?: string }[];
  /** Cluster: replicas kept across nodes and where they may run (D12, D21). */
  cluster?: { min_replicas?: number; max_replicas?: number; node_selector?: Record<string, string> };
}

export interface CatalogEntry {
  name: string;
  status: CatalogStatus;
  /** Why status is `error` (or what `not_downloaded` is waiting for). */
  error: string | null;
  config: ModelConfig;
  /** Absolute path of the YAML, or null for a bare GGUF. */
  configPath: string | null;
  /** Absolute path of the model file on disk, or null (not downloaded / missing / remote-only). */
  file: string | null;
  /** The URI of a file that is not on disk yet. */
  uri: string | null;
  sizeBytes: number | null;
  gguf: GgufInfo | null;
  /** Changes with any load parameter (file, context, threads, options, template...): C6 "reload to apply". */
  loadKey: string;
}

export type CatalogChange =
  | { type: 'upsert'; entry: CatalogEntry }
  | { type: 'remove'; name: string };
