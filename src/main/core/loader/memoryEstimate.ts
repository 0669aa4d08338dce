/** L7: what a model will hold in memory once loaded, before it is loaded. */
import type { CatalogEntry } from '../catalog/types';
import { estimateKvCacheBytes } from '../gguf/readGguf';

/**
 * A backend process's own memory before any model: the built-in backend (Node + node-llama-cpp)
 * measured 85 MB RSS idle on this project's Linux machines (the warm standby's RSS, Trust 5).
 * Measured RSS replaces the estimate once a model is loaded, and it includes this base.
 */
export const BACKEND_BASE_BYTES = 85 * 1000 ** 2;

/**
 * Weights (the file) + KV cache for the configured context (capped at 4096, what the built-in
 * backend allocates up front) + the backend process's base; null when the file size is unknown.
 * `baseBytes` is 0 for remote backends (their process is not ours).
 */
export function estimateMemory(entry: CatalogEntry, baseBytes = BACKEND_BASE_BYTES): number | null {
  if (entry.sizeBytes === null) return null;
  const context = entry.config.context_size || entry.gguf?.contextLength || 0;
  const kv = entry.gguf && context ? estimateKvCacheBytes(entry.gguf, Math.min(context, 4096)) : 0;
  return entry.sizeBytes + kv + baseBytes;
}
