/** The recursive walk of the models directory (C1): which files to look at, and which folders to watch. */
import { promises as fs, type Stats } from 'node:fs';
import path from 'node:path';

export interface FoundFile {
  /** Absolute path as reached from the root (symlinks are not resolved). */
  path: string;
  /** Path relative to the root, with `/` separators (stable across platforms, for names and sorting). */
  rel: string;
  size: number;
  mtimeMs: number;
  ctimeMs: number;
  /** `dev:ino`, so a config naming a symlink or hard link still claims the file it points at. */
  id: string;
}

export interface WalkResult {
  files: FoundFile[];
  /** Every folder visited, the root first: the set to watch. */
  dirs: string[];
  /** Folders that could not be read (logged, never fatal). */
  problems: string[];
}

const MAX_DEPTH = 32;

/** Hidden entries (`.git`, LocalAI's `._gallery_*.yaml`, our temp files) and node_modules are skipped. */
function skipped(name: string): boolean {
  return name.startsWith('.') || name === 'node_modules';
}

export function statKey(s: { size: number; mtimeMs: number; ctimeMs: number; id: string }): string {
  return `${s.size}:${s.mtimeMs}:${s.ctimeMs}:${s.id}`;
}

export function fileId(s: Stats): string {
  // Windows may report ino 0 for some filesystems: then identity is unknown.
  return s.ino ? `${s.dev}:${s.ino}` : '';
}

/** Walks `root`, returning the files whose name `accept`s, following symlinks without looping. */
export async function walkModelsDir(root: string, accept: (name: string) => boolean): Promise<WalkResult> {
  const result: WalkResult = { files: [], dirs: [], problems: [] };
  let rootStat: Stats;
  try {
    rootStat = await fs.stat(root);
  } catch (e) {
    result.problems.push(`models folder ${root} cannot be read: ${(e as Error).message}`);
    return result;
  }
  if (!rootStat.isDirectory()) {
    result.problems.push(`models folder ${root} is not a folder`);
    return result;
  }
  const seenDirs = new Set<string>([fileId(rootStat)]);

  const visit = async (dir: string, rel: string, depth: number): Promise<void> => {
    result.dirs.push(dir);
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      result.problems.push(`folder ${dir} cannot be read: ${(e as Error).message}`);
      return;
    }
    const subdirs: Array<[string, string]> = [];
    await Promise.all(
      entries.map(async (entry) => {
        if (skipped(entry.name)) return;
        const full = path.join(dir, entry.name);
        const relPath = rel === '' ? entry.name : `${rel}/${entry.name}`;
        const isLink = entry.isSymbolicLink();
        if (!isLink && !entry.isDirectory() && !(entry.isFile() && accept(entry.name))) return;
        let s: Stats;
        try {
          s = await fs.stat(full); // follows symlinks; a dangling link is skipped
        } catch {
          return;
        }
        if (s.isDirectory()) {
          const id = fileId(s);
          if (depth >= MAX_DEPTH || (id !== '' && seenDirs.has(id))) return; // a symlink loop, or too deep
          if (id !== '') seenDirs.add(id);
          subdirs.push([full, relPath]);
        } else if (s.isFile() && accept(entry.name)) {
          result.files.push({ path: full, rel: relPath, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, id: fileId(s) });
        }
      }),
    );
    subdirs.sort((a, b) => (a[1] < b[1] ? -1 : 1));
    for (const [full, relPath] of subdirs) await visit(full, relPath, depth + 1);
  };

  await visit(root, '', 0);
  result.files.sort((a, b) => (a.rel < b.rel ? -1 : a.rel > b.rel ? 1 : 0));
  return result;
}
