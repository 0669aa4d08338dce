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

const PATCH_KEYS = new Set(['pinned', 'concurrency_groups', 'ttl', 'context_size', 'parallel', 'disabled', 'cluster']);
/** Replicas one model may ask for (a sanity bound, far above any cluster's node count). */
const MAX_REPLICAS = 1000;
/** A node label's key and value, as `--labels k=v` takes them (workerCli.ts). */
const LABEL_KEY = /^[A-Za-z0-9_.\-/]{1,63}$/;
const LABEL_VALUE = /^[A-Za-z0-9_.\-]{0,63}$/;
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
  if (p.cluster !== undefined) out.cluster = validateCluster(p.cluster);
  return out;
}

/** D35: the `cluster:` block; null when nothing is left in it (the key is removed). */
function validateCluster(v: unknown): ConfigPatch['cluster'] {
  if (v === null) return null;
  if (typeof v !== 'object' || Array.isArray(v)) throw new LoadoutError('invalid', `cluster must be an object like {"min_replicas": 1, "max_replicas": 2}, or null, not ${show(v)}.`);
  const o = v as Record<string, unknown>;
  const unknown = Object.keys(o).filter((k) => !['min_replicas', 'max_replicas', 'node_selector'].includes(k));
  if (unknown.length > 0) throw new LoadoutError('invalid', `cluster cannot have ${unknown.join(', ')}: only min_replicas, max_replicas and node_selector.`);
  const out: NonNullable<ConfigPatch['cluster']> = {};
  for (const key of ['min_replicas', 'max_replicas'] as const) {
    const n = o[key];
    if (n === undefined || n === null) continue;
    if (!(typeof n === 'number' && Number.isInteger(n) && n >= 0 && n <= MAX_REPLICAS)) throw new LoadoutError('invalid', `cluster.${key} must be a whole number from 0 to ${MAX_REPLICAS} (or null), not ${show(n)}.`);
    out[key] = n;
  }
  if (typeof out.min_replicas === 'number' && typeof out.max_replicas === 'number' && out.min_replicas > out.max_replicas) {
    throw new LoadoutError('invalid', `cluster.min_replicas (${out.min_replicas}) cannot be more than max_replicas (${out.max_replicas}).`);
  }
  const sel = o.node_selector;
  if (sel !== undefined && sel !== null) {
    if (typeof sel !== 'object' || Array.isArray(sel)) throw new LoadoutError('invalid', `cluster.node_selector must be an object of node labels like {"gpu": "cuda"}, not ${show(sel)}.`);
    const entries = Object.entries(sel as Record<string, unknown>);
    for (const [k, val] of entries) {
      if (!LABEL_KEY.test(k) || typeof val !== 'string' || !LABEL_VALUE.test(val)) {
        throw new LoadoutError('invalid', `cluster.node_selector: ${show(k)}=${show(val)} is not a label (key: 1-63 letters, digits, _ . - /; value: up to 63 letters, digits, _ . -).`);
      }
    }
    if (entries.length > 0) out.node_selector = Object.fromEntries(entries) as Record<string, string>;
  }
  return Object.keys(out).length > 0 ? out : null;
}

function show(v: unknown): string {
  const s = JSON.stringify(v);
  return s === undefined ? String(v) : s.length > 60 ? `${s.slice(0, 60)}...` : s;
}
