/**
 * Model files between nodes over NATS (distributed-spec section 3 "Model files", D29). A node
 * that holds a file whose sha256 it knows answers `loadout.file.<sha256>` in the queue group
 * `loadout.file` (any holder serves each chunk); a chunk request `{v, offset, length}` gets the
 * bytes. The fetching side is a Downloads job with source `nats:<sha256>` (engine.ts), which asks
 * for 512 KiB chunks, several in flight, and resumes from its committed offsets.
 *
 * Reply format: one tag byte, then either the bytes (tag 0) or a JSON error (tag 1). Every chunk
 * request is checked (clarifications 3), bounded by the server's max_payload, and served only
 * while the file still has the size and mtime it had when its sha256 was known.
 */
import fs from 'node:fs/promises';
import type { NatsConnection, Subscription } from '@nats-io/transport-node';
import { FILE_CHUNK_BYTES, FILE_QUEUE, SHA256_RE, fileSubject, parseFileChunkRequest } from './protocol';

export interface ServedFile {
  path: string;
  sizeBytes: number;
  mtimeMs: number;
}

const TAG_DATA = 0;
const TAG_ERROR = 1;
/** Room for the tag byte and NATS's own framing under max_payload. */
const PAYLOAD_MARGIN = 1024;

/** The chunk size this connection can carry: 512 KiB, or less where the server's max_payload is lower. */
export function chunkBytes(nc: NatsConnection): number {
  const max = nc.info?.max_payload;
  return typeof max === 'number' && max > PAYLOAD_MARGIN * 2 ? Math.min(FILE_CHUNK_BYTES, max - PAYLOAD_MARGIN) : 64 * 1024;
}

function errorBody(message: string): Uint8Array {
  const json = Buffer.from(JSON.stringify({ v: 1, error: message.slice(0, 500) }));
  return Buffer.concat([Buffer.from([TAG_ERROR]), json]);
}

/** Serves the files it is given, one queue subscription per sha256. */
export class FileServer {
  private readonly subs = new Map<string, { sub: Subscription; file: ServedFile }>();
  /** Bytes served since start (tests and logs). */
  servedBytes = 0;
  servedChunks = 0;

  constructor(
    private readonly nc: NatsConnection,
    private readonly log: (line: string) => void = () => {},
  ) {}

  /** Serves exactly these files (sha256 -> file): new ones are subscribed, gone ones dropped. */
  set(files: ReadonlyMap<string, ServedFile>): void {
    for (const [sha, cur] of this.subs) {
      const next = files.get(sha);
      if (next && next.path === cur.file.path && next.sizeBytes === cur.file.sizeBytes && next.mtimeMs === cur.file.mtimeMs) continue;
      cur.sub.unsubscribe();
      this.subs.delete(sha);
    }
    for (const [sha, file] of files) {
      if (this.subs.has(sha) || !SHA256_RE.test(sha)) continue;
      const sub = this.nc.subscribe(fileSubject(sha), { queue: FILE_QUEUE, callback: (err, msg) => {
        if (err) return;
        void this.answer(sha, file, msg.data).then((body) => {
          try {
            msg.respond(body);
          } catch {
            // Disconnected: the fetching side times out and asks again.
          }
        });
      } });
      this.subs.set(sha, { sub, file });
    }
  }

  get serving(): string[] {
    return [...this.subs.keys()];
  }

  private async answer(sha: string, file: ServedFile, data: Uint8Array): Promise<Uint8Array> {
    const req = parseFileChunkRequest(data);
    if (!req.ok) {
      this.log(`cluster: refused a malformed file chunk request for ${sha.slice(0, 12)}: ${req.error}`);
      return errorBody(req.error);
    }
    const { offset } = req.value;
    const length = Math.min(req.value.length, chunkBytes(this.nc));
    if (offset >= file.sizeBytes || length > file.sizeBytes - offset) return errorBody(`offset ${offset} + length ${length} is past the end of the file (${file.sizeBytes} bytes)`);
    let handle: fs.FileHandle | null = null;
    try {
      handle = await fs.open(file.path, 'r');
      const st = await handle.stat();
      if (st.size !== file.sizeBytes || st.mtimeMs !== file.mtimeMs) {
        this.subs.get(sha)?.sub.unsubscribe();
        this.subs.delete(sha);
        return errorBody('the file changed since its sha256 was known; it is no longer served from here');
      }
      const out = Buffer.allocUnsafe(1 + length);
      out[0] = TAG_DATA;
      let got = 0;
      while (got < length) {
        const { bytesRead } = await handle.read(out, 1 + got, length - got, offset + got);
        if (bytesRead <= 0) return errorBody('the file is shorter than it was');
        got += bytesRead;
      }
      this.servedBytes += length;
      this.servedChunks++;
      return out;
    } catch (e) {
      return errorBody(`could not read the file: ${(e as Error).message}`);
    } finally {
      await handle?.close();
    }
  }

  stop(): void {
    for (const { sub } of this.subs.values()) sub.unsubscribe();
    this.subs.clear();
  }
}

/** Why a chunk could not be had (the Downloads job backs off and asks again, G15). */
export class ChunkError extends Error {}

/** Where a `nats:<sha256>` Downloads job gets its bytes. */
export interface PeerSource {
  /** Largest chunk to ask for. */
  chunkBytes(): number;
  /** Exactly `length` bytes at `offset` of the file with this sha256, or a ChunkError. */
  fetch(sha256: string, offset: number, length: number, timeoutMs: number): Promise<Buffer>;
}

/** A PeerSource over a NATS connection; every reply is checked before a byte is used. */
export function natsPeerSource(nc: () => NatsConnection): PeerSource {
  return {
    chunkBytes: () => chunkBytes(nc()),
    async fetch(sha256, offset, length, timeoutMs) {
      let data: Uint8Array;
      try {
        const reply = await nc().request(fileSubject(sha256), new TextEncoder().encode(JSON.stringify({ v: 1, offset, length })), { timeout: timeoutMs });
        data = reply.data;
      } catch (e) {
        const m = (e as Error).message;
        throw new ChunkError(/no responders/i.test(m) ? 'no node holding this file answers now' : /timeout/i.test(m) ? `no answer for ${Math.round(timeoutMs / 1000)} s` : m);
      }
      if (data.length === 0) throw new ChunkError('an empty reply');
      if (data[0] === TAG_ERROR) {
        let message = 'the holder refused the chunk';
        try {
          const body = JSON.parse(Buffer.from(data.subarray(1)).toString('utf8')) as { error?: unknown };
          if (typeof body.error === 'string') message = `the holder said: ${body.error.slice(0, 500)}`;
        } catch {
          // an unreadable error is still an error
        }
        throw new ChunkError(message);
      }
      if (data[0] !== TAG_DATA) throw new ChunkError(`a reply with an unknown tag ${data[0]}`);
      if (data.length - 1 !== length) throw new ChunkError(`the holder sent ${data.length - 1} bytes when ${length} were asked`);
      return Buffer.from(data.buffer, data.byteOffset + 1, length);
    },
  };
}
