/**
 * V14: one npm registry tarball, fetched into a `.part` file (resumed with a Range request after
 * a dropped connection), checked against its lock-file sha512 `integrity`, and unpacked. Plain
 * undici as the download engine uses it; the engine itself is for model files in the models
 * folder (sha256, several ranges, sidecars), more than a tarball needs.
 */
import { createHash, type Hash } from 'node:crypto';
import { createReadStream, createWriteStream } from 'node:fs';
import fs from 'node:fs/promises';
import { dirname, join, normalize, sep } from 'node:path';
import { Transform } from 'node:stream';
import { pipeline } from 'node:stream/promises';
import { createGunzip } from 'node:zlib';
import { Agent, interceptors, request, type Dispatcher } from 'undici';
import { DownloadError } from '../downloads/errors';

export interface TarballFetch {
  url: string;
  /** `sha512-<base64>`, as package-lock.json writes it. */
  integrity: string;
  partFile: string;
  /** Bytes in the `.part` file so far, and the whole size once the server said it. */
  onProgress?: (receivedBytes: number, totalBytes: number | null) => void;
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
  /** Connections tried before giving up; each after the first resumes where the last stopped. */
  attempts?: number;
}

const defaultDispatcher = new Agent({ connectTimeout: 30_000, headersTimeout: 60_000, bodyTimeout: 60_000 }).compose(
  interceptors.redirect({ maxRedirections: 5 }),
);

function sha512Of(integrity: string): string {
  const m = /^sha512-([A-Za-z0-9+/=]+)$/.exec(integrity.split(/\s+/).find((s) => s.startsWith('sha512-')) ?? '');
  if (!m) throw new Error(`no sha512 in the integrity "${integrity}"`);
  return m[1];
}

async function sizeOf(file: string): Promise<number> {
  return fs.stat(file).then((s) => s.size, () => 0);
}

async function hashFileInto(hash: Hash, file: string): Promise<void> {
  for await (const chunk of createReadStream(file)) hash.update(chunk as Buffer);
}

function asDownloadError(e: unknown, url: string): DownloadError {
  if (e instanceof DownloadError) return e;
  const code = (e as NodeJS.ErrnoException)?.code;
  if (code === 'ENOSPC' || code === 'EDQUOT') return new DownloadError('disk_space', `Not enough disk space for ${url}: ${(e as Error).message}. Free some space and try again.`);
  return new DownloadError('upstream', `Downloading ${url} failed: ${(e as Error)?.message ?? String(e)}`, { retryable: true });
}

/**
 * Downloads `url` into `partFile` and resolves once its sha512 matches `integrity`. A `.part`
 * left by an earlier try is resumed. A mismatch deletes the `.part` (the next try starts clean)
 * and rejects with `checksum_mismatch`.
 */
export async function fetchVerifiedTarball(o: TarballFetch): Promise<void> {
  const expected = sha512Of(o.integrity);
  const attempts = o.attempts ?? 3;
  await fs.mkdir(dirname(o.partFile), { recursive: true });
  for (let attempt = 1; ; attempt++) {
    try {
      await fetchOnce(o, expected);
      return;
    } catch (e) {
      if (o.signal?.aborted) throw e;
      const error = asDownloadError(e, o.url);
      // A dropped connection or a server error is tried again, resuming; a wrong checksum is not.
      if (attempt >= attempts || error.code !== 'upstream' || !error.retryable) throw error;
    }
  }
}

async function fetchOnce(o: TarballFetch, expected: string): Promise<void> {
  let offset = await sizeOf(o.partFile);
  const res = await request(o.url, {
    dispatcher: o.dispatcher ?? defaultDispatcher,
    headers: offset > 0 ? { range: `bytes=${offset}-` } : {},
    signal: o.signal,
  });
  if (res.statusCode === 416) {
    // The .part is as long as the file or longer: it cannot be resumed. Start over.
    res.body.resume();
    await fs.rm(o.partFile, { force: true });
    throw new DownloadError('upstream', `${o.url}: the partial download could not be resumed`, { retryable: true });
  }
  if (res.statusCode !== 200 && res.statusCode !== 206) {
    res.body.resume();
    throw new DownloadError('upstream', `${o.url} answered HTTP ${res.statusCode}`, { retryable: res.statusCode >= 500 || res.statusCode === 429 });
  }
  if (res.statusCode === 200) offset = 0; // the server ignored the range: the whole file again
  const length = Number(res.headers['content-length']);
  const total = Number.isFinite(length) ? offset + length : null;
  const hash = createHash('sha512');
  if (offset > 0) await hashFileInto(hash, o.partFile);
  let received = offset;
  o.onProgress?.(received, total);
  const count = new Transform({
    transform(chunk: Buffer, _enc, done) {
      hash.update(chunk);
      received += chunk.length;
      o.onProgress?.(received, total);
      done(null, chunk);
    },
  });
  await pipeline(res.body, count, createWriteStream(o.partFile, { flags: offset > 0 ? 'a' : 'w' }));
  if (total !== null && received !== total) throw new DownloadError('upstream', `${o.url} ended after ${received} of ${total} bytes`, { retryable: true });
  const actual = hash.digest('base64');
  if (actual !== expected) {
    await fs.rm(o.partFile, { force: true });
    throw new DownloadError(
      'checksum_mismatch',
      `${o.url} does not match package-lock.json's checksum (sha512 ${expected}, got ${actual}), so it was deleted and not installed. ` +
        'Try again; if it keeps failing, a proxy or mirror is changing the file.',
      { retryable: true },
    );
  }
}

/** Tar's numeric fields are octal text. */
function octal(block: Buffer, start: number, length: number): number {
  const text = block.toString('latin1', start, start + length).replace(/\0.*$/s, '').trim();
  return text ? parseInt(text, 8) : 0;
}

function cString(block: Buffer, start: number, length: number): string {
  const end = block.indexOf(0, start);
  return block.toString('utf8', start, end === -1 || end > start + length ? start + length : end);
}

/** pax extended header records: `<length> <key>=<value>\n`. */
function paxPath(body: Buffer): string | undefined {
  let at = 0;
  while (at < body.length) {
    const space = body.indexOf(0x20, at);
    const length = parseInt(body.toString('latin1', at, space), 10);
    if (!(length > 0)) break;
    const record = body.toString('utf8', space + 1, at + length - 1);
    if (record.startsWith('path=')) return record.slice('path='.length);
    at += length;
  }
  return undefined;
}

/**
 * Unpacks an npm tarball (gzip, tar with every entry under one top folder, `package/`) into
 * `dest`, dropping that folder. Regular files and folders only: npm packs nothing else, and an
 * entry that would land outside `dest` stops the unpacking.
 */
export async function extractNpmTarball(tgz: string, dest: string): Promise<void> {
  const source = createReadStream(tgz).pipe(createGunzip())[Symbol.asyncIterator]() as AsyncIterator<Buffer>;
  let buf: Buffer = Buffer.alloc(0);
  const fill = async (n: number): Promise<boolean> => {
    while (buf.length < n) {
      const next = await source.next();
      if (next.done) return false;
      buf = buf.length ? Buffer.concat([buf, next.value]) : next.value;
    }
    return true;
  };
  const take = async (n: number): Promise<Buffer> => {
    if (!(await fill(n))) throw new Error(`${tgz} ends in the middle of an entry`);
    const out = buf.subarray(0, n);
    buf = buf.subarray(n);
    return out;
  };
  /** Streams `size` bytes (then the padding to 512) to `write`, without holding them all. */
  const body = async (size: number, write: (chunk: Buffer) => Promise<unknown>): Promise<void> => {
    let left = size;
    while (left > 0) {
      if (buf.length === 0 && !(await fill(1))) throw new Error(`${tgz} ends in the middle of an entry`);
      const chunk = buf.subarray(0, Math.min(left, buf.length));
      buf = buf.subarray(chunk.length);
      left -= chunk.length;
      await write(chunk);
    }
    await take((512 - (size % 512)) % 512);
  };
  const target = (name: string): string | null => {
    const inside = name.split('/').slice(1).join('/');
    if (!inside) return null;
    const path = normalize(inside);
    if (path.startsWith('..') || path.startsWith(sep) || /^[A-Za-z]:/.test(path)) throw new Error(`${tgz} holds "${name}", outside the package`);
    return join(dest, path);
  };

  await fs.mkdir(dest, { recursive: true });
  let longName: string | undefined;
  for (;;) {
    if (!(await fill(512))) break;
    const header = await take(512);
    if (header.every((b) => b === 0)) break;
    const size = octal(header, 124, 12);
    const type = String.fromCharCode(header[156] || 0x30);
    const prefix = header.toString('latin1', 257, 262) === 'ustar' ? cString(header, 345, 155) : '';
    const name = longName ?? (prefix ? `${prefix}/${cString(header, 0, 100)}` : cString(header, 0, 100));
    longName = undefined;
    if (type === 'x' || type === 'L') {
      const chunks: Buffer[] = [];
      await body(size, async (c) => chunks.push(Buffer.from(c)));
      const data = Buffer.concat(chunks);
      longName = type === 'L' ? cString(data, 0, data.length) : paxPath(data);
      continue;
    }
    if (type === 'g') {
      await body(size, async () => {});
      continue;
    }
    const path = target(name);
    if (type === '5') {
      if (path) await fs.mkdir(path, { recursive: true });
      await body(size, async () => {});
    } else if (type === '0' || type === '7') {
      if (!path) throw new Error(`${tgz} holds a file with no name`);
      await fs.mkdir(dirname(path), { recursive: true });
      const file = await fs.open(path, 'w', (octal(header, 100, 8) & 0o777) | 0o600);
      try {
        await body(size, (c) => file.write(c));
      } finally {
        await file.close();
      }
    } else {
      throw new Error(`${tgz} holds "${name}" of tar type "${type}" (a link or device); an npm package has none`);
    }
  }
}
