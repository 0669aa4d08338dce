/** L7: what a model will hold in memory once loaded, before it is loaded. */
import type { ResolvedBackend } from '../backends/types';
import type { CatalogEntry } from '../catalog/types';
import { estimateKvCacheBytes } from '../gguf/readGguf';

/** Context tokens the estimate reserves KV cache for: most requests use far less than the model allows. */
const ESTIMATED_CONTEXT = 4096;

/**
 * A backend process's own memory before any model: the built-in backend (Node + node-llama-cpp)
 * measured 85 MB RSS idle on this project's Linux machines (the warm standby's RSS, Trust 5).
 * Measured RSS replaces the estimate once a model is loaded, and it includes this base.
 */
export const BACKEND_BASE_BYTES = 85 * 1000 ** 2;

/**
 * The memory a model needs once loaded, before it has run: its file plus the KV cache of its
 * context (up to ESTIMATED_CONTEXT tokens) plus the backend process's base (`baseBytes`; 0 for a
 * remote backend, whose process is not ours). Null when the file's size is unknown.
 */
export function estimateModelMemory(entry: CatalogEntry, baseBytes = BACKEND_BASE_BYTES): number | null {
  if (entry.sizeBytes === null) return null;
  const context = entry.config.context_size || entry.gguf?.contextLength || 0;
  const kv = entry.gguf && context ? estimateKvCacheBytes(entry.gguf, Math.min(context, ESTIMATED_CONTEXT)) : 0;
  return entry.sizeBytes + kv + baseBytes;
}

/** The estimate for the loader: the backend's base counts only where we run the process. */
export function memoryEstimator(resolve: (backend: string) => ResolvedBackend): (entry: CatalogEntry) => number | null {
  const remote = (entry: CatalogEntry): boolean => {
    if (!entry.config.backend) return false;
    try {
      return resolve(entry.config.backend).kind === 'remote';
    } catch {
      return false; // an unknown backend fails at load with its own message
    }
  };
  return (entry) => estimateModelMemory(entry, remote(entry) ? 0 : BACKEND_BASE_BYTES);
}
