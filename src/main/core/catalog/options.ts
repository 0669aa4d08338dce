/** LocalAI's `options` list (`key:value` strings) and the one option Loadout reads itself. */
import type { ModelConfig } from './types';

/** The option names LocalAI's llama.cpp backend accepts for parallel slots (R2). */
export const PARALLEL_KEYS = ['parallel', 'n_parallel'] as const;

/**
 * `["parallel:4", "use_jinja:true"]` -> `{ parallel: "4", use_jinja: "true" }`. Splits at the first
 * colon; an item without one is a flag (`"true"`). The first occurrence of a key wins, as the
 * backend reads options in order and stops at the first match.
 */
export function parseOptions(options: string[]): Record<string, string> {
  const out: Record<string, string> = {};
  for (const item of options) {
    const at = item.indexOf(':');
    const key = (at < 0 ? item : item.slice(0, at)).trim();
    const value = at < 0 ? 'true' : item.slice(at + 1).trim();
    if (key !== '' && !(key in out)) out[key] = value;
  }
  return out;
}

/** The `parallel` value of an options map, or undefined when absent; NaN when it is not a whole number. */
export function parallelOption(options: Record<string, string>): number | undefined {
  for (const key of PARALLEL_KEYS) {
    const raw = options[key];
    if (raw === undefined) continue;
    return /^\d+$/.test(raw) ? Number(raw) : NaN;
  }
  return undefined;
}

/** Concurrent requests a model takes (R2): `parallel` from options, default 1, at least 1. */
export function parallelOf(config: ModelConfig): number {
  const n = parallelOption(parseOptions(config.options));
  return n !== undefined && Number.isInteger(n) && n >= 1 ? n : 1;
}

/** True for an options item that sets parallel slots (`parallel:4`, `n_parallel: 2`). */
export function isParallelItem(item: string): boolean {
  const at = item.indexOf(':');
  const key = (at < 0 ? item : item.slice(0, at)).trim();
  return (PARALLEL_KEYS as readonly string[]).includes(key);
}
