/** File names the catalog recognises, and how paths are shown. */
import path from 'node:path';

export const CONFIG_RE = /\.ya?ml$/i;
export const GGUF_RE = /\.gguf$/i;
export const SPLIT_RE = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;

/** `file` relative to `root` with `/` separators, or as given when it lies outside. */
export function toRel(root: string, file: string): string {
  const rel = path.relative(root, file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel.split(path.sep).join('/');
}
