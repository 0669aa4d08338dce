/**
 * One scan of the models folder (C1, C2, C4): walk it, parse the configs, pair them with their
 * model files, give every model one name, and build the rows. Nothing in the folder can make a
 * scan fail: every problem becomes one model's `error`.
 */
import path from 'node:path';
import { name as nameCheck } from '../../../shared/argCheck';
import type { ScanCaches } from './caches';
import { toEntry, type Draft } from './entry';
import { describeFile, resolveModel, resolveTemplates, type Resolved, type ScanContext } from './modelFiles';
import { emptyConfig } from './parseConfig';
import { CONFIG_RE, GGUF_RE, SPLIT_RE } from './paths';
import type { CatalogEntry, ModelConfig } from './types';
import { walkModelsDir, type WalkLimits } from './walkModelsDir';

/** Cold header reads in flight at once: enough to hide latency, few enough not to exhaust fds. */
const READ_CONCURRENCY = 8;

export interface ScanResult {
  entries: Map<string, CatalogEntry>;
  /** Models whose YAML cannot be parsed, with why: they cannot be edited from the GUI. */
  unreadable: Map<string, string>;
  /** Every folder visited, the root first: the set to watch. */
  dirs: string[];
  /** Bounds the walk hit: what was left out of the catalog, and why. */
  limits: string[];
  /** Folders that could not be read. */
  problems: string[];
}

export interface ScanInput {
  dir: string;
  caches: ScanCaches;
  /** True when the result is no longer wanted (the catalog was disposed). */
  cancelled: () => boolean;
  /** Who held each name after the last scan (name -> config path, or GGUF path for a bare one). */
  owners: ReadonlyMap<string, string>;
  limits: WalkLimits;
}

/** Scans the models folder; null when the result is no longer wanted. */
export async function scanModelsDir({ dir, caches, cancelled, owners, limits }: ScanInput): Promise<ScanResult | null> {
  const walk = await walkModelsDir(dir, (n) => CONFIG_RE.test(n) || GGUF_RE.test(n), limits);
  if (cancelled()) return null;
  const ggufs = walk.files.filter((f) => GGUF_RE.test(f.path));
  const configs = walk.files.filter((f) => CONFIG_RE.test(f.path));
  const ctx: ScanContext = { dir, caches, byPath: new Map(ggufs.map((f) => [f.path, f])) };
  caches.beginScan();
  const claimed = new Set<string>();

  // Parse configs (cached) and resolve their model files.
  const parsed = await mapLimit(configs, READ_CONCURRENCY, async (f) => {
    const p = await caches.config(f, dir);
    if (p === null) return null;
    const templateProblems: string[] = [];
    const config = await resolveTemplates(ctx, p.config, templateProblems);
    const resolved = p.unreadable ? ({ kind: 'none' } as Resolved) : await resolveModel(ctx, config, f);
    return { f, p: templateProblems.length > 0 ? { ...p, problems: [...p.problems, ...templateProblems] } : p, config, resolved };
  });

  const rows = parsed.filter((r): r is NonNullable<typeof r> => r !== null);
  const unreadable = new Map<string, string>();
  const candidates: Candidate[] = [];
  // Readable configs come first, in path order; a broken file never takes a good one's name.
  for (const { f, p, config, resolved } of rows.filter((r) => r.p.unreadable === null)) {
    if (resolved.kind === 'file') for (const c of resolved.file.claims) claimed.add(c);
    candidates.push({
      wanted: config.name,
      owner: f.path,
      rel: f.rel,
      draft: (name, ownedBy) => ({
        name,
        config: named(config, name),
        configPath: f.path,
        problems: ownedBy === null ? [...p.problems] : [`duplicate name ${config.name}: ${ownedBy}. Rename one of them.`, ...p.problems],
        resolved,
      }),
    });
  }
  for (const { f, p, config } of rows.filter((r) => r.p.unreadable !== null)) {
    candidates.push({
      wanted: config.name,
      owner: f.path,
      rel: f.rel,
      draft: (name) => {
        unreadable.set(name, p.unreadable as string);
        return { name, config: named(config, name), configPath: f.path, problems: p.problems, resolved: { kind: 'none' } };
      },
    });
  }

  // GGUFs no config uses become models of their own (C1).
  const bare = ggufs.filter((g) => !claimed.has(g.path) && !(g.id !== '' && claimed.has(g.id)) && isModelFileName(g.path));
  const bareFiles = await mapLimit(bare, READ_CONCURRENCY, (g) => describeFile(ctx, g.path, g));
  bare.forEach((g, i) => {
    const file = bareFiles[i];
    if (file === null) return;
    // A multimodal projector is not a model, whatever its name (C1).
    if (file.gguf?.architecture === 'clip') return;
    const rel = g.rel;
    const stem = (SPLIT_RE.exec(path.basename(rel))?.[1] ?? path.basename(rel)).replace(GGUF_RE, '');
    candidates.push({
      wanted: stem,
      owner: g.path,
      rel,
      bare: true,
      draft: (name) => {
        const config: ModelConfig = { ...emptyConfig(name), backend: 'llama-cpp', parameters: { model: rel } };
        const badName = nameCheck(stem, 'the name this file gives its model');
        return { name, config, configPath: null, problems: badName === null ? [] : [`${badName}: rename ${rel}.`], resolved: { kind: 'file', file } };
      },
    });
  });

  const drafts = assignNames(candidates, owners);

  if (cancelled()) return null;
  const entries = new Map<string, CatalogEntry>();
  for (const d of drafts) entries.set(d.name, toEntry(d));
  caches.prune(configs);
  return { entries, unreadable, dirs: walk.dirs, limits: walk.limits, problems: walk.problems };
}

/** A model that wants a name: a config file (by its `name`) or a bare GGUF (by its file stem). */
interface Candidate {
  wanted: string;
  /** The config's path, or the bare GGUF's: what holds a name from one scan to the next. */
  owner: string;
  rel: string;
  bare?: boolean;
  /** Its draft under `name`; `ownedBy` says who has the wanted name when it did not get it. */
  draft: (name: string, ownedBy: string | null) => Draft;
}

/**
 * One name per model (C4, Trust 11). Whoever held a name in the last scan keeps it, so a new file
 * never takes the name of a model that has it (a running one above all); the rest go in order:
 * readable configs by path, then unreadable ones, then bare GGUFs. Every other config that wants
 * a taken name is an error row under "name (file)"; a bare GGUF just gets the longer name.
 */
function assignNames(candidates: Candidate[], owners: ReadonlyMap<string, string>): Draft[] {
  const holds = (c: Candidate): boolean => owners.get(c.wanted) === c.owner;
  const ordered = [...candidates.filter(holds), ...candidates.filter((c) => !holds(c))];
  const taken = new Map<string, Candidate>();
  const names = new Set<string>();
  const drafts: Draft[] = [];
  for (const c of ordered) {
    const holder = taken.get(c.wanted);
    if (holder === undefined && !names.has(c.wanted)) {
      taken.set(c.wanted, c);
      names.add(c.wanted);
      drafts.push(c.draft(c.wanted, null));
      continue;
    }
    const name = uniqueName(names, `${c.wanted} (${c.rel})`);
    names.add(name);
    const ownedBy = holder === undefined ? `also a model's name` : holder.bare ? `also the name of ${holder.rel} (a model file without a config)` : `also defined in ${holder.rel}`;
    drafts.push(c.draft(name, c.bare ? null : ownedBy));
  }
  return drafts;
}

/** The config under its catalog name (shared, not copied, when that is its own name: a few KB x 1,000 models). */
function named(config: ModelConfig, name: string): ModelConfig {
  return config.name === name ? config : { ...config, name };
}

function uniqueName(taken: Set<string>, candidate: string): string {
  let name = candidate;
  for (let n = 2; taken.has(name); n++) name = `${candidate} ${n}`;
  return name;
}

function isModelFileName(file: string): boolean {
  const base = path.basename(file);
  if (/mmproj/i.test(base)) return false; // multimodal projectors (C1)
  const split = SPLIT_RE.exec(base);
  return !split || Number(split[2]) === 1; // later parts belong to the first
}

async function mapLimit<T, R>(items: T[], limit: number, fn: (item: T) => Promise<R>): Promise<R[]> {
  const out = new Array<R>(items.length);
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) {
      const i = next++;
      out[i] = await fn(items[i]);
    }
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
  return out;
}
