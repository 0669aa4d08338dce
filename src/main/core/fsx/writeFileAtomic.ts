/**
 * The one way the core replaces a file: a reader, a crash or a power cut sees the old content or
 * the new, never a torn or empty file, and a failed write leaves nothing behind. Write a hidden
 * temp file in the same folder (a rename is atomic only within one filesystem), fsync it, rename
 * it over the target, then fsync the folder so the rename itself is on disk (POSIX; Windows
 * cannot open a folder for that and NTFS journals the rename). On any failure the temp file is
 * removed and the error rethrown: the target keeps its old content.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { basename, dirname, join } from 'node:path';

/** The calls a write makes; tests pass a wrapper that fails one of them (a full disk, a quota). */
export type AtomicFs = Pick<typeof nodeFs, 'mkdirSync' | 'openSync' | 'writeSync' | 'fsyncSync' | 'closeSync' | 'renameSync' | 'rmSync'>;

export interface WriteAtomicOptions {
  /** File mode of a new file (default 0o644; 0o600 for secrets). */
  mode?: number;
  /**
   * fsync the file and its folder (default true). Off only for state that a power cut makes
   * moot anyway (the pids of processes that die with the machine): the rename alone keeps it whole
   * across an app crash, without a disk flush on the path of every backend start.
   */
  durable?: boolean;
  fs?: AtomicFs;
}

/** A sibling name no other writer (another process, an earlier crash) uses; hidden from folder watchers. */
export function tempPathFor(file: string): string {
  return join(dirname(file), `.${basename(file)}.${process.pid}.${randomBytes(4).toString('hex')}.tmp`);
}

export function writeFileAtomicSync(file: string, data: string | Uint8Array, options: WriteAtomicOptions = {}): void {
  const fs = options.fs ?? nodeFs;
  const dir = dirname(file);
  fs.mkdirSync(dir, { recursive: true });
  const tmp = tempPathFor(file);
  let fd: number | null = null;
  try {
    fd = fs.openSync(tmp, 'wx', options.mode ?? 0o644);
    const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : data;
    let written = 0;
    while (written < bytes.length) written += fs.writeSync(fd, bytes, written, bytes.length - written);
    if (options.durable !== false) fs.fsyncSync(fd);
    fs.closeSync(fd);
    fd = null;
    fs.renameSync(tmp, file);
  } catch (e) {
    if (fd !== null) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
    fs.rmSync(tmp, { force: true });
    throw e;
  }
  if (options.durable !== false) syncDirSync(fs, dir);
}

export async function writeFileAtomic(file: string, data: string | Uint8Array, options: { mode?: number } = {}): Promise<void> {
  const dir = dirname(file);
  await nodeFs.promises.mkdir(dir, { recursive: true });
  const tmp = tempPathFor(file);
  let handle: nodeFs.promises.FileHandle | null = null;
  try {
    handle = await nodeFs.promises.open(tmp, 'wx', options.mode ?? 0o644);
    await handle.writeFile(data);
    await handle.sync();
    await handle.close();
    handle = null;
    await nodeFs.promises.rename(tmp, file);
  } catch (e) {
    await handle?.close().catch(() => undefined);
    await nodeFs.promises.rm(tmp, { force: true });
    throw e;
  }
  syncDirSync(nodeFs, dir);
}

/** Makes a rename in `dir` durable. Best effort: the file is already in place, and some systems refuse. */
function syncDirSync(fs: AtomicFs, dir: string): void {
  if (process.platform === 'win32') return;
  let fd: number | null = null;
  try {
    fd = fs.openSync(dir, 'r');
    fs.fsyncSync(fd);
  } catch {
    // e.g. EINVAL on filesystems that cannot sync a folder
  } finally {
    if (fd !== null) {
      try {
        fs.closeSync(fd);
      } catch {
        // already closed
      }
    }
  }
}
