/** Names shared by every part of Loadout (core, GUI, API, CLI); see loader-spec.md. */
import type { ClusterSnapshot, ModelReplica } from './cluster';
import type { ErrorCode, ErrorData } from './errors';
import type { ChatEvent } from './chat';

export type CatalogStatus = 'ok' | 'error' | 'not_downloaded' | 'disabled';

export type ModelState = 'unloaded' | 'starting' | 'loading' | 'ready' | 'busy' | 'stopping' | 'failed';

export const OCCUPYING_STATES: readonly ModelState[] = ['starting', 'loading', 'ready', 'busy', 'stopping'];
export const RESIDENT_STATES: readonly ModelState[] = ['ready', 'busy'];

export function isOccupying(state: ModelState): boolean {
  return OCCUPYING_STATES.includes(state);
}
export function isResident(state: ModelState): boolean {
  return state === 'ready' || state === 'busy';
}

export interface Failure {
  code: ErrorCode;
  message: string;
  exitCode: number | null;
  signal: string | null;
  stderr: string | null;
}

export interface MemoryInfo {
  estimateBytes: number | null;
  rssBytes: number | null;
  vramBytes: number | null;
  /** VRAM the model needs at its planned layers, before it loads (V4); null: no GPU involved. */
  vramEstimateBytes: number | null;
}

export type GpuType = 'metal' | 'cuda' | 'vulkan';

/**
 * One GPU backend type as node-llama-cpp reports it: VRAM summed over its devices, with their
 * names (clarification 4). `unified`: Apple-style memory shared with the CPU, where `totalBytes`
 * is the working-set limit.
 */
export interface GpuDevice {
  type: GpuType;
  names: string[];
  totalBytes: number;
  freeBytes: number;
  /** VRAM held by Loadout's models and its warm standby. */
  usedByLoadoutBytes: number;
  unified: boolean;
}

/** Where a loaded model runs (the row's placement). `device: 'cpu'` has 0 GPU layers. */
export interface Placement {
  device: GpuType | 'cpu';
  gpuLayers: number;
  totalLayers: number;
  /** Why not every layer is on the GPU ("runs on the CPU: no GPU found (...)", V1, V6); absent when all are. */
  note?: string | null;
}

/** What the GGUF header says about a model file (C5). */
export interface GgufInfo {
  architecture: string | null;
  name: string | null;
  parameterCount: number | null;
  contextLength: number | null;
  quantization: string | null;
  /** Size in bytes of the GGUF's own chat template (null: none). The text stays in the file: rows travel to every page. */
  chatTemplateBytes: number | null;
  embeddingLength: number | null;
  blockCount: number | null;
  headCount: number | null;
  headCountKv: number | null;
}

export interface ModelRow {
  name: string;
  status: CatalogStatus;
  error: string | null;
  backend: string;
  file: string | null;
  sizeBytes: number | null;
  groups: string[];
  pinned: boolean;
  state: ModelState;
  failure: Failure | null;
  pid: number | null;
  address: string | null;
  loadedAt: string | null;
  loadStartedAt: string | null;
  lastUsed: string | null;
  inFlight: number;
  queued: number;
  progress: number | null;
  memory: MemoryInfo;
  // Beyond the shared minimum: what the GUI shows next to a row.
  ttl: number | null;
  contextSize: number | null;
  parallel: number;
  configPath: string | null;
  gguf: GgufInfo | null;
  /** Load parameters changed on disk since this instance loaded: "reload to apply" (C6). */
  reloadPending: boolean;
  /** Set when a config template failed to render and the GGUF's template is used instead (C3). */
  templateWarning: string | null;
  /** Config keys its backend cannot honour (V13: the built-in backend and tensor_split...), one line each. */
  warnings?: string[];
  /** True when the backend is a remote host:port (no local process). */
  remote: boolean;
  /** What a request that sets no sampling gets (the chat's "model default (0.7)"). */
  sampling: SamplingDefaults;
  /** Where the loaded instance runs ("GPU 20/32", "CPU"); null while not loaded. */
  placement: Placement | null;
  /** In a cluster: the model's replicas on each node (the row shows the best one's state). */
  replicas?: ModelReplica[];
  /** Its YAML's `cluster:` block (replica policy, D35); null when it has none. */
  cluster?: ModelClusterPolicy | null;
  /** In a cluster, for a model this machine's catalog lacks: the nodes that have it (D34). */
  onNodes?: string[];
}

/** A model's `cluster:` block: replicas kept and allowed, and the labels its nodes must have. */
export interface ModelClusterPolicy {
  min_replicas?: number;
  max_replicas?: number;
  node_selector?: Record<string, string>;
}

export interface SamplingDefaults {
  temperature: number;
  top_p: number;
  /** null: until the context is full or the model stops. */
  max_tokens: number | null;
  /** null: random. */
  seed: number | null;
}

/** Loadout's own sampling where neither the request nor the model's config sets it. */
export const BUILTIN_SAMPLING = { temperature: 0.7, top_p: 0.95 } as const;

export function samplingDefaults(p: { temperature?: number; top_p?: number; max_tokens?: number; seed?: number } | undefined): SamplingDefaults {
  return { temperature: p?.temperature ?? BUILTIN_SAMPLING.temperature, top_p: p?.top_p ?? BUILTIN_SAMPLING.top_p, max_tokens: p?.max_tokens ?? null, seed: p?.seed ?? null };
}

export type UnloadReason =
  | 'lru'
  | 'group'
  | 'memory'
  | 'idle'
  | 'stalled'
  | 'reclaimer'
  | 'vram_pressure'
  | 'scale_down'
  | 'node_lost'
  | 'drain'
  | 'crashed'
  | 'settings'
  | 'user'
  | 'shutdown';

export interface PlannedUnload {
  name: string;
  reason: UnloadReason;
  sentence: string;
}

export interface Plan {
  model: string;
  ok: boolean;
  unloads: PlannedUnload[];
  failure: { code: ErrorCode; message: string } | null;
  /** Where the load would put the model and why ("loads 20 of 33 layers on the GPU: 3.1 GB VRAM free", V6); absent when no GPU is involved. */
  gpu?: { placement: Placement; vramEstimateBytes: number; sentence: string } | null;
}

export interface JournalEntry {
  at: string;
  model: string;
  reason: UnloadReason;
  sentence: string;
  by: string | null;
  /** In a cluster: the node the model was unloaded on, and the frontend that decided it. */
  node?: string | null;
  frontend?: string | null;
}

export interface Snapshot {
  models: ModelRow[];
  /** Resident model names, least recently used first. */
  lru: string[];
  groups: Record<string, string[]>;
  pending: string[];
  settings: Settings;
  /** The backend process started ahead of time with no model yet (I3's one exception), or null. */
  standby?: { pid: number; backend: string } | null;
  /** Why the saved settings file cannot be used (then no settings are saved and the API stays off), or null. */
  settingsProblem?: string | null;
  /** Settings set by a command-line flag for this run (they win over the saved value until saved again). */
  flags?: (keyof Settings)[];
  /** Download jobs, running and finished this run (G35). */
  downloads?: DownloadJob[];
  /** GPUs, one entry per GPU backend type (clarification 4); empty without a GPU. */
  gpus?: GpuDevice[];
  /** A line for the GPU panel: the CUDA pack's progress, or why it could not be fetched (V14). */
  gpuNotice?: string | null;
  /** Nodes and replicas when this app is part of a cluster (`cluster_nats_url` set), else null. */
  cluster?: ClusterSnapshot | null;
}

/** The llama-server Loadout would run for `backend: llama-server` (Engine 1), for Settings > Backends. */
export interface LlamaServerStatus {
  /** null: none found (then `why` says how to get one). */
  path: string | null;
  source: 'setting' | 'path' | 'built' | null;
  /** Its `--version` line. */
  version: string | null;
  /** GPU devices its `--list-devices` names (empty: a CPU-only build). */
  devices: string[];
  /** Runs on the same kind of device as the built-in engine (clarification 9): the GUI may call it faster. */
  faster: boolean;
  why: string | null;
}

/** Engine 2, "optimize for this machine": a local build of node-llama-cpp's binding (clarifications 9). */
export interface EngineBuildStatus {
  /** Whether a build can run here; when not, `reason` says why in words the user can act on. */
  offered: boolean;
  reason: string | null;
  /** A local build is in place: backends started from now on use it on the CPU. */
  active: boolean;
  state: 'idle' | 'building' | 'done' | 'failed';
  /** Build steps done and in all, from the compiler's progress (0 of 0 before it starts counting). */
  step: number;
  steps: number;
  /** The compiler's --version line. */
  compiler: string | null;
  /** Why the last build failed, with its last output lines. */
  error: string | null;
}

export interface Settings {
  max_active_models: number;
  idle_timeout: number;
  stall_timeout: number;
  eviction_wait: number;
  unload_grace: number;
  start_timeout: number;
  load_timeout: number;
  max_queue: number;
  memory_budget: number;
  memory_reclaimer: boolean;
  memory_threshold: number;
  load_failure_cooldown: number;
  models_dir: string;
  threads_budget: number;
  data_dir: string;
  api_enabled: boolean;
  api_port: number;
  api_lan: boolean;
  api_key: string;
  api_allowed_origins: string[];
  api_body_limit: number;
  api_load_wait: number;
  warm_standby: boolean;
  close_to_tray: boolean;
  chat_shortcut: string;
  gpu: GpuSetting;
  vram_budget: number;
  vram_reserve: number;
  vram_reclaimer: boolean;
  vram_threshold: number;
  download_concurrency: number;
  download_connections: number;
  download_stall_timeout: number;
  download_retries: number;
  download_resume_on_start: boolean;
  download_reserve: number;
  auto_download: boolean;
  hf_endpoint: string;
  /** A secret: every read shows "set" or "" (clarifications 6). */
  hf_token: string;
  ollama_registry: string;
  /** A secret (it holds the NATS credentials): every read shows "set" or "". */
  cluster_nats_url: string;
  cluster_node_name: string;
  cluster_local_node: boolean;
  cluster_share_local_node: boolean;
  cluster_tls_ca: string;
  llama_server_path: string;
}

/** Where the built-in backend runs models: the best GPU found, the CPU, or one GPU API. */
export type GpuSetting = 'auto' | 'cpu' | 'metal' | 'cuda' | 'vulkan';

/** An external backend the user registered: a program (spawned) or a host:port (remote). */
export interface BackendEntry {
  name: string;
  /** Absolute program path, or `host:port`. */
  target: string;
  kind: 'program' | 'remote';
  builtin: boolean;
}

export interface LogLine {
  at: string;
  stream: 'stdout' | 'stderr' | 'loadout';
  text: string;
}

/** One request to the local HTTP API, for the GUI's live request log. */
export interface RequestLogEntry {
  at: string;
  /** Remote address (and User-Agent product, when sent). */
  client: string;
  method: string;
  path: string;
  model: string | null;
  status: number;
  /** Completion tokens generated, when the request generated any. */
  tokens: number | null;
  durationMs: number;
  error: string | null;
}

/** The HTTP server as the GUI shows it. */
export interface ServerStatus {
  listening: boolean;
  url: string | null;
  host: string;
  port: number | null;
  /** Why it is not listening (port in use, disabled). */
  error: string | null;
  apiKeySet: boolean;
}

/** Events the core emits (E1, E2). */
export type CoreEvent =
  | { type: 'model'; row: ModelRow }
  | { type: 'removed'; name: string }
  | { type: 'journal'; entry: JournalEntry }
  | { type: 'settings'; settings: Settings; settingsProblem?: string | null; flags?: (keyof Settings)[] }
  /** A download job changed (state, or progress at most 4 a second: G34). */
  | { type: 'download'; job: DownloadJob }
  /** The cluster view changed (nodes, replicas, NATS state); at most a few a second. */
  | { type: 'cluster'; cluster: ClusterSnapshot | null }
  | { type: 'log'; model: string; line: LogLine }
  | { type: 'request'; entry: RequestLogEntry }
  | { type: 'server'; status: ServerStatus }
  /** The warm standby backend process appeared, was adopted by a load, or went away. */
  | { type: 'standby'; standby: Snapshot['standby'] }
  /** The GPUs' VRAM changed (V3: read at start and every 5 s while GPU models run); the snapshot's `gpus`. */
  | { type: 'gpus'; gpus: GpuDevice[]; notice?: string | null }
  | ChatEvent;

/** Downloads (downloads-spec section 4): one job per target file. */
export type JobState = 'queued' | 'resolving' | 'downloading' | 'paused' | 'verifying' | 'done' | 'failed' | 'cancelled';
/** `cluster`: a peer fetch (`nats:<sha256>`, D29), whose sha256 the frontend named. */
export type ShaSource = 'config' | 'caller' | 'hub' | 'ollama' | 'cluster';

export interface DownloadJob {
  id: string;
  model: string | null;
  uri: string;
  target: string;
  state: JobState;
  error: (ErrorData & { retryable: boolean }) | null;
  /** Why a job restarted or what is off about it, shown to the user (G23, G28). */
  notice: string | null;
  totalBytes: number | null;
  receivedBytes: number;
  /** Smoothed over about 5 s. */
  bytesPerSec: number;
  etaSeconds: number | null;
  sha256: { expected: string | null; source: ShaSource | null; actual: string | null };
  /** Published without a known sha256: only the size was checked (G28). */
  unverified: boolean;
}

