/**
 * What a scan read, kept by (path, size, mtime): a rescan of an unchanged folder costs little
 * more than a stat per file. Each scan marks what it used; `prune` drops the rest.
 */
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';
import type { GgufInfo } from '../../../shared/model';
import { GgufError, readGgufInfo } from '../gguf/readGguf';
import { emptyConfig, MAX_CONFIG_BYTES, parseModelConfig, type ParsedConfig } from './parseConfig';
import { CONFIG_RE, GGUF_RE, toRel } from './paths';
import { fileId, statKey, type FoundFile } from './walkModelsDir';

export interface HeaderCacheEntry {
  key: string;
  gguf: GgufInfo | null;
  error: string | null;
}

export class ScanCaches {
  private readonly configs = new Map<string, { key: string; parsed: ParsedConfig }>();
  private readonly headers = new Map<string, HeaderCacheEntry>();
  private readonly templates = new Map<string, { key: string; text: string }>();
  private usedHeaders = new Set<string>();
  private usedTemplates = new Set<string>();

  /** Starts a scan: nothing is marked used yet. */
  beginScan(): void {
    this.usedHeaders = new Set();
    this.usedTemplates = new Set();
  }

  /** The parsed config at `f`; null when it was removed since the walk. */
  async config(f: FoundFile, dir: string): Promise<ParsedConfig | null> {
    const key = statKey(f);
    const hit = this.configs.get(f.path);
    if (hit && hit.key === key) return hit.parsed;
    const label = toRel(dir, f.path);
    const stem = path.basename(f.path).replace(CONFIG_RE, '');
    let parsed: ParsedConfig;
    try {
      const text = f.size > MAX_CONFIG_BYTES ? null : await readAtMost(f.path, MAX_CONFIG_BYTES);
      if (text === null) {
        const size = f.size > MAX_CONFIG_BYTES ? formatSize(f.size) : `over ${formatSize(MAX_CONFIG_BYTES)}`;
        const message = `${label} is ${size}, more than the ${formatSize(MAX_CONFIG_BYTES)} a model config may be, so it was not read. Trim it, or move it out of the models folder.`;
        parsed = { name: null, config: emptyConfig(stem), problems: [message], unreadable: message };
      } else {
        parsed = parseModelConfig(text, label, stem);
      }
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return null; // removed since the walk
      const message = `${label} cannot be read: ${(e as Error).message}`;
      parsed = { name: null, config: emptyConfig(stem), problems: [message], unreadable: message };
    }
    this.configs.set(f.path, { key, parsed });
    return parsed;
  }

  /** The text of a `.tmpl` file, `tooBig` when it is over the config size cap, or null when there is none. */
  async template(file: string): Promise<string | 'tooBig' | null> {
    let s: Stats;
    try {
      s = await fs.stat(file);
      if (!s.isFile()) return null;
    } catch {
      return null;
    }
    this.usedTemplates.add(file);
    const key = statKey({ size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, id: fileId(s) });
    // A template file is the same kind of text as a config, and as bounded.
    if (s.size > MAX_CONFIG_BYTES) return 'tooBig';
    const hit = this.templates.get(file);
    if (hit && hit.key === key) return hit.text;
    try {
      const text = await readAtMost(file, MAX_CONFIG_BYTES);
      if (text === null) return 'tooBig';
      this.templates.set(file, { key, text });
      return text;
    } catch {
      return null;
    }
  }

  /** The GGUF header of a model file (none for other formats), or why it cannot be read. */
  async header(file: string, st: FoundFile): Promise<HeaderCacheEntry> {
    this.usedHeaders.add(file);
    const key = statKey(st);
    const hit = this.headers.get(file);
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
    this.headers.set(file, entry);
    return entry;
  }

  /** Forgets what the last scan did not use. */
  prune(configs: FoundFile[]): void {
    const seen = new Set(configs.map((c) => c.path));
    for (const k of this.configs.keys()) if (!seen.has(k)) this.configs.delete(k);
    for (const k of this.headers.keys()) if (!this.usedHeaders.has(k)) this.headers.delete(k);
    for (const k of this.templates.keys()) if (!this.usedTemplates.has(k)) this.templates.delete(k);
  }
}

/** The file's text, or null when it is longer than `max` bytes (no more than that is ever read). */
export async function readAtMost(file: string, max: number): Promise<string | null> {
  const fh = await fs.open(file, 'r');
  try {
    const chunks: Buffer[] = [];
    let total = 0;
    for (;;) {
      const chunk = Buffer.allocUnsafe(Math.min(64 * 1024, max + 1 - total));
      const { bytesRead } = await fh.read(chunk, 0, chunk.length, total);
      if (bytesRead === 0) break;
      chunks.push(chunk.subarray(0, bytesRead));
      total += bytesRead;
      if (total > max) return null;
    }
    return Buffer.concat(chunks, total).toString('utf8');
  } finally {
    await fh.close();
  }
}

function formatSize(bytes: number): string {
  return bytes >= 1024 * 1024 ? `${(bytes / 1024 / 1024).toFixed(1)} MB` : `${Math.ceil(bytes / 1024)} KB`;
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
