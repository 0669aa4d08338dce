/** Settings schema: defaults, validation and merging (pure; paths are filled in by the core). */
import type { Settings } from './model';

type Kind = 'int' | 'number' | 'fraction' | 'bool' | 'string' | 'strings' | 'port';

interface Field {
  kind: Kind;
  default: Settings[keyof Settings];
  /** CLI-only short alias (loader-spec.md). */
  alias?: string;
  help: string;
}

/** Every setting, its type and default. `models_dir`/`data_dir` defaults are '' = derived at run time. */
export const SETTINGS_SCHEMA: Record<keyof Settings, Field> = {
  max_active_models: { kind: 'int', default: 0, alias: 'max-active', help: 'most local models kept loaded (0 = unlimited)' },
  idle_timeout: { kind: 'number', default: 0, help: 'seconds idle before a model is unloaded (0 = never)' },
  stall_timeout: { kind: 'number', default: 300, help: 'seconds without output before a request/load counts as stuck' },
  eviction_wait: { kind: 'number', default: 30, help: 'seconds a load waits for a busy model to make room' },
  unload_grace: { kind: 'number', default: 30, help: 'seconds an unload waits for running requests' },
  start_timeout: { kind: 'number', default: 60, help: 'seconds for a backend process to answer Health' },
  load_timeout: { kind: 'number', default: 0, help: 'seconds for LoadModel (0 = 5 min + 20 s per GiB)' },
  max_queue: { kind: 'int', default: 64, help: 'requests queued per model beyond its parallel slots' },
  memory_budget: { kind: 'int', default: 0, help: 'bytes of model memory allowed (0 = off)' },
  memory_reclaimer: { kind: 'bool', default: false, help: 'unload idle models when system memory runs high' },
  memory_threshold: { kind: 'fraction', default: 0.95, help: 'system memory fraction that triggers the reclaimer' },
  load_failure_cooldown: { kind: 'number', default: 10, help: 'seconds before an on-demand load retries a failed model (0 = off)' },
  models_dir: { kind: 'string', default: '', alias: 'models', help: 'folder scanned for models (default <data>/models)' },
  threads_budget: { kind: 'int', default: 0, help: 'CPU threads shared by generating models (0 = physical cores)' },
  data_dir: { kind: 'string', default: '', alias: 'data', help: 'folder for settings, logs and chats' },
  api_enabled: { kind: 'bool', default: true, help: 'serve the local HTTP API' },
  api_port: { kind: 'port', default: 8765, alias: 'port', help: 'HTTP port (0 = pick a free one)' },
  api_lan: { kind: 'bool', default: false, help: 'listen on the LAN too (needs an API key)' },
  api_key: { kind: 'string', default: '', help: 'Bearer key required by the API' },
  api_allowed_origins: { kind: 'strings', default: [], help: 'extra Origins allowed to call the API' },
  api_body_limit: { kind: 'int', default: 1048576, help: 'largest request body in bytes' },
  api_load_wait: { kind: 'number', default: 60, help: 'seconds an API request waits for a loading model' },
  warm_standby: { kind: 'bool', default: true, help: 'keep one built-in backend process started ahead of time, so loads skip its start-up (~100 MB)' },
  close_to_tray: { kind: 'bool', default: false, help: 'closing the main window keeps Loadout running in the tray (desktop app; default on for macOS and Windows, off on Linux, where some desktops show no tray)' },
  chat_shortcut: { kind: 'string', default: 'CommandOrControl+Shift+L', help: 'global shortcut that opens the chat window' },
};

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
    case 'number':
      if (typeof asNumber !== 'number' || !Number.isFinite(asNumber) || asNumber < 0) return bad('a number >= 0');
      return { ok: true, value: asNumber };
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
      return { ok: true, value };
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
    if (!(key in SETTINGS_SCHEMA)) {
      errors.push(`unknown setting "${key}"`);
      continue;
    }
    const r = coerceSetting(key as keyof Settings, value);
    if (r.ok) next[key] = r.value;
    else errors.push(r.error);
  }
  return { settings: next as unknown as Settings, errors };
}
