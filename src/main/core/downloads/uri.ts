import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { DownloadError } from './errors';

/**
 * Model URIs (downloads-spec section 2): one parser for the catalog (which only needs the target
 * name, to tell whether a file is present) and the download engine (which needs the URL).
 */

export const SUPPORTED_SCHEMES = ['huggingface://', 'hf://', 'hf.co/', 'huggingface.co/', 'https://', 'http://', 'github:', 'file://', 'ollama://'];

export const DEFAULT_HF_ENDPOINT = 'https://huggingface.co';
export const DEFAULT_OLLAMA_REGISTRY = 'https://registry.ollama.ai';

export interface UriOptions {
  hfEndpoint?: string;
  ollamaRegistry?: string;
  /** Needed for file:// (which must point inside it). */
  modelsDir?: string;
  /** Extensions a target may end in; default `.gguf` (clarifications 11). */
  extensions?: string[];
}

export type ModelUri =
  | { kind: 'hub'; uri: string; url: string; target: string; repo: string; revision: string; file: string }
  | { kind: 'url'; uri: string; url: string; target: string }
  | { kind: 'github'; uri: string; url: string; target: string }
  | { kind: 'file'; uri: string; path: string; target: string }
  | { kind: 'ollama'; uri: string; url: string; target: string; namespace: string; name: string; tag: string };

function invalid(message: string): DownloadError {
  return new DownloadError('invalid', message);
}

function trimSlash(s: string): string {
  return s.replace(/\/+$/, '');
}

function encodePath(p: string): string {
  return p.split('/').map(encodeURIComponent).join('/');
}

function lastSegment(p: string): string {
  const last = p.slice(p.lastIndexOf('/') + 1);
  try {
    return decodeURIComponent(last);
  } catch {
    return last;
  }
}

/** `owner/repo[@rev]/path[@rev]` -> parts (G2: the revision may follow the repo or the file). */
function parseHubPath(rest: string, uri: string): { repo: string; revision: string; file: string } {
  const parts = rest.split(/[?#]/)[0].split('/');
  if (parts.length < 3 || parts.some((p) => p === '')) throw invalid(`"${uri}" needs owner/repo/path/to/file.gguf (optionally @revision after the repo or the file)`);
  let revision = 'main';
  let repoName = parts[1];
  const at = repoName.indexOf('@');
  if (at >= 0) {
    revision = repoName.slice(at + 1);
    repoName = repoName.slice(0, at);
  }
  const fileParts = parts.slice(2);
  const last = fileParts[fileParts.length - 1];
  const fat = last.lastIndexOf('@');
  if (fat > 0) {
    revision = last.slice(fat + 1);
    fileParts[fileParts.length - 1] = last.slice(0, fat);
  }
  if (revision === '') throw invalid(`"${uri}" has an empty @revision`);
  return { repo: `${parts[0]}/${repoName}`, revision, file: fileParts.join('/') };
}

/** A Hub web URL path: `/o/r/resolve|blob/rev/path` (G1: /blob/ pages become /resolve/). */
function parseHubWebPath(p: string, uri: string): { repo: string; revision: string; file: string } | null {
  const m = /^\/([^/]+)\/([^/]+)\/(?:resolve|blob)\/([^/]+)\/(.+)$/.exec(p);
  if (!m) return null;
  let file: string;
  try {
    file = decodeURIComponent(m[4]);
  } catch {
    throw invalid(`"${uri}" is not a valid URL`);
  }
  return { repo: `${m[1]}/${m[2]}`, revision: decodeURIComponent(m[3]), file };
}

function hubUri(uri: string, hf: { repo: string; revision: string; file: string }, opts: UriOptions): ModelUri {
  const endpoint = trimSlash(opts.hfEndpoint ?? DEFAULT_HF_ENDPOINT);
  const url = `${endpoint}/${hf.repo}/resolve/${encodeURIComponent(hf.revision)}/${encodePath(hf.file)}`;
  return { kind: 'hub', uri, url, target: checkTarget(lastSegment(hf.file), opts), ...hf };
}

const RESERVED = /^(con|prn|aux|nul|com[0-9]|lpt[0-9])(\..*)?$/i;

/** Why a target file name is unsafe, or null when it is fine (G3, clarifications 11). */
export function targetProblem(name: string, extensions: string[] = ['.gguf']): string | null {
  if (name === '') return 'the file name is empty';
  if (name.includes('\0')) return 'the file name contains a NUL byte';
  if (name.includes('\\')) return 'the file name contains a backslash';
  if (name.includes('/') || path.isAbsolute(name)) return 'the file name contains a folder (/)';
  if (/^[a-zA-Z]:/.test(name)) return 'the file name starts with a drive letter';
  if (name === '.' || name === '..') return 'the file name is . or ..';
  if (name.startsWith('.')) return 'the file name is hidden (starts with a dot)';
  if (RESERVED.test(name)) return `"${name}" is a reserved device name on Windows`;
  if (Buffer.byteLength(name) > 255) return 'the file name is longer than 255 bytes';
  // eslint-disable-next-line no-control-regex
  if (/[\x00-\x1f<>:"|?*]/.test(name)) return 'the file name contains a character Windows does not allow';
  const lower = name.toLowerCase();
  if (lower.endsWith('.yaml') || lower.endsWith('.yml')) return 'a download never writes a config (.yaml/.yml)';
  if (!extensions.some((ext) => lower.endsWith(ext.toLowerCase()))) return `the file name must end in ${extensions.join(' or ')}`;
  if (lower.endsWith('.part') || lower.endsWith('.part.json')) return 'the file name ends like a partial download';
  return null;
}

function checkTarget(name: string, opts: UriOptions): string {
  const problem = targetProblem(name, opts.extensions);
  if (problem) throw invalid(`Unsafe download target "${name.replace(/\0/g, '\\0')}": ${problem}`);
  return name;
}

/** The absolute path of a target inside the models folder; refuses anything that escapes it (G3). */
export function targetPath(modelsDir: string, target: string, extensions?: string[]): string {
  const problem = targetProblem(target, extensions);
  if (problem) throw invalid(`Unsafe download target "${target}": ${problem}`);
  const root = path.resolve(modelsDir);
  const full = path.resolve(root, target);
  if (path.dirname(full) !== root) throw invalid(`Unsafe download target "${target}": it is outside the models folder`);
  return full;
}

/**
 * Parses a model URI into its URL and target file name (G1, G2); throws DownloadError `invalid`
 * (400) naming the supported schemes, or the reason the target is unsafe (G3).
 */
export function parseModelUri(input: string, opts: UriOptions = {}): ModelUri {
  const uri = input.trim();
  const lower = uri.toLowerCase();
  for (const prefix of ['huggingface://', 'hf://']) {
    if (lower.startsWith(prefix)) return hubUri(uri, parseHubPath(uri.slice(prefix.length), uri), opts);
  }
  for (const prefix of ['hf.co/', 'huggingface.co/']) {
    if (lower.startsWith(prefix)) {
      const rest = uri.slice(prefix.length);
      const web = parseHubWebPath(`/${rest.split(/[?#]/)[0]}`, uri);
      return hubUri(uri, web ?? parseHubPath(rest, uri), opts);
    }
  }
  if (lower.startsWith('https://') || lower.startsWith('http://')) {
    let u: URL;
    try {
      u = new URL(uri);
    } catch {
      throw invalid(`"${uri}" is not a valid URL`);
    }
    if (u.username || u.password) throw invalid(`"${uri}" carries credentials in the URL; set hf_token instead`);
    const host = u.hostname.toLowerCase();
    const endpointHost = opts.hfEndpoint ? new URL(opts.hfEndpoint).host : null;
    if (host === 'huggingface.co' || host === 'hf.co' || u.host === endpointHost) {
      const web = parseHubWebPath(u.pathname, uri);
      if (web) return hubUri(uri, web, opts);
    }
    if (u.pathname === '' || u.pathname.endsWith('/')) throw invalid(`"${uri}" does not name a file`);
    return { kind: 'url', uri, url: u.toString(), target: checkTarget(lastSegment(u.pathname), opts) };
  }
  if (lower.startsWith('github:')) {
    const rest = uri.slice(lower.startsWith('github://') ? 'github://'.length : 'github:'.length);
    const hf = parseHubPath(rest, uri);
    const url = `https://raw.githubusercontent.com/${hf.repo}/${encodeURIComponent(hf.revision)}/${encodePath(hf.file)}`;
    return { kind: 'github', uri, url, target: checkTarget(lastSegment(hf.file), opts) };
  }
  if (lower.startsWith('file://')) {
    if (!opts.modelsDir) throw invalid('file:// URIs need the models folder');
    let p: string;
    try {
      p = fileURLToPath(uri);
    } catch {
      throw invalid(`"${uri}" is not a valid file:// URI`);
    }
    const root = path.resolve(opts.modelsDir);
    const full = path.resolve(p);
    const rel = path.relative(root, full);
    if (rel === '' || rel.startsWith('..') || path.isAbsolute(rel)) throw invalid(`"${uri}" is outside the models folder (${root}); only files inside it may be named with file://`);
    return { kind: 'file', uri, path: full, target: checkTarget(path.basename(full), opts) };
  }
  if (lower.startsWith('ollama://')) {
    const m = /^(?:([a-z0-9][a-z0-9._-]*)\/)?([a-z0-9][a-z0-9._-]*)(?::([A-Za-z0-9][A-Za-z0-9._-]*))?$/i.exec(uri.slice('ollama://'.length));
    if (!m) throw invalid(`"${uri}" must look like ollama://[namespace/]name[:tag]`);
    const [, ns = 'library', name, tag = 'latest'] = m;
    const registry = trimSlash(opts.ollamaRegistry ?? DEFAULT_OLLAMA_REGISTRY);
    const url = `${registry}/v2/${ns}/${name}/manifests/${tag}`;
    return { kind: 'ollama', uri, url, namespace: ns, name, tag, target: checkTarget(`${name}-${tag}.gguf`, opts) };
  }
  const scheme = /^([a-z][a-z0-9+.-]*):/i.exec(uri)?.[1];
  throw invalid(`${scheme ? `The scheme "${scheme}:" is not supported` : `"${uri}" is not a model URI`}; use one of ${SUPPORTED_SCHEMES.join(', ')}`);
}

/** Whether a model reference is a URI (rather than a file in the models folder). */
export function isModelUri(ref: string): boolean {
  return /^(huggingface:\/\/|hf:\/\/|hf\.co\/|huggingface\.co\/|https?:\/\/|github:|file:\/\/|ollama:\/\/)/i.test(ref.trim());
}

/**
 * The file name a URI downloads to, or null when the URI is not one we can download to a safe
 * name. For the catalog, which asks "is this model's file present?" (G2).
 */
export function uriTarget(uri: string, opts: UriOptions = {}): string | null {
  try {
    return parseModelUri(uri, { ...opts, modelsDir: opts.modelsDir ?? '/' }).target;
  } catch {
    return null;
  }
}
