/**
 * sha256s of model files this node has hashed, keyed by path, size and mtime (distributed-spec
 * section 3: a matching file is used in place, so a shared folder costs one hash). Kept in
 * `<data>/file-hashes.json`; a file is hashed when a load needs it, never at start
 * (clarifications 8), off the main thread.
 */
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { hashFile } from '../downloads/files';
import { SerialQueue } from '../fsx/serialQueue';
import { writeFileAtomic } from '../fsx/writeFileAtomic';
import { SHA256_RE } from './protocol';

export interface HashedFile {
  path: string;
  sizeBytes: number;
  mtimeMs: number;
  sha256: string;
}

const MAX_ENTRIES = 10_000;

export class FileHashes {
  private readonly byPath = new Map<string, HashedFile>();
  private readonly running = new Map<string, Promise<HashedFile>>();
  /** One save at a time, each of the map as it is then, so an older save never lands last. */
  private readonly saves = new SerialQueue();

  constructor(private readonly file: string | null) {
    if (!file || !existsSync(file)) return;
    try {
      const parsed = JSON.parse(readFileSync(file, 'utf8')) as { version?: unknown; files?: unknown };
      if (parsed.version !== 1 || !Array.isArray(parsed.files)) return;
      for (const f of parsed.files as Partial<HashedFile>[]) {
        if (typeof f.path === 'string' && typeof f.sizeBytes === 'number' && typeof f.mtimeMs === 'number' && typeof f.sha256 === 'string' && SHA256_RE.test(f.sha256)) {
          this.byPath.set(f.path, { path: f.path, sizeBytes: f.sizeBytes, mtimeMs: f.mtimeMs, sha256: f.sha256 });
        }
      }
    } catch {
      // A torn cache costs one hash per file again.
    }
  }

  /** The cached sha256 if the file still has the size and mtime it was hashed at. */
  async cached(path: string): Promise<HashedFile | null> {
    const known = this.byPath.get(path);
    if (!known) return null;
    try {
      const st = await fs.stat(path);
      return st.size === known.sizeBytes && st.mtimeMs === known.mtimeMs ? known : null;
    } catch {
      return null;
    }
  }

  /** The file's sha256: the cached one, else hashed now (one hash at a time per file). */
  async hash(path: string): Promise<HashedFile> {
    const hit = await this.cached(path);
    if (hit) return hit;
    let p = this.running.get(path);
    if (!p) {
      p = (async () => {
        const st = await fs.stat(path);
        const sha256 = await hashFile(path, st.size).promise;
        const after = await fs.stat(path);
        if (after.size !== st.size || after.mtimeMs !== st.mtimeMs) throw new Error(`${path} changed while it was hashed`);
        const entry = { path, sizeBytes: st.size, mtimeMs: st.mtimeMs, sha256 };
        this.remember(entry);
        return entry;
      })().finally(() => this.running.delete(path));
      this.running.set(path, p);
    }
    return p;
  }

  /** Records a hash learned elsewhere (a verified download). */
  remember(entry: HashedFile): void {
    this.byPath.delete(entry.path);
    this.byPath.set(entry.path, entry);
    while (this.byPath.size > MAX_ENTRIES) this.byPath.delete(this.byPath.keys().next().value as string);
    const file = this.file;
    if (file) void this.saves.run(() => writeFileAtomic(file, JSON.stringify({ version: 1, files: [...this.byPath.values()] }))).catch(() => {});
  }
}
