/**
 * The ranged GET that carries a model file's bytes (G9-G13), from the socket into the `.part`
 * file without a copy. undici, which the engine uses for everything else (the preflight and its
 * redirects, the Hub API), reads 64 KiB at a time into a fresh Buffer and copies each body byte
 * in and out of its WebAssembly parser; on our 2-core machines that held a 1 GiB transfer to
 * 0.3-0.5x curl (bench:download). Here a connection reads into a few reused slabs (Node's `onread`),
 * each read taking whatever the kernel holds, while the bytes before it are being written through
 * the thread pool; when the writes fall behind, the socket is paused.
 *
 * It does only what such a GET needs: one request per connection (`Connection: close`), plain TCP
 * or TLS, and a body framed by Content-Length, by chunks or by the connection's end.
 */
import net from 'node:net';
import tls from 'node:tls';

export interface RawHead {
  statusCode: number;
  /** Lower-case names; repeated headers joined with ", ". */
  headers: Record<string, string>;
}

/** Takes the body in order, one call at a time (reading goes on meanwhile); `false` ends it early. */
export type BodyWrite = (parts: Buffer[], bytes: number) => Promise<boolean | void>;

export interface RawResponse extends RawHead {
  /** Hands the body to `write` until it ends. On a failure, what was received is written first. */
  pipe(write: BodyWrite): Promise<void>;
  /** Closes the connection; safe to call at any time, and more than once. */
  destroy(): void;
}

export interface RawGetOptions {
  signal: AbortSignal;
  /** Called on every read, the response head included (the engine's stall timer). */
  onBytes: () => void;
  /** The most bytes handed to one `write`. */
  maxWriteBytes: number;
  /** Extra TLS options (tests pass the CA of their own server). */
  tls?: tls.ConnectionOptions;
}

const SLAB_BYTES = 2 * 1024 * 1024;
/** Received but unwritten bytes per connection stay under this many slabs. */
const MAX_SLABS = 4;
/** A slab with less room than this is retired; reads into it would be too small to be cheap. */
const MIN_READ = 64 * 1024;
const MAX_HEAD_BYTES = 64 * 1024;
const MAX_CHUNK_LINE = 4096;

type Framing = { kind: 'length'; left: number } | { kind: 'close' } | { kind: 'chunked'; state: 'size' | 'data' | 'crlf' | 'trailer'; left: number; line: string };

interface Piece {
  view: Buffer;
  slab: Buffer;
}

/** Rejects a header value that could split the request (a token pasted with a newline, say). */
function headerLine(name: string, value: string): string {
  if (/[\r\n\0]/.test(name) || /[\r\n\0]/.test(value)) throw new Error(`the ${name} header holds a line break or NUL`);
  return `${name}: ${value}\r\n`;
}

function parseHead(text: string): RawHead {
  const lines = text.split('\r\n');
  const status = /^HTTP\/1\.[01] (\d{3})(?: |$)/.exec(lines[0]);
  if (!status) throw new Error(`the server did not answer in HTTP/1.1 (${JSON.stringify(lines[0].slice(0, 40))})`);
  const headers: Record<string, string> = {};
  for (const line of lines.slice(1)) {
    const colon = line.indexOf(':');
    if (colon <= 0) throw new Error(`the server sent a malformed header line (${JSON.stringify(line.slice(0, 40))})`);
    const name = line.slice(0, colon).trim().toLowerCase();
    const value = line.slice(colon + 1).trim();
    headers[name] = name in headers ? `${headers[name]}, ${value}` : value;
  }
  return { statusCode: Number(status[1]), headers };
}

function framingOf(head: RawHead): Framing {
  const te = head.headers['transfer-encoding']?.toLowerCase();
  if (te && te !== 'identity') {
    if (te !== 'chunked') throw new Error(`the server sent a body with transfer-encoding ${te}`);
    return { kind: 'chunked', state: 'size', left: 0, line: '' };
  }
  const length = head.headers['content-length'];
  if (length === undefined) return { kind: 'close' };
  if (!/^\d+$/.test(length)) throw new Error(`the server sent content-length ${JSON.stringify(length)}`);
  return { kind: 'length', left: Number(length) };
}

/** Connects, sends the GET and resolves with the response head; the body waits for `pipe`. */
export function rawGet(url: string, headers: Record<string, string>, opts: RawGetOptions): Promise<RawResponse> {
  const u = new URL(url);
  if (u.protocol !== 'http:' && u.protocol !== 'https:') return Promise.reject(new Error(`rawGet speaks http and https, not ${u.protocol}`));
  let request = `GET ${u.pathname}${u.search} HTTP/1.1\r\n${headerLine('host', u.host)}`;
  try {
    for (const [name, value] of Object.entries(headers)) request += headerLine(name, value);
  } catch (e) {
    return Promise.reject(e);
  }
  request += 'connection: close\r\n\r\n';
  return new Promise((resolve, reject) => new Connection(u, request, opts, resolve, reject));
}

class Connection {
  private socket: net.Socket;
  private free: Buffer[] = [];
  private slabs = 0;
  private refs = new Map<Buffer, number>();
  private cur: Buffer;
  private fill = 0;
  private readonly parking = Buffer.allocUnsafe(MIN_READ);
  private paused = false;
  private phase: 'head' | 'body' | 'done' = 'head';
  private headText = '';
  private framing: Framing = { kind: 'close' };
  private queue: Piece[] = [];
  private writer: BodyWrite | null = null;
  private writing = false;
  private failure: { error: unknown; fromWriter: boolean } | null = null;
  private settled = false;
  private pipeDone: { resolve: () => void; reject: (e: unknown) => void } | null = null;

  constructor(
    url: URL,
    request: string,
    private opts: RawGetOptions,
    private onHead: (r: RawResponse) => void,
    private onHeadError: (e: unknown) => void,
  ) {
    this.cur = this.takeSlab();
    const host = url.hostname.replace(/^\[(.*)\]$/, '$1');
    const port = Number(url.port) || (url.protocol === 'https:' ? 443 : 80);
    const onread = { buffer: () => this.nextBuffer(), callback: (n: number, buf: Uint8Array) => this.onRead(n, buf as Buffer) };
    this.socket =
      url.protocol === 'https:'
        ? // onread works on TLS sockets too (Node 15.1+); @types/node does not declare it there.
          tls.connect({ host, port, servername: net.isIP(host) ? undefined : host, ALPNProtocols: ['http/1.1'], onread, ...opts.tls } as tls.ConnectionOptions)
        : net.connect({ host, port, onread });
    this.socket.setNoDelay(true);
    this.socket.write(request);
    this.socket.on('error', (e) => this.fail(e, false));
    this.socket.on('end', () => this.onEnd());
    this.socket.on('close', () => this.onEnd());
    if (opts.signal.aborted) this.fail(opts.signal.reason, false);
    else opts.signal.addEventListener('abort', this.onAbort, { once: true });
  }

  private onAbort = () => this.fail(this.opts.signal.reason, false);

  private takeSlab(): Buffer {
    const slab = this.free.pop() ?? (this.slabs++, Buffer.allocUnsafe(SLAB_BYTES));
    this.refs.set(slab, 1);
    return slab;
  }

  private release(slab: Buffer): void {
    const left = this.refs.get(slab)! - 1;
    if (left > 0) return void this.refs.set(slab, left);
    this.refs.delete(slab);
    this.free.push(slab);
  }

  private canRotate(): boolean {
    return this.free.length > 0 || this.slabs < MAX_SLABS;
  }

  private rotate(): void {
    this.release(this.cur);
    this.cur = this.takeSlab();
    this.fill = 0;
  }

  /** Where the next read lands: the current slab's free room, or a parking buffer while paused. */
  private nextBuffer(): Buffer {
    if (SLAB_BYTES - this.fill >= MIN_READ) return this.cur.subarray(this.fill);
    if (this.canRotate()) {
      this.rotate();
      return this.cur;
    }
    return this.parking;
  }

  private onRead(n: number, buf: Buffer): boolean {
    this.opts.onBytes();
    if (this.failure || this.bodyComplete()) return false;
    if (buf === this.parking) {
      // Read after a resume, into the buffer handed out while paused: a slab is free by now.
      if (SLAB_BYTES - this.fill < n) this.rotate();
      this.parking.copy(this.cur, this.fill, 0, n);
    }
    const start = this.fill;
    this.fill += n;
    try {
      this.consume(this.cur, start, this.fill);
    } catch (e) {
      this.fail(e, false);
      return false;
    }
    this.pump();
    if (!this.bodyComplete() && SLAB_BYTES - this.fill < MIN_READ && !this.canRotate()) {
      this.paused = true;
      this.socket.pause();
      return false;
    }
    return true;
  }

  private bodyComplete(): boolean {
    return this.phase === 'done';
  }

  private consume(buf: Buffer, a: number, b: number): void {
    while (this.phase === 'head' && a < b) {
      const before = this.headText.length;
      this.headText += buf.toString('latin1', a, b);
      const end = this.headText.indexOf('\r\n\r\n');
      if (end < 0) {
        if (this.headText.length > MAX_HEAD_BYTES) throw new Error('the response head is over 64 KiB');
        return;
      }
      a += end + 4 - before;
      const head = parseHead(this.headText.slice(0, end));
      this.headText = '';
      if (head.statusCode < 200) continue; // 100 Continue and the like precede the real answer
      this.framing = framingOf(head);
      this.phase = 'body';
      this.onHead({ ...head, pipe: (w) => this.pipe(w), destroy: () => this.destroy() });
      if (this.framing.kind === 'length' && this.framing.left === 0) this.phase = 'done';
    }
    if (this.phase === 'body') this.frame(buf, a, b);
  }

  private push(slab: Buffer, a: number, b: number): void {
    if (b <= a) return;
    this.refs.set(slab, this.refs.get(slab)! + 1);
    this.queue.push({ view: slab.subarray(a, b), slab });
  }

  private frame(buf: Buffer, a: number, b: number): void {
    const f = this.framing;
    if (f.kind === 'close') return this.push(buf, a, b);
    if (f.kind === 'length') {
      const take = Math.min(f.left, b - a);
      this.push(buf, a, a + take);
      f.left -= take;
      if (f.left === 0) this.phase = 'done';
      return;
    }
    while (a < b && this.phase === 'body') {
      if (f.state === 'data') {
        const take = Math.min(f.left, b - a);
        this.push(buf, a, a + take);
        a += take;
        f.left -= take;
        if (f.left === 0) f.state = 'crlf';
        continue;
      }
      // size, crlf and trailer lines: read up to the end of the line.
      const nl = buf.indexOf(10, a);
      const stop = nl < 0 || nl >= b ? b : nl;
      f.line += buf.toString('latin1', a, stop);
      if (f.line.length > MAX_CHUNK_LINE) throw new Error('the server sent a chunk line over 4 KiB');
      a = stop;
      if (stop === b) return;
      a++; // past the newline
      const line = f.line.replace(/\r$/, '');
      f.line = '';
      if (f.state === 'crlf') {
        if (line !== '') throw new Error('the server sent a chunk longer than it announced');
        f.state = 'size';
      } else if (f.state === 'size') {
        const size = /^([0-9a-fA-F]+)\s*(;.*)?$/.exec(line);
        if (!size) throw new Error(`the server sent a malformed chunk size ${JSON.stringify(line.slice(0, 20))}`);
        f.left = parseInt(size[1], 16);
        f.state = f.left === 0 ? 'trailer' : 'data';
      } else if (line === '') {
        this.phase = 'done';
      }
    }
  }

  private pipe(write: BodyWrite): Promise<void> {
    if (this.writer) return Promise.reject(new Error('the body was already taken'));
    this.writer = write;
    return new Promise((resolve, reject) => {
      this.pipeDone = { resolve, reject };
      this.pump();
    });
  }

  /** One write at a time, of what has gathered since the last one began. */
  private pump(): void {
    if (this.writing || !this.writer || !this.pipeDone) return;
    if (this.failure?.fromWriter) return;
    if (this.queue.length === 0) {
      if (this.failure) this.settle(this.failure.error);
      else if (this.phase === 'done') this.settle(null);
      return;
    }
    const taken: Piece[] = [];
    let bytes = 0;
    while (this.queue.length > 0 && bytes < this.opts.maxWriteBytes) {
      const piece = this.queue[0];
      const room = this.opts.maxWriteBytes - bytes;
      if (piece.view.length <= room) {
        taken.push(this.queue.shift()!);
        bytes += piece.view.length;
      } else {
        this.refs.set(piece.slab, this.refs.get(piece.slab)! + 1);
        taken.push({ view: piece.view.subarray(0, room), slab: piece.slab });
        piece.view = piece.view.subarray(room);
        bytes += room;
      }
    }
    this.writing = true;
    this.writer(
      taken.map((p) => p.view),
      bytes,
    ).then(
      (more) => {
        this.writing = false;
        for (const p of taken) this.release(p.slab);
        if (more === false) return this.settle(null);
        if (this.paused && this.canRotate() && !this.failure) {
          this.paused = false;
          this.socket.resume();
        }
        this.pump();
      },
      (e) => {
        this.writing = false;
        for (const p of taken) this.release(p.slab);
        this.fail(e, true);
      },
    );
  }

  private onEnd(): void {
    if (this.failure || this.settled) return;
    if (this.phase === 'head') return this.fail(new Error('the server closed the connection without an answer'), false);
    if (this.phase === 'body' && this.framing.kind === 'close') {
      this.phase = 'done';
      return this.pump();
    }
    if (this.phase === 'body') this.fail(new Error('the connection ended before the whole body arrived'), false);
  }

  /**
   * Stops reading. A failure of the network still writes what arrived (a resume need not fetch it
   * again); a failed write ends at once.
   */
  private fail(error: unknown, fromWriter: boolean): void {
    if (this.failure || this.settled) return;
    this.failure = { error, fromWriter };
    this.socket.destroy();
    if (this.phase === 'head') {
      this.settled = true;
      this.cleanup();
      return this.onHeadError(error);
    }
    if (fromWriter || !this.pipeDone) {
      if (this.pipeDone) this.settle(error);
      return;
    }
    this.pump();
  }

  private settle(error: unknown): void {
    if (this.settled) return;
    this.settled = true;
    this.cleanup();
    this.socket.destroy();
    if (error === null) this.pipeDone?.resolve();
    else this.pipeDone?.reject(error);
  }

  private destroy(): void {
    this.socket.destroy();
    this.cleanup();
    if (this.settled) return;
    this.failure ??= { error: new Error('the response was closed'), fromWriter: true };
    if (this.pipeDone) this.settle(this.failure.error);
  }

  private cleanup(): void {
    this.opts.signal.removeEventListener('abort', this.onAbort);
  }
}
