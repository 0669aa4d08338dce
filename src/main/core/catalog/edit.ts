/**
 * GUI edits of a model's config (C6), written to its YAML with comments, key order and unknown
 * keys kept; a bare GGUF gets a new YAML next to it. What may be edited is checked here first.
 */
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import { isMap } from 'yaml';
import { LoadoutError } from '../../../shared/errors';
import { MAX_DURATION_S } from '../../../shared/settings';
import { storageError } from '../fsx/storageError';
import { writeFileAtomic } from '../fsx/writeFileAtomic';
import { readAtMost } from './caches';
import { editConfigText, newConfigText, type ConfigPatch } from './editConfig';
import { MAX_CONFIG_BYTES, parseConfigDocument } from './parseConfig';
import { GGUF_RE, SPLIT_RE, toRel } from './paths';
import type { CatalogEntry } from './types';

export async function patchConfigFile(configPath: string, patch: ConfigPatch): Promise<void> {
  // Write through a symlinked YAML to its target instead of replacing the link with a file.
  const real = await fs.realpath(configPath).catch(() => configPath);
  let text: string | null;
  let stat: Stats;
  try {
    stat = await fs.stat(real);
    text = await readAtMost(real, MAX_CONFIG_BYTES);
  } catch (e) {
    throw new LoadoutError('not_found', `Cannot read ${configPath}: ${(e as Error).message}`);
  }
  const doc = text === null ? null : parseConfigDocument(text);
  if (text === null || doc === null || typeof doc === 'string' || doc.errors.length > 0 || !isMap(doc.contents)) {
    throw new LoadoutError('invalid', `${configPath} changed on disk and is no longer a valid model config; fix it first.`);
  }
  const next = editConfigText(text, patch);
  if (next !== text) await writeAtomic(real, next, stat.mode & 0o777);
}

/** Writes a new YAML next to a bare GGUF; `dir` is the models folder. */
export async function createConfigFor(dir: string, entry: CatalogEntry, patch: ConfigPatch): Promise<void> {
  const file = entry.file as string;
  const folder = path.dirname(file);
  const base = path.basename(file);
  const stem = (SPLIT_RE.exec(base)?.[1] ?? base).replace(GGUF_RE, '');
  let target = path.join(folder, `${stem}.yaml`);
  for (let n = 2; await exists(target) || (await exists(target.replace(/\.yaml$/, '.yml'))); n++) {
    target = path.join(folder, `${stem}-${n}.yaml`);
  }
  const model = entry.config.parameters.model ?? toRel(dir, file);
  await writeAtomic(target, newConfigText(entry.name, model, toRel(dir, file), patch));
}

async function exists(file: string): Promise<boolean> {
  try {
    await fs.lstat(file);
    return true;
  } catch {
    return false;
  }
}

/** Readers (the watcher, LocalAI) never see half a file. */
async function writeAtomic(file: string, text: string, mode = 0o644): Promise<void> {
  try {
    await writeFileAtomic(file, text, { mode });
  } catch (e) {
    throw storageError(e, `Cannot save ${file}`, 'the models folder');
  }
}

const PATCH_KEYS = new Set(['pinned', 'concurrency_groups', 'ttl', 'context_size', 'parallel', 'disabled']);
const MAX_TTL = MAX_DURATION_S;
const MAX_CONTEXT = 1 << 24;
const MAX_PARALLEL = 256;

export function validatePatch(patch: unknown): ConfigPatch {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
    throw new LoadoutError('invalid', 'A model edit must be an object like { "pinned": true }.');
  }
  // Keys present but undefined (a form's untouched fields) mean "no change".
  const p = Object.fromEntries(Object.entries(patch).filter(([, v]) => v !== undefined));
  const unknown = Object.keys(p).filter((k) => !PATCH_KEYS.has(k));
  if (unknown.length > 0) {
    throw new LoadoutError('invalid', `Cannot edit ${unknown.join(', ')}: only ${[...PATCH_KEYS].join(', ')} can be changed here.`);
  }
  const out: ConfigPatch = {};
  for (const key of ['pinned', 'disabled'] as const) {
    if (p[key] === undefined) continue;
    if (typeof p[key] !== 'boolean') throw new LoadoutError('invalid', `${key} must be true or false, not ${show(p[key])}.`);
    out[key] = p[key] as boolean;
  }
  if (p.concurrency_groups !== undefined) {
    const g = p.concurrency_groups;
    if (!Array.isArray(g) || g.some((x) => typeof x !== 'string')) {
      throw new LoadoutError('invalid', `concurrency_groups must be a list of group names, not ${show(g)}.`);
    }
    const groups = [...new Set((g as string[]).map((x) => x.trim()))];
    const bad = groups.find((x) => x === '' || x.length > 100 || /[\u0000-\u001f]/.test(x));
    if (bad !== undefined) {
      throw new LoadoutError('invalid', `Group names must be 1-100 characters on one line; ${show(bad)} is not.`);
    }
    out.concurrency_groups = groups;
  }
  const int = (key: 'ttl' | 'context_size' | 'parallel', min: number, max: number, what: string): void => {
    const v = p[key];
    if (v === undefined) return;
    if (v !== null && !(typeof v === 'number' && Number.isInteger(v) && v >= min && v <= max)) {
      throw new LoadoutError('invalid', `${key} must be ${what} from ${min} to ${max} (or null for the default), not ${show(v)}.`);
    }
    out[key] = v as number | null;
  };
  int('ttl', 0, MAX_TTL, 'a whole number of seconds');
  int('context_size', 1, MAX_CONTEXT, 'a whole number of tokens');
  int('parallel', 1, MAX_PARALLEL, 'a whole number of slots');
  return out;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 60)}...` : s;
}
