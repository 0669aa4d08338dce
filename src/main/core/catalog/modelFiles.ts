/**
 * What a config's `parameters.model` and template names point at on disk (C1, C2, C5): the
 * model file with its size, split parts and GGUF header, or a URI not downloaded yet.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import type { GgufInfo } from '../../../shared/model';
import type { ScanCaches } from './caches';
import { uriTarget } from '../downloads/uri';
import { SPLIT_RE } from './paths';
import type { ModelConfig } from './types';
import { fileId, type FoundFile } from './walkModelsDir';

const URI_RE = /^([a-z][a-z0-9+.-]*):\/\//i;
const TEMPLATE_KEYS = ['chat', 'chat_message', 'completion', 'function'] as const;

/** What a scan learned about one model file on disk. */
export interface ModelFile {
  file: string;
  sizeBytes: number | null;
  gguf: GgufInfo | null;
  error: string | null;
  /** Size and mtime of every part: a change to any of them is a reload. */
  version: string;
  /** Paths and ids of the files this model uses, so they are not listed again as bare GGUFs. */
  claims: string[];
}

/** Result of resolving `parameters.model`. */
export type Resolved =
  | { kind: 'none' }
  | { kind: 'file'; file: ModelFile }
  | { kind: 'uri'; uri: string }
  | { kind: 'missing'; message: string };

/** One scan's view of the folder: its root, its caches and the GGUFs the walk found by path. */
export interface ScanContext {
  dir: string;
  caches: ScanCaches;
  byPath: Map<string, FoundFile>;
}

/**
 * LocalAI compatibility: a template value that names a `<value>.tmpl` file in the models folder
 * means that file's content (older configs say `chat: chatml` and ship chatml.tmpl).
 */
export async function resolveTemplates(ctx: ScanContext, config: ModelConfig, problems: string[]): Promise<ModelConfig> {
  const t = config.template;
  if (!t) return config;
  let out: ModelConfig | null = null;
  for (const key of TEMPLATE_KEYS) {
    const v = t[key];
    if (v === undefined || v.includes('{{') || v.includes('\n') || v.length > 200) continue;
    const file = path.join(ctx.dir, `${v}.tmpl`);
    const text = await ctx.caches.template(file);
    if (text === null) continue;
    if (text === 'tooBig') {
      problems.push(`template.${key} names ${v}.tmpl, which is over 1 MB and was not read; a template is a few KB.`);
      continue;
    }
    out ??= { ...config, template: { ...t } };
    (out.template as NonNullable<ModelConfig['template']>)[key] = text;
  }
  return out ?? config;
}

/** `parameters.model`: relative to the models folder (or the YAML's folder), absolute, or a URI (C2). */
export async function resolveModel(ctx: ScanContext, config: ModelConfig, f: FoundFile): Promise<Resolved> {
  let ref = config.parameters.model;
  if (ref === undefined) return { kind: 'none' };
  const scheme = URI_RE.exec(ref)?.[1].toLowerCase();
  if (scheme === 'file') {
    ref = decodeURI(ref.slice('file://'.length));
  } else if (scheme !== undefined) {
    // The downloader's own URI -> file name (G2), so a finished download is the file we look for.
    const fileName = uriTarget(ref);
    const local = fileName ? await describeFile(ctx, path.join(ctx.dir, fileName), undefined) : null;
    // G41: a split model is downloaded when every part is (a part is only published once verified).
    const partsThere = (config.download_files ?? []).every((f) => safeInside(ctx.dir, f.filename) && existsSync(path.join(ctx.dir, f.filename)));
    return local && partsThere ? { kind: 'file', file: local } : { kind: 'uri', uri: ref };
  }
  const candidates = path.isAbsolute(ref)
    ? [ref]
    : [...new Set([path.resolve(ctx.dir, ref), path.resolve(path.dirname(f.path), ref)])];
  for (const candidate of candidates) {
    const file = await describeFile(ctx, candidate, ctx.byPath.get(candidate));
    if (file) return { kind: 'file', file };
  }
  const looked = candidates.map((c) => path.dirname(c)).filter((d, i, all) => all.indexOf(d) === i);
  return {
    kind: 'missing',
    message:
      `model file not found: ${candidates[0]}` +
      (looked.length > 1 ? ` (also looked in ${looked.slice(1).join(', ')})` : '') +
      `. Put the file there, or fix parameters.model in ${f.rel}.`,
  };
}

/** Size, GGUF header and split parts of a model file; null when there is nothing at `file`. */
export async function describeFile(ctx: ScanContext, file: string, found: FoundFile | undefined): Promise<ModelFile | null> {
  const st = found ?? (await statFile(file));
  if (st === null) return null;
  if (st === 'dir') {
    // Some backends take a folder (diffusers, transformers); nothing to measure or read.
    return { file, sizeBytes: null, gguf: null, error: null, version: 'dir', claims: [file] };
  }
  const claims = [file];
  if (st.id !== '') claims.push(st.id);
  let sizeBytes = st.size;
  let version = `${st.size}:${st.mtimeMs}`;
  const problems: string[] = [];

  const split = SPLIT_RE.exec(path.basename(file));
  if (split) {
    const [, base, indexText, totalText] = split;
    const index = Number(indexText);
    const total = Number(totalText);
    if (index !== 1) {
      problems.push(`${path.basename(file)} is part ${index} of a split model; use the first part (${base}-00001-of-${totalText}.gguf).`);
    }
    const missing: string[] = [];
    for (let i = 1; i <= total; i++) {
      if (i === index) continue;
      const part = path.join(path.dirname(file), `${base}-${String(i).padStart(5, '0')}-of-${totalText}.gguf`);
      const ps = ctx.byPath.get(part) ?? (await statFile(part));
      if (ps === null || ps === 'dir') {
        missing.push(String(i));
        continue;
      }
      claims.push(part);
      if (ps.id !== '') claims.push(ps.id);
      sizeBytes += ps.size;
      version += `|${ps.size}:${ps.mtimeMs}`;
    }
    if (missing.length > 0) {
      problems.push(`split model incomplete: part ${missing.join(', ')} of ${total} missing next to ${path.basename(file)}.`);
    }
  }

  const header = await ctx.caches.header(file, st);
  if (header.error) problems.push(header.error);
  return { file, sizeBytes, gguf: header.gguf, error: problems.length > 0 ? problems.join(' ') : null, version, claims };
}

async function statFile(file: string): Promise<FoundFile | 'dir' | null> {
  try {
    const s = await fs.stat(file);
    if (s.isDirectory()) return 'dir';
    if (!s.isFile()) return null;
    return { path: file, rel: file, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, id: fileId(s) };
  } catch {
    return null;
  }
}

/** A `download_files` name that stays inside the models folder (a config cannot point a part elsewhere). */
function safeInside(dir: string, name: string): boolean {
  const full = path.resolve(dir, name);
  return full.startsWith(path.resolve(dir) + path.sep);
}
