import type { CatalogEntry } from '../catalog/types';
import { estimateKvCacheBytes } from '../gguf/readGguf';

/** Context tokens the estimate reserves KV cache for: most requests use far less than the model allows. */
const ESTIMATED_CONTEXT = 4096;

/**
 * The memory a model needs once loaded, before it has run: its file plus the KV cache of its
 * context (up to ESTIMATED_CONTEXT tokens). Null when the file's size is unknown.
 */
export function estimateModelMemory(entry: CatalogEntry): number | null {
  if (entry.sizeBytes === null) return null;
  const context = entry.config.context_size || entry.gguf?.contextLength || 0;
  const kv = entry.gguf && context ? estimateKvCacheBytes(entry.gguf, Math.min(context, ESTIMATED_CONTEXT)) : 0;
  return entry.sizeBytes + kv;
}
