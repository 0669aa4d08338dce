import { Worker } from 'node:worker_threads';
import fs from 'node:fs/promises';

/** fsyncs a folder so a rename in it is on disk (POSIX; Windows cannot open folders). */
export async function syncDir(dir: string): Promise<void> {
  if (process.platform === 'win32') return;
  const handle = await fs.open(dir, 'r');
  try {
    await handle.sync();
  } finally {
    await handle.close();
  }
}

// Plain JS evaluated in the worker, so it runs the same under vitest, electron-vite and node.
const HASH_WORKER = `
const { parentPort, workerData } = require('node:worker_threads');
const fs = require('node:fs');
const crypto = require('node:crypto');
const hash = crypto.createHash('sha256');
const fd = fs.openSync(workerData.file, 'r');
const buf = Buffer.allocUnsafe(4 << 20);
let done = 0, reported = 0;
try {
  while (done < workerData.length) {
    const n = fs.readSync(fd, buf, 0, Math.min(buf.length, workerData.length - done), done);
    if (n <= 0) throw new Error('the file is shorter than expected');
    hash.update(buf.subarray(0, n));
    done += n;
    if (done - reported >= (32 << 20)) { reported = done; parentPort.postMessage({ progress: done }); }
  }
} finally { fs.closeSync(fd); }
parentPort.postMessage({ sha256: hash.digest('hex') });
`;

/** sha256 of the first `length` bytes of a file, computed off the main thread (G24). */
export function hashFile(file: string, length: number, onProgress?: (bytes: number) => void): { promise: Promise<string>; cancel: () => void } {
  const worker = new Worker(HASH_WORKER, { eval: true, workerData: { file, length } });
  const promise = new Promise<string>((resolve, reject) => {
    worker.on('message', (m: { progress?: number; sha256?: string }) => {
      if (m.sha256) resolve(m.sha256);
      else if (m.progress !== undefined) onProgress?.(m.progress);
    });
    worker.on('error', reject);
    worker.on('exit', (code) => reject(new Error(`hashing stopped (exit ${code})`)));
  });
  return { promise, cancel: () => void worker.terminate() };
}

/** Writes every byte of `chunks` at `position` (a regular file may still take fewer in one call). */
export async function writevAll(handle: fs.FileHandle, chunks: Buffer[], position: number): Promise<void> {
  for (let rest = chunks; rest.length > 0; ) {
    const { bytesWritten } = await handle.writev(rest, position);
    position += bytesWritten;
    rest = skipBytes(rest, bytesWritten);
  }
}

/** The first `n` bytes of `chunks`, as views. */
export function firstBytes(chunks: Buffer[], n: number): Buffer[] {
  const out: Buffer[] = [];
  for (const c of chunks) {
    if (n <= 0) break;
    out.push(c.length <= n ? c : c.subarray(0, n));
    n -= c.length;
  }
  return out;
}

function skipBytes(chunks: Buffer[], n: number): Buffer[] {
  let i = 0;
  while (i < chunks.length && n >= chunks[i].length) n -= chunks[i++].length;
  if (i === chunks.length) return [];
  return n === 0 ? chunks.slice(i) : [chunks[i].subarray(n), ...chunks.slice(i + 1)];
}
