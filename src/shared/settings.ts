/** Settings schema: defaults, validation and merging (pure; paths are filled in by the core). */
import type { GpuSetting, Settings } from './model';

/**
 * `duration`: seconds, at most MAX_DURATION_S. `size`: bytes, or a number with a unit (KB/MB/GB/TB
 * or KiB..TiB, all x1024). `header`: text sent in an HTTP header (the API key). `choice`: one of
 * the field's `choices`.
 */
type Kind = 'int' | 'duration' | 'size' | 'fraction' | 'bool' | 'string' | 'header' | 'strings' | 'port' | 'choice';

export const GPU_CHOICES: readonly GpuSetting[] = ['auto', 'cpu', 'metal', 'cuda', 'vulkan'];

/** A week: Node's timers overflow past 2^31-1 ms (24.8 days) and then fire at once. */
export const MAX_DURATION_S = 604_800;

/** Longest API key: far beyond any generated key, far below a header that servers refuse. */
export const MAX_HEADER_VALUE_CHARS = 512;

interface Field {
  kind: Kind;
  default: Settings[keyof Settings];
  /** CLI-only short alias (loader-spec.md). */
  alias?: string;
  help: string;
  /** The allowed values of a `choice`. */
  choices?: readonly string[];
  /** Write-only: every read shows SECRET_SET or '' (clarifications 6). */
  secret?: true;
  /** A `string` that must be an http(s) address. */
  url?: true;
}

/** What a read shows for a secret that is set; writing it back keeps the stored value. */
export const SECRET_SET = 'set';

/** Every setting, its type and default. `models_dir`/`data_dir` defaults are '' = derived at run time. */
export const SETTINGS_SCHEMA: Record<keyof Settings, Field> = {
  max_active_models: { kind: 'int', default: 0, alias: 'max-active', help: 'most local models kept loaded (0 = unlimited)' },
  idle_timeout: { kind: 'duration', default: 0, help: 'seconds idle before a model is unloaded (0 = never)' },
  stall_timeout: { kind: 'duration', default: 300, help: 'seconds without output before a request/load counts as stuck' },
  eviction_wait: { kind: 'duration', default: 30, help: 'seconds a load waits for a busy model to make room' },
  unload_grace: { kind: 'duration', default: 30, help: 'seconds an unload waits for running requests' },
  start_timeout: { kind: 'duration', default: 60, help: 'seconds for a backend process to answer Health' },
  load_timeout: { kind: 'duration', default: 0, help: 'seconds for LoadModel (0 = 5 min + 20 s per GiB)' },
  max_queue: { kind: 'int', default: 64, help: 'requests queued per model beyond its parallel slots' },
  memory_budget: { kind: 'size', default: 0, help: 'model memory allowed, in bytes or e.g. 8GB (x1024; 0 = off)' },
  memory_reclaimer: { kind: 'bool', default: false, help: 'unload idle models when system memory runs high' },
  memory_threshold: { kind: 'fraction', default: 0.95, help: 'system memory fraction that triggers the reclaimer' },
  load_failure_cooldown: { kind: 'duration', default: 10, help: 'seconds before an on-demand load retries a failed model (0 = off)' },
  models_dir: { kind: 'string', default: '', alias: 'models', help: 'folder scanned for models (default <data>/models)' },
  threads_budget: { kind: 'int', default: 0, help: 'CPU threads shared by generating models (0 = physical cores)' },
  data_dir: { kind: 'string', default: '', alias: 'data', help: 'folder for settings, logs and chats' },
  api_enabled: { kind: 'bool', default: true, help: 'serve the local HTTP API' },
  api_port: { kind: 'port', default: 8765, alias: 'port', help: 'HTTP port (0 = pick a free one)' },
  api_lan: { kind: 'bool', default: false, help: 'listen on the LAN too (needs an API key)' },
  api_key: { kind: 'header', default: '', help: 'Bearer key required by the API' },
  api_allowed_origins: { kind: 'strings', default: [], help: 'extra Origins allowed to call the API' },
  api_body_limit: { kind: 'size', default: 1048576, help: 'largest request body, in bytes or e.g. 4MB (x1024)' },
  api_load_wait: { kind: 'duration', default: 60, help: 'seconds an API request waits for a loading model' },
  warm_standby: { kind: 'bool', default: true, help: 'keep one built-in backend process started ahead of time, so loads skip its start-up (~100 MB)' },
  close_to_tray: { kind: 'bool', default: false, help: 'closing the main window keeps Loadout running in the tray (desktop app; default on for macOS and Windows, off on Linux, where some desktops show no tray)' },
  chat_shortcut: { kind: 'string', default: 'CommandOrControl+Shift+L', help: 'global shortcut that opens the chat window' },
  gpu: { kind: 'choice', choices: GPU_CHOICES, default: 'auto', help: 'where the built-in backend runs models: auto (the best GPU found, else the CPU), cpu, metal, cuda or vulkan' },
  vram_budget: { kind: 'size', default: 0, help: 'VRAM the models may use, in bytes or e.g. 6GB (x1024; 0 = total VRAM minus the reserve)' },
  vram_reserve: { kind: 'size', default: 1024 ** 3, help: 'VRAM always left free for other programs and the desktop (x1024)' },
  vram_reclaimer: { kind: 'bool', default: false, help: 'unload idle GPU models, least recently used first, when other programs fill the VRAM past the threshold (pinned models stay)' },
  vram_threshold: { kind: 'fraction', default: 0.95, help: 'fraction of VRAM in use, by any program, above which the VRAM reclaimer unloads' },
  download_concurrency: { kind: 'int', default: 2, help: 'downloads that transfer at once; others wait their turn' },
  download_connections: { kind: 'int', default: 4, help: 'connections (byte ranges) per downloaded file' },
  download_stall_timeout: { kind: 'duration', default: 30, help: 'seconds without a byte before a download reconnects' },
  download_retries: { kind: 'int', default: 8, help: 'failures in a row before a download stops as failed (retryable)' },
  download_resume_on_start: { kind: 'bool', default: true, help: 'resume the downloads that were running when Loadout quit' },
  download_reserve: { kind: 'size', default: 1024 ** 3, help: 'disk space a download always leaves free (x1024)' },
  auto_download: { kind: 'bool', default: false, help: 'loading a model that is not downloaded starts its download and waits' },
  hf_endpoint: { kind: 'string', url: true, default: 'https://huggingface.co', help: 'the Hugging Face Hub to download from and search (default from HF_ENDPOINT)' },
  hf_token: { kind: 'string', default: '', secret: true, help: 'Hugging Face access token for gated models (default from HF_TOKEN; never shown)' },
  ollama_registry: { kind: 'string', url: true, default: 'https://registry.ollama.ai', help: 'the Ollama registry ollama:// model names are pulled from' },
  cluster_nats_url: { kind: 'string', default: '', secret: true, help: 'NATS of a cluster to join, nats://user:password@host:4222 ("" = this machine alone; never shown, as it holds credentials)' },
  cluster_node_name: { kind: 'string', default: '', help: "this machine's name in the cluster (default: the host name)" },
  cluster_local_node: { kind: 'bool', default: true, help: 'in a cluster, this machine runs models too' },
  cluster_share_local_node: { kind: 'bool', default: false, help: "other frontends may load onto and evict from this machine's node" },
  cluster_tls_ca: { kind: 'string', default: '', help: 'CA file (PEM) for a tls:// NATS server' },
};

export const SECRET_KEYS = (Object.keys(SETTINGS_SCHEMA) as (keyof Settings)[]).filter((k) => SETTINGS_SCHEMA[k].secret);

/** Settings as every reader sees them: secrets replaced by "set" or "" (clarifications 6). */
export function maskSecrets(settings: Settings): Settings {
  const out = { ...settings } as Record<string, unknown>;
  for (const key of SECRET_KEYS) out[key] = settings[key] ? SECRET_SET : '';
  return out as unknown as Settings;
}

/** A patch without the secrets it only echoes back ("set" means: keep what is stored). */
export function dropEchoedSecrets(patch: Record<string, unknown>): Record<string, unknown> {
  return Object.fromEntries(Object.entries(patch).filter(([k, v]) => !((SECRET_KEYS as string[]).includes(k) && v === SECRET_SET)));
}

export const SETTING_KEYS = Object.keys(SETTINGS_SCHEMA) as (keyof Settings)[];

export function defaultSettings(): Settings {
  const out: Record<string, unknown> = {};
  for (const key of SETTING_KEYS) {
    const d = SETTINGS_SCHEMA[key].default;
    out[key] = Array.isArray(d) ? [...d] : d;
  }
  return out as unknown as Settings;
}

/** Parses one value (from JSON or a CLI string); returns an error sentence on a bad value. */
export function coerceSetting(
  key: keyof Settings,
  value: unknown,
): { ok: true; value: Settings[keyof Settings] } | { ok: false; error: string } {
  const field = SETTINGS_SCHEMA[key];
  const bad = (what: string) => ({ ok: false as const, error: `${key} must be ${what} (got ${JSON.stringify(value)})` });
  const asNumber = typeof value === 'string' && value.trim() !== '' ? Number(value) : value;
  switch (field.kind) {
    case 'int':
    case 'port': {
      if (typeof asNumber !== 'number' || !Number.isInteger(asNumber) || asNumber < 0) return bad('a whole number >= 0');
      if (field.kind === 'port' && asNumber > 65535) return bad('a port number 0-65535');
      return { ok: true, value: asNumber };
    }
    case 'duration':
      if (typeof asNumber !== 'number' || !Number.isFinite(asNumber) || asNumber < 0) return bad('a number of seconds >= 0');
      if (asNumber > MAX_DURATION_S) return bad(`at most ${MAX_DURATION_S} seconds (one week)`);
      return { ok: true, value: asNumber };
    case 'size': {
      const bytes = parseSize(value);
      if (bytes === null) return bad('a size in bytes, or a number with a unit such as 512MB or 8GB');
      return { ok: true, value: bytes };
    }
    case 'fraction':
      if (typeof asNumber !== 'number' || !(asNumber > 0 && asNumber <= 1)) return bad('a fraction between 0 and 1');
      return { ok: true, value: asNumber };
    case 'bool':
      if (typeof value === 'boolean') return { ok: true, value };
      if (value === 'true' || value === '1' || value === '') return { ok: true, value: true };
      if (value === 'false' || value === '0') return { ok: true, value: false };
      return bad('true or false');
    case 'string':
      if (typeof value !== 'string') return bad('text');
      if (field.url && !isHttpUrl(value)) return bad('an http:// or https:// address, such as https://huggingface.co');
      return { ok: true, value };
    case 'header': {
      if (typeof value !== 'string') return bad('text');
      const problem = headerValueProblem(value);
      return problem ? { ok: false, error: `${key} ${problem}` } : { ok: true, value };
    }
    case 'choice': {
      const choices = field.choices ?? [];
      const text = typeof value === 'string' ? value.trim().toLowerCase() : value;
      if (typeof text !== 'string' || !choices.includes(text)) return bad(`one of ${choices.join(', ')}`);
      return { ok: true, value: text as Settings[keyof Settings] };
    }
    case 'strings':
      if (typeof value === 'string') return { ok: true, value: value.split(',').map((s) => s.trim()).filter(Boolean) };
      if (Array.isArray(value) && value.every((v) => typeof v === 'string')) return { ok: true, value: [...value] };
      return bad('a list of text');
  }
}

/** Merges a partial update into settings; unknown keys and bad values are reported, never applied. */
export function mergeSettings(
  current: Settings,
  patch: Record<string, unknown>,
): { settings: Settings; errors: string[] } {
  const next = { ...current } as Record<string, unknown>;
  const errors: string[] = [];
  for (const [key, value] of Object.entries(patch)) {
    // Own keys only: "toString" or "__proto__" in user JSON is an unknown setting, not Object's.
    if (!Object.hasOwn(SETTINGS_SCHEMA, key)) {
      errors.push(`unknown setting "${key}"`);
      continue;
    }
    const r = coerceSetting(key as keyof Settings, value);
    if (r.ok) next[key] = r.value;
    else errors.push(r.error);
  }
  return { settings: next as unknown as Settings, errors };
}

const SIZE_UNITS: Record<string, number> = { b: 0, k: 1, kb: 1, kib: 1, m: 2, mb: 2, mib: 2, g: 3, gb: 3, gib: 3, t: 4, tb: 4, tib: 4 };

/** Bytes from a whole number or a string like "8GB", "1.5 GiB", "512m" (every unit is x1024); null when not a size. */
export function parseSize(value: unknown): number | null {
  let bytes: number;
  if (typeof value === 'number') {
    bytes = value;
  } else if (typeof value === 'string') {
    const m = /^\s*(\d+(?:\.\d+)?)\s*([a-z]*)\s*$/i.exec(value);
    const power = m ? SIZE_UNITS[m[2].toLowerCase() || 'b'] : undefined;
    if (!m || power === undefined) return null;
    bytes = Math.round(Number(m[1]) * 1024 ** power);
  } else {
    return null;
  }
  return Number.isSafeInteger(bytes) && bytes >= 0 ? bytes : null;
}

/**
 * Why `value` cannot be sent as an HTTP header value by every client (as `Authorization: Bearer
 * <key>`), or null when it can. Empty means "no key".
 */
export function headerValueProblem(value: string): string | null {
  if (value === '') return null;
  if (value.length > MAX_HEADER_VALUE_CHARS) return `is ${value.length} characters long; use at most ${MAX_HEADER_VALUE_CHARS}`;
  if (value.trim() === '') return 'is only spaces; leave it empty for no key';
  if (!/^[\x21-\x7e]+$/.test(value)) return 'may hold only printable ASCII letters, digits and symbols (no spaces, line breaks, control characters or accents), since it is sent in an HTTP header';
  return null;
}

function isHttpUrl(value: string): boolean {
  try {
    const u = new URL(value);
    return (u.protocol === 'http:' || u.protocol === 'https:') && !u.username && !u.password;
  } catch {
    return false;
  }
}
