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
  /** Bounds the walk hit (what was left out and why), for the log and the folder's status. */
  limits: string[];
}

export interface WalkLimits {
  /** Folder levels below the root. */
  maxDepth: number;
  /** Folders visited (each one is watched). */
  maxFolders: number;
  /** Directory entries looked at, in all. */
  maxEntries: number;
}

/**
 * Far beyond a models folder (a Hugging Face cache is 4 levels and a few hundred folders), well
 * short of a link to /usr (tens of thousands of folders, hundreds of thousands of entries).
 */
export const WALK_LIMITS: WalkLimits = { maxDepth: 16, maxFolders: 1000, maxEntries: 50_000 };

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

/**
 * Walks `root` breadth-first (the folder's own files before anything deep behind a link),
 * returning the files whose name `accept`s. Symlinks to files and folders are followed wherever
 * they lead (models on another disk are a normal set-up); a folder reached twice (a loop, or two
 * links to one place) is walked once; the walk stops at `limits` and says so in `limits`.
 */
export async function walkModelsDir(
  root: string,
  accept: (name: string) => boolean,
  limits: WalkLimits = WALK_LIMITS,
): Promise<WalkResult> {
  const result: WalkResult = { files: [], dirs: [], problems: [], limits: [] };
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
  const seenDirs = new Set<string>([await dirKey(root, rootStat)]);
  let entriesSeen = 0;
  let tooDeep: string | null = null;

  const queue: Array<{ dir: string; rel: string; depth: number }> = [{ dir: root, rel: '', depth: 0 }];
  for (let i = 0; i < queue.length; i++) {
    const { dir, rel, depth } = queue[i];
    if (result.dirs.length >= limits.maxFolders) {
      result.limits.push(
        `stopped at ${limits.maxFolders} folders (each one is watched): ${queue.length - i} more, from ${dir} on, were not scanned`,
      );
      break;
    }
    if (entriesSeen >= limits.maxEntries) {
      result.limits.push(`stopped after ${limits.maxEntries} entries: ${queue.length - i} folders, from ${dir} on, were not scanned`);
      break;
    }
    result.dirs.push(dir);
    let entries;
    try {
      entries = await fs.readdir(dir, { withFileTypes: true });
    } catch (e) {
      result.problems.push(`folder ${dir} cannot be read: ${(e as Error).message}`);
      continue;
    }
    if (entriesSeen + entries.length > limits.maxEntries) {
      result.limits.push(`stopped after ${limits.maxEntries} entries: only part of ${dir} was scanned`);
      entries = entries.slice(0, limits.maxEntries - entriesSeen);
    }
    entriesSeen += entries.length;
    const subdirs: Array<{ dir: string; rel: string; depth: number }> = [];
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
          const key = await dirKey(full, s);
          if (seenDirs.has(key)) return; // a loop, or a second way to a folder already walked
          seenDirs.add(key);
          subdirs.push({ dir: full, rel: relPath, depth: depth + 1 });
        } else if (s.isFile() && accept(entry.name)) {
          result.files.push({ path: full, rel: relPath, size: s.size, mtimeMs: s.mtimeMs, ctimeMs: s.ctimeMs, id: fileId(s) });
        }
      }),
    );
    subdirs.sort((x, y) => (x.rel < y.rel ? -1 : 1));
    if (subdirs.length > 0 && depth + 1 > limits.maxDepth) {
      tooDeep ??= `folders more than ${limits.maxDepth} levels deep were not scanned (the first: ${subdirs[0].dir})`;
      continue;
    }
    queue.push(...subdirs);
  }
  if (tooDeep !== null) result.limits.push(tooDeep);
  result.files.sort((x, y) => (x.rel < y.rel ? -1 : x.rel > y.rel ? 1 : 0));
  return result;
}

/** A folder's identity: dev:ino, or its real path where the platform has no inode numbers. */
async function dirKey(dir: string, s: Stats): Promise<string> {
  const id = fileId(s);
  if (id !== '') return id;
  return fs.realpath(dir).catch(() => dir);
}
