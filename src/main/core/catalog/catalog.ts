/**
 * The model catalog (C1, C2, C4, C5, C6): what is in the models folder, kept current while the
 * app runs. A scan walks the folder, parses LocalAI model YAMLs, pairs them with GGUF files and
 * reads GGUF headers; parsing and header reads are cached by (path, size, mtime), so a rescan
 * of an unchanged folder costs little more than a stat per file. Nothing in the folder can make a
 * scan fail: every problem becomes one model's `error`.
 */
import { createHash } from 'node:crypto';
import { watch, promises as fs, type FSWatcher, type Stats } from 'node:fs';
import path from 'node:path';
import { parseDocument, isMap } from 'yaml';
import { LoadoutError } from '../../../shared/errors';
import type { GgufInfo } from '../../../shared/model';
import { MAX_DURATION_S } from '../../../shared/settings';
import { systemClock, type Clock } from '../clock';
import { SerialQueue } from '../fsx/serialQueue';
import { storageError } from '../fsx/storageError';
import { writeFileAtomic } from '../fsx/writeFileAtomic';
import { GgufError, readGgufInfo } from '../gguf/readGguf';
import { editConfigText, newConfigText, type ConfigPatch } from './editConfig';
import { emptyConfig, parseModelConfig, type ParsedConfig } from './parseConfig';
import type { CatalogChange, CatalogEntry, ModelConfig } from './types';
import { fileId, statKey, walkModelsDir, type FoundFile } from './walkModelsDir';

export { parseOptions, parallelOf } from './options';
export type { ConfigPatch } from './editConfig';

export interface CatalogOptions {
  modelsDir: string;
  clock?: Clock;
  /** Quiet time after the last file event before a rescan (default 150 ms). */
  debounceMs?: number;
  logger?: (msg: string) => void;
}

type Listener = (changes: CatalogChange[]) => void;

const CONFIG_RE = /\.ya?ml$/i;
const GGUF_RE = /\.gguf$/i;
const SPLIT_RE = /^(.*)-(\d{5})-of-(\d{5})\.gguf$/i;
const URI_RE = /^([a-z][a-z0-9+.-]*):\/\//i;
const TEMPLATE_KEYS = ['chat', 'chat_message', 'completion', 'function'] as const;
/** Cold header reads in flight at once: enough to hide latency, few enough not to exhaust fds. */
const READ_CONCURRENCY = 8;

/** What a scan learned about one model file on disk. */
interface ModelFile {
  file: string;
  sizeBytes: number | null;
  gguf: GgufInfo | null;
  error: string | null;
  /** Size and mtime of every part: a change to any of them is a reload. */
  version: string;
  /** Paths and ids of the files this model uses, so they are not listed again as bare GGUFs. */
  claims: string[];
}

interface HeaderCacheEntry {
  key: string;
  gguf: GgufInfo | null;
  error: string | null;
}

/** Result of resolving `parameters.model`. */
type Resolved =
  | { kind: 'none' }
  | { kind: 'file'; file: ModelFile }
  | { kind: 'uri'; uri: string }
  | { kind: 'missing'; message: string };

interface Draft {
  name: string;
  config: ModelConfig;
  configPath: string | null;
  problems: string[];
  resolved: Resolved;
}

export class Catalog {
  private dir: string;
  private readonly clock: Clock;
  private readonly debounceMs: number;
  private readonly log: (msg: string) => void;

  private entries = new Map<string, CatalogEntry>();
  private sorted: CatalogEntry[] = [];
  /** Models whose YAML cannot be parsed, with why: they cannot be edited from the GUI. */
  private unreadable = new Map<string, string>();
  private readonly configCache = new Map<string, { key: string; parsed: ParsedConfig }>();
  private readonly headerCache = new Map<string, HeaderCacheEntry>();
  private readonly templateCache = new Map<string, { key: string; text: string }>();

  private readonly listeners = new Set<Listener>();
  private readonly watchers = new Map<string, FSWatcher>();
  private readonly queue = new SerialQueue();
  private timer: unknown = null;
  private firstEventAt = 0;
  private watching = false;
  private disposed = false;

  constructor(options: CatalogOptions) {
    this.dir = path.resolve(options.modelsDir);
    this.clock = options.clock ?? systemClock;
    this.debounceMs = options.debounceMs ?? 150;
    this.log = options.logger ?? (() => {});
  }

  get modelsDir(): string {
    return this.dir;
  }

  /** Every model, sorted by name. */
  list(): CatalogEntry[] {
    return this.sorted;
  }

  get(name: string): CatalogEntry | undefined {
    return this.entries.get(name);
  }

  onChange(listener: Listener): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  /** Rescans now; emits what changed and returns the whole list. */
  scan(): Promise<CatalogEntry[]> {
    return this.serial(() => this.rescan());
  }

  /** First scan, then live updates from file events (C6). */
  async start(): Promise<void> {
    this.watching = true;
    await this.ensureDir();
    await this.scan();
  }

  /** Switches to another models folder: every model of the old one is removed, the new ones added. */
  setModelsDir(dir: string): Promise<void> {
    return this.serial(async () => {
      this.dir = path.resolve(dir);
      this.closeWatchers();
      await this.ensureDir();
      await this.rescan();
    });
  }

  dispose(): void {
    this.disposed = true;
    this.watching = false;
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    this.closeWatchers();
    this.listeners.clear();
  }

  /**
   * GUI edit of a model's policy and load keys (C6), written to its YAML with comments, key order
   * and unknown keys kept; a bare GGUF gets a new YAML next to it. Emits the change before resolving.
   */
  updateConfig(name: string, patch: ConfigPatch): Promise<CatalogEntry> {
    return this.serial(async () => {
      const clean = validatePatch(patch);
      const entry = this.entries.get(name);
      if (!entry) throw new LoadoutError('not_found', `There is no model named "${name}" in ${this.dir}.`);
      const why = this.unreadable.get(name);
      if (why !== undefined) {
        throw new LoadoutError('invalid', `${name} cannot be edited here until its file is fixed: ${why}`);
      }
      if (entry.configPath !== null) {
        await this.patchFile(entry.configPath, clean);
      } else if (entry.file !== null) {
        await this.createConfig(entry, clean);
      } else {
        throw new LoadoutError('invalid', `${name} has no config file or model file to edit.`);
      }
      await this.rescan();
      const updated = this.entries.get(name);
      if (!updated) throw new LoadoutError('not_found', `${name} is no longer in the catalog after saving; check ${entry.configPath ?? this.dir}.`);
      return updated;
    });
  }

  // ---- edits ----

  private async patchFile(configPath: string, patch: ConfigPatch): Promise<void> {
    // Write through a symlinked YAML to its target instead of replacing the link with a file.
    const real = await fs.realpath(configPath).catch(() => configPath);
    let text: string;
    let stat: Stats;
    try {
      [text, stat] = await Promise.all([fs.readFile(real, 'utf8'), fs.stat(real)]);
    } catch (e) {
      throw new LoadoutError('not_found', `Cannot read ${configPath}: ${(e as Error).message}`);
    }
    const doc = parseDocument(text);
    if (doc.errors.length > 0 || !isMap(doc.contents)) {
      throw new LoadoutError('invalid', `${configPath} changed on disk and is no longer a valid model config; fix it first.`);
    }
    const next = editConfigText(text, patch);
    if (next !== text) await writeAtomic(real, next, stat.mode & 0o777);
  }

  private async createConfig(entry: CatalogEntry, patch: ConfigPatch): Promise<void> {
    const file = entry.file as string;
    const folder = path.dirname(file);
    const base = path.basename(file);
    const stem = (SPLIT_RE.exec(base)?.[1] ?? base).replace(GGUF_RE, '');
    let target = path.join(folder, `${stem}.yaml`);
    for (let n = 2; await exists(target) || (await exists(target.replace(/\.yaml$/, '.yml'))); n++) {
      target = path.join(folder, `${stem}-${n}.yaml`);
    }
    const model = entry.config.parameters.model ?? toRel(this.dir, file);
    await writeAtomic(target, newConfigText(entry.name, model, toRel(this.dir, file), patch));
  }

  // ---- scanning ----

  private async rescan(): Promise<CatalogEntry[]> {
    const walk = await walkModelsDir(this.dir, (n) => CONFIG_RE.test(n) || GGUF_RE.test(n));
    for (const p of walk.problems) this.log(`catalog: ${p}`);
    if (this.disposed) return this.sorted;
    const ggufs = walk.files.filter((f) => GGUF_RE.test(f.path));
    const configs = walk.files.filter((f) => CONFIG_RE.test(f.path));
    const byPath = new Map(ggufs.map((f) => [f.path, f]));
    const usedHeaders = new Set<string>();
    const usedTemplates = new Set<string>();
    const claimed = new Set<string>();

    // Parse configs (cached) and resolve their model files.
    const parsed = await mapLimit(configs, READ_CONCURRENCY, async (f) => {
      const p = await this.parseCached(f);
      if (p === null) return null;
      const config = await this.resolveTemplates(p.config, usedTemplates);
      const resolved = p.unreadable ? ({ kind: 'none' } as Resolved) : await this.resolveModel(config, f, byPath, usedHeaders);
      return { f, p, config, resolved };
    });

    const taken = new Set<string>();
    const drafts: Draft[] = [];
    const unreadable = new Map<string, string>();
    const rows = parsed.filter((r): r is NonNullable<typeof r> => r !== null);
    const firstByName = new Map<string, string>();
    // Readable configs claim names first, in path order; a broken file never takes a good one's name.
    for (const { f, p, config, resolved } of rows.filter((r) => r.p.unreadable === null)) {
      if (resolved.kind === 'file') for (const c of resolved.file.claims) claimed.add(c);
      const wanted = config.name;
      const problems = [...p.problems];
      let name = wanted;
      if (taken.has(wanted)) {
        name = uniqueName(taken, `${wanted} (${f.rel})`);
        problems.unshift(`duplicate name ${wanted}: also defined in ${firstByName.get(wanted)}. Rename one of them.`);
      } else {
        firstByName.set(wanted, f.rel);
      }
      taken.add(name);
      drafts.push({ name, config: named(config, name), configPath: f.path, problems, resolved });
    }
    for (const { f, p, config } of rows.filter((r) => r.p.unreadable !== null)) {
      const name = taken.has(config.name) ? uniqueName(taken, `${config.name} (${f.rel})`) : config.name;
      taken.add(name);
      unreadable.set(name, p.unreadable as string);
      drafts.push({ name, config: named(config, name), configPath: f.path, problems: p.problems, resolved: { kind: 'none' } });
    }

    // GGUFs no config uses become models of their own (C1).
    const bare = ggufs.filter((g) => !claimed.has(g.path) && !(g.id !== '' && claimed.has(g.id)) && isModelFileName(g.path));
    const bareFiles = await mapLimit(bare, READ_CONCURRENCY, (g) => this.describeFile(g.path, g, byPath, usedHeaders));
    bare.forEach((g, i) => {
      const file = bareFiles[i];
      if (file === null) return;
      // A multimodal projector is not a model, whatever its name (C1).
      if (file.gguf?.architecture === 'clip') return;
      const rel = g.rel;
      const stem = (SPLIT_RE.exec(path.basename(rel))?.[1] ?? path.basename(rel)).replace(GGUF_RE, '');
      const name = taken.has(stem) ? uniqueName(taken, `${stem} (${rel})`) : stem;
      taken.add(name);
      const config: ModelConfig = { ...emptyConfig(name), backend: 'llama-cpp', parameters: { model: rel } };
      drafts.push({ name, config, configPath: null, problems: [], resolved: { kind: 'file', file } });
    });

    if (this.disposed) return this.sorted;
    const next = new Map<string, CatalogEntry>();
    for (const d of drafts) next.set(d.name, toEntry(d));
    this.unreadable = unreadable;
    this.prune(configs, usedHeaders, usedTemplates);
    this.commit(next);
    if (this.watching && !this.disposed) this.syncWatchers(walk.dirs);
    return this.sorted;
  }

  private async parseCached(f: FoundFile): Promise<ParsedConfig | null> {
    const key = statKey(f);
    const hit = this.configCache.get(f.path);
    if (hit && hit.key === key) return hit.parsed;
    const label = toRel(this.dir, f.path);
    const stem = path.basename(f.path).replace(CONFIG_RE, '');
    let parsed: ParsedConfig;
    try {
      parsed = parseModelConfig(await fs.readFile(f.path, 'utf8'), label, stem);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null; // removed since the walk
      const message = `${label} cannot be read: ${(e as Error).message}`;
      parsed = { name: null, config: emptyConfig(stem), problems: [message], unreadable: message };
    }
    this.configCache.set(f.path, { key, parsed });
    return parsed;
  }

  /**
   * LocalAI compatibility: a template value that names a `<value>.tmpl` file in the models folder
   * means that file's content (older configs say `chat: chatml` and ship chatml.tmpl).
   */
  private async resolveTemplates(config: ModelConfig, used: Set<string>): Promise<ModelConfig> {
    const t = config.template;
    if (!t) return config;
    let out: ModelConfig | null = null;
    for (const key of TEMPLATE_KEYS) {
      const v = t[key];
      if (v === undefined || v.includes('{{') || v.includes('\n') || v.length > 200) continue;
      const file = path.join(this.dir, `${v}.tmpl`);
      const text = await this.readTemplate(file, used);
      if (text === null) continue;
      out ??= { ...config, template: { ...t } };
      (out.template as NonNullable<ModelConfig['template']>)[key] = text;
    }
    return out ?? config;
  }

  private async readTemplate(file: string, used: Set<string>): Promise<string | null> {
    let s: Stats;
    try {
      s = await fs.stat(file);
      if (!s.isFile()) return null;
    } catch {
      return null;
    }
    used.add(file);
    const key = statKey({ size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, id: fileId(s) });
    const hit = this.templateCache.get(file);
    if (hit && hit.key === key) return hit.text;
    try {
      const text = await fs.readFile(file, 'utf8');
      this.templateCache.set(file, { key, text });
      return text;
    } catch {
      return null;
    }
  }

  /** `parameters.model`: relative to the models folder (or the YAML's folder), absolute, or a URI (C2). */
  private async resolveModel(
    config: ModelConfig,
    f: FoundFile,
    byPath: Map<string, FoundFile>,
    usedHeaders: Set<string>,
  ): Promise<Resolved> {
    let ref = config.parameters.model;
    if (ref === undefined) return { kind: 'none' };
    const scheme = URI_RE.exec(ref)?.[1].toLowerCase();
    if (scheme === 'file') {
      ref = decodeURI(ref.slice('file://'.length));
    } else if (scheme !== undefined) {
      // LocalAI downloads a URI into the models folder under the URI's last path segment.
      const fileName = uriFileName(ref);
      const local = fileName ? await this.describeFile(path.join(this.dir, fileName), undefined, byPath, usedHeaders) : null;
      return local ? { kind: 'file', file: local } : { kind: 'uri', uri: ref };
    }
    const candidates = path.isAbsolute(ref)
      ? [ref]
      : [...new Set([path.resolve(this.dir, ref), path.resolve(path.dirname(f.path), ref)])];
    for (const candidate of candidates) {
      const file = await this.describeFile(candidate, byPath.get(candidate), byPath, usedHeaders);
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
  private async describeFile(
    file: string,
    found: FoundFile | undefined,
    byPath: Map<string, FoundFile>,
    usedHeaders: Set<string>,
  ): Promise<ModelFile | null> {
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
        const ps = byPath.get(part) ?? (await statFile(part));
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

    const header = await this.readHeader(file, st, usedHeaders);
    if (header.error) problems.push(header.error);
    return { file, sizeBytes, gguf: header.gguf, error: problems.length > 0 ? problems.join(' ') : null, version, claims };
  }

  private async readHeader(file: string, st: FoundFile, used: Set<string>): Promise<HeaderCacheEntry> {
    used.add(file);
    const key = statKey(st);
    const hit = this.headerCache.get(file);
    if (hit && hit.key === key) return hit;
    let entry: HeaderCacheEntry;
    try {
      // Files named by a config may be any format (other backends); only GGUF headers are read.
      if (!GGUF_RE.test(file) && !(await startsWithGguf(file))) entry = { key, gguf: null, error: null };
      else entry = { key, gguf: await readGgufInfo(file), error: null };
    } catch (e) {
      // GgufError messages already name the file and say what to do.
      const message = e instanceof GgufError ? e.message : `cannot read ${file}: ${(e as Error).message}. Check its permissions.`;
      entry = { key, gguf: null, error: message };
    }
    this.headerCache.set(file, entry);
    return entry;
  }

  private prune(configs: FoundFile[], usedHeaders: Set<string>, usedTemplates: Set<string>): void {
    const seen = new Set(configs.map((c) => c.path));
    for (const k of this.configCache.keys()) if (!seen.has(k)) this.configCache.delete(k);
    for (const k of this.headerCache.keys()) if (!usedHeaders.has(k)) this.headerCache.delete(k);
    for (const k of this.templateCache.keys()) if (!usedTemplates.has(k)) this.templateCache.delete(k);
  }

  /** Swaps in the new state and tells listeners exactly what changed. */
  private commit(next: Map<string, CatalogEntry>): void {
    const changes: CatalogChange[] = [];
    for (const name of this.entries.keys()) if (!next.has(name)) changes.push({ type: 'remove', name });
    for (const [name, entry] of next) {
      const old = this.entries.get(name);
      // Keep the old object when nothing changed, so consumers can compare by identity.
      if (old && JSON.stringify(old) === JSON.stringify(entry)) next.set(name, old);
      else changes.push({ type: 'upsert', entry });
    }
    this.entries = next;
    this.sorted = [...next.values()].sort(byName);
    if (changes.length === 0) return;
    // Removes first (a rename frees a name before it is reused), then upserts by name.
    const key = (c: CatalogChange) => (c.type === 'remove' ? c.name : c.entry.name);
    changes.sort((a, b) => (a.type !== b.type ? (a.type === 'remove' ? -1 : 1) : collator.compare(key(a), key(b))));
    for (const listener of [...this.listeners]) {
      try {
        listener(changes);
      } catch (e) {
        this.log(`catalog: a change listener failed: ${(e as Error).message}`);
      }
    }
  }

  // ---- watching ----

  private syncWatchers(dirs: string[]): void {
    const wanted = new Set(dirs);
    for (const [dir, w] of this.watchers) {
      if (!wanted.has(dir)) {
        w.close();
        this.watchers.delete(dir);
      }
    }
    // One non-recursive watcher per folder: Node 20's recursive mode on Linux is emulated and has
    // missed events in new subfolders; per-folder watchers behave the same on every platform.
    const initial = this.watchers.size === 0;
    let added = false;
    for (const dir of wanted) {
      if (this.watchers.has(dir)) continue;
      added = true;
      try {
        const w = watch(dir, { persistent: false }, (_event, filename) => {
          // Our own temp files (and other hidden files) never matter.
          if (typeof filename === 'string' && path.basename(filename).startsWith('.')) return;
          this.requestScan();
        });
        w.on('error', (e) => {
          this.log(`catalog: watching ${dir} failed: ${e.message}`);
          w.close();
          if (this.watchers.get(dir) === w) this.watchers.delete(dir);
          this.requestScan();
        });
        this.watchers.set(dir, w);
      } catch (e) {
        this.log(`catalog: cannot watch ${dir}: ${(e as Error).message}`);
      }
    }
    // A file created in a new folder between our walk and its watcher would go unseen: look once more.
    if (added && !initial) this.requestScan();
  }

  private requestScan(): void {
    if (this.disposed) return;
    const now = this.clock.now();
    if (this.timer === null) this.firstEventAt = now;
    else this.clock.clearTimeout(this.timer);
    // Debounce bursts (a download writes for minutes), but never wait more than 10 quiet periods.
    const wait = Math.max(0, Math.min(this.debounceMs, this.firstEventAt + this.debounceMs * 10 - now));
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.scan().catch((e: Error) => this.log(`catalog: rescan failed: ${e.message}`));
    }, wait);
  }

  private closeWatchers(): void {
    for (const w of this.watchers.values()) w.close();
    this.watchers.clear();
  }

  private async ensureDir(): Promise<void> {
    try {
      await fs.mkdir(this.dir, { recursive: true });
    } catch (e) {
      this.log(`catalog: cannot create models folder ${this.dir}: ${(e as Error).message}`);
    }
  }

  /** Scans and edits run one at a time, in order. */
  private serial<T>(fn: () => Promise<T>): Promise<T> {
    return this.queue.run(fn);
  }
}

// ---- helpers ----

function toEntry(d: Draft): CatalogEntry {
  const r = d.resolved;
  const problems = [...d.problems];
  let file: ModelFile | null = null;
  let uri: string | null = null;
  if (r.kind === 'file') {
    file = r.file;
    if (file.error) problems.push(file.error);
  } else if (r.kind === 'missing') {
    problems.push(r.message);
  } else if (r.kind === 'none' && !d.config.backend && problems.length === 0) {
    problems.push(
      `${d.configPath ? path.basename(d.configPath) : d.name} names no model file: set parameters.model to a file in the models folder (or set a backend).`,
    );
  } else if (r.kind === 'uri') {
    uri = r.uri;
  }
  let status: CatalogEntry['status'] = 'ok';
  let error: string | null = null;
  if (problems.length > 0) {
    status = 'error';
    error = problems.join(' ');
  } else if (d.config.disabled) {
    status = 'disabled';
  } else if (uri !== null) {
    status = 'not_downloaded';
    error = `not downloaded yet: ${uri}`;
  }
  return {
    name: d.name,
    status,
    error,
    config: d.config,
    configPath: d.configPath,
    // A model whose header is corrupt still has a file on disk (the row shows which).
    file: file?.file ?? null,
    uri,
    sizeBytes: file?.sizeBytes ?? null,
    gguf: file?.gguf ?? null,
    loadKey: loadKey(d.config, file),
  };
}

/**
 * Changes with anything that needs a reload to take effect (C6). Policy keys (pinned,
 * concurrency_groups, ttl, disabled) and per-request defaults (temperature, stopwords...) are
 * deliberately left out.
 */
export function loadKey(config: ModelConfig, file: { file: string; version: string } | null): string {
  const c = config;
  const material = JSON.stringify([
    file?.file ?? null,
    file?.version ?? null,
    c.parameters.model ?? null,
    c.parameters.seed ?? null,
    c.backend ?? null,
    c.context_size ?? null,
    c.threads ?? null,
    c.f16 ?? null,
    c.mmap ?? null,
    c.gpu_layers ?? null,
    c.embeddings ?? null,
    c.options,
    // Prompt formatting counts as a load parameter, as the templates do in C6.
    c.template ?? null,
    c.system_prompt ?? null,
    c.roles ?? null,
  ]);
  return createHash('sha1').update(material).digest('hex').slice(0, 16);
}

const collator = new Intl.Collator(undefined, { numeric: true, sensitivity: 'base' });
function byName(a: CatalogEntry, b: CatalogEntry): number {
  return collator.compare(a.name, b.name) || (a.name < b.name ? -1 : a.name > b.name ? 1 : 0);
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

function uriFileName(uri: string): string | null {
  const rest = uri.replace(URI_RE, '').split(/[?#]/)[0];
  let last = rest.slice(rest.lastIndexOf('/') + 1);
  // huggingface://owner/repo/file.gguf@branch
  if (last.includes('@')) last = last.slice(0, last.indexOf('@'));
  try {
    last = decodeURIComponent(last);
  } catch {
    /* keep as written */
  }
  return last === '' || last === '.' || last === '..' || last.includes('/') ? null : last;
}

function toRel(root: string, file: string): string {
  const rel = path.relative(root, file);
  return rel.startsWith('..') || path.isAbsolute(rel) ? file : rel.split(path.sep).join('/');
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

async function startsWithGguf(file: string): Promise<boolean> {
  const fh = await fs.open(file, 'r');
  try {
    const buf = Buffer.alloc(4);
    const { bytesRead } = await fh.read(buf, 0, 4, 0);
    return bytesRead === 4 && buf.toString('latin1') === 'GGUF';
  } finally {
    await fh.close();
  }
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

// ---- patch validation ----

const PATCH_KEYS = new Set(['pinned', 'concurrency_groups', 'ttl', 'context_size', 'parallel', 'disabled']);
const MAX_TTL = MAX_DURATION_S;
const MAX_CONTEXT = 1 << 24;
const MAX_PARALLEL = 256;

function validatePatch(patch: unknown): ConfigPatch {
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
