/**
 * Backend output (U5): per model, a ring of the last lines (kept after unload until cleared), live
 * subscribers for the log view, and a log file per model under `<data dir>/logs`, rotated by size.
 * After a restart a model's ring starts from the tail of its files, so the log view keeps its history.
 */
import { closeSync, fstatSync, mkdirSync, openSync, readSync, renameSync, writeSync } from 'node:fs';
import { join } from 'node:path';
import { StringDecoder } from 'node:string_decoder';
import { createHash } from 'node:crypto';
import type { LogLine } from '../../../shared/model';
import { systemClock, type Clock } from '../clock';

export type LogStream = LogLine['stream'];
export type LogListener = (model: string, line: LogLine) => void;

export interface LogStoreOptions {
  /** Where `<model>.log` files go; null keeps logs in memory only. */
  logsDir: string | null;
  /** Lines kept per model (default 1,000). */
  maxLines?: number;
  /** Size at which `<model>.log` is rotated to `<model>.log.1` (default 10 MB). */
  maxFileBytes?: number;
  clock?: Clock;
}

/** Written to the file when the user clears a model's log view: a restart shows only what came after. */
const CLEARED_MARK = '-- log view cleared --';

/** How much of each file's end a restart reads back (the ring holds ~1,000 lines). */
const TAIL_BYTES = 512 * 1024;

/** A line as `writeToFile` writes it. */
const FILE_LINE = /^(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d+)?Z) (stdout|stderr|loadout): (.*)$/;

/** A line longer than this without a newline is cut into pieces, so one runaway write cannot grow memory without bound. */
const MAX_PARTIAL_CHARS = 16 * 1024;

interface Pending {
  decoder: StringDecoder;
  text: string;
}

interface LogFile {
  fd: number;
  size: number;
  path: string;
}

export class LogStore {
  private readonly logsDir: string | null;
  private readonly maxLines: number;
  private readonly maxFileBytes: number;
  private readonly clock: Clock;
  private readonly rings = new Map<string, LogLine[]>();
  /** Partial (not yet newline-terminated) output per model and stream. */
  private readonly pending = new Map<string, Map<LogStream, Pending>>();
  private readonly files = new Map<string, LogFile>();
  private readonly listeners = new Set<{ model: string | null; fn: LogListener }>();
  private disposed = false;

  constructor(options: LogStoreOptions) {
    this.logsDir = options.logsDir;
    this.maxLines = options.maxLines ?? 1000;
    this.maxFileBytes = options.maxFileBytes ?? 10 * 1024 * 1024;
    this.clock = options.clock ?? systemClock;
  }

  /**
   * Adds a chunk of output. Process output arrives in arbitrary chunks: complete lines are stored
   * now, a trailing partial line waits for its newline (or `flush`). Text on the `loadout` stream is
   * our own messages and is always taken as whole lines.
   */
  append(model: string, stream: LogStream, chunk: string | Uint8Array): void {
    if (this.disposed) return;
    if (stream === 'loadout') {
      const text = typeof chunk === 'string' ? chunk : Buffer.from(chunk).toString('utf8');
      for (const line of text.replace(/\r?\n$/, '').split(/\r?\n/)) this.push(model, stream, line);
      return;
    }
    const pending = this.pendingFor(model, stream);
    pending.text += typeof chunk === 'string' ? chunk : pending.decoder.write(Buffer.from(chunk));
    let newline: number;
    while ((newline = pending.text.indexOf('\n')) >= 0) {
      const line = pending.text.slice(0, newline).replace(/\r$/, '');
      pending.text = pending.text.slice(newline + 1);
      this.push(model, stream, line);
    }
    while (pending.text.length > MAX_PARTIAL_CHARS) {
      this.push(model, stream, pending.text.slice(0, MAX_PARTIAL_CHARS));
      pending.text = pending.text.slice(MAX_PARTIAL_CHARS);
    }
  }

  /** Stores any partial lines of this model as lines (the process has exited, nothing more will come). */
  flush(model: string): void {
    const streams = this.pending.get(model);
    if (!streams) return;
    for (const [stream, pending] of streams) {
      const rest = pending.text + pending.decoder.end();
      pending.text = '';
      if (rest) this.push(model, stream, rest.replace(/\r$/, ''));
    }
    this.pending.delete(model);
  }

  /** The kept lines of a model, oldest first (a copy). */
  lines(model: string): LogLine[] {
    return [...this.ringOf(model)];
  }

  /** Forgets a model's kept lines (its log file stays on disk, marked so a restart does not bring them back). */
  clear(model: string): void {
    this.rings.set(model, []);
    this.pending.delete(model);
    this.writeToFile(model, { at: new Date(this.clock.now()).toISOString(), stream: 'loadout', text: CLEARED_MARK });
  }

  /** Live lines of one model, or of all models with `null`. Returns the unsubscribe. */
  subscribe(model: string | null, listener: LogListener): () => void {
    const entry = { model, fn: listener };
    this.listeners.add(entry);
    return () => {
      this.listeners.delete(entry);
    };
  }

  /** The file a model's log is written to (null when logs are kept in memory only). */
  filePath(model: string): string | null {
    return this.logsDir ? join(this.logsDir, `${safeFileStem(model)}.log`) : null;
  }

  dispose(): void {
    if (this.disposed) return;
    for (const model of [...this.pending.keys()]) this.flush(model);
    this.disposed = true;
    for (const file of this.files.values()) closeQuietly(file.fd);
    this.files.clear();
    this.listeners.clear();
  }

  private pendingFor(model: string, stream: LogStream): Pending {
    let streams = this.pending.get(model);
    if (!streams) this.pending.set(model, (streams = new Map()));
    let pending = streams.get(stream);
    if (!pending) streams.set(stream, (pending = { decoder: new StringDecoder('utf8'), text: '' }));
    return pending;
  }

  private push(model: string, stream: LogStream, text: string): void {
    const line: LogLine = { at: new Date(this.clock.now()).toISOString(), stream, text };
    const ring = this.ringOf(model);
    ring.push(line);
    if (ring.length > this.maxLines) ring.splice(0, ring.length - this.maxLines);
    this.writeToFile(model, line);
    for (const l of this.listeners) {
      if (l.model !== null && l.model !== model) continue;
      try {
        l.fn(model, line);
      } catch {
        // A broken subscriber must not stop the others nor the process capturing output.
      }
    }
  }

  private ringOf(model: string): LogLine[] {
    let ring = this.rings.get(model);
    if (!ring) this.rings.set(model, (ring = this.readBack(model)));
    return ring;
  }

  /** The last lines of a model's files from earlier runs (after the last clear), oldest first. */
  private readBack(model: string): LogLine[] {
    const path = this.filePath(model);
    if (!path) return [];
    let lines = parseLogLines(readTail(path));
    if (lines.length < this.maxLines && !lines.some(isClearMark)) lines = [...parseLogLines(readTail(`${path}.1`)), ...lines];
    const cleared = lines.findLastIndex(isClearMark);
    return lines.slice(cleared + 1).slice(-this.maxLines);
  }

  /** Best effort: a full disk or a read-only data dir must never break a load. */
  private writeToFile(model: string, line: LogLine): void {
    const path = this.filePath(model);
    if (!path || !this.logsDir) return;
    const bytes = Buffer.from(`${line.at} ${line.stream}: ${line.text}\n`, 'utf8');
    let file = this.files.get(model);
    try {
      if (!file) {
        mkdirSync(this.logsDir, { recursive: true });
        const fd = openSync(path, 'a');
        file = { fd, size: fstatSync(fd).size, path };
        this.files.set(model, file);
      }
      if (file.size > 0 && file.size + bytes.length > this.maxFileBytes) {
        closeSync(file.fd);
        this.files.delete(model);
        renameSync(path, `${path}.1`);
        const fd = openSync(path, 'a');
        file = { fd, size: 0, path };
        this.files.set(model, file);
      }
      writeSync(file.fd, bytes);
      file.size += bytes.length;
    } catch {
      // Drop the handle so the next line tries again from scratch (the folder may come back).
      if (file) closeQuietly(file.fd);
      this.files.delete(model);
    }
  }
}

/**
 * A file name for any model name: model names come from YAML and may hold slashes, colons or
 * dots. Names that needed changes get a short hash so that `a/b` and `a_b` stay apart.
 */
export function safeFileStem(model: string): string {
  const cleaned = model.replace(/[^A-Za-z0-9._-]/g, '_').replace(/^\.+/, '_').slice(0, 100);
  if (cleaned === model && cleaned.length > 0) return cleaned;
  const hash = createHash('sha1').update(model).digest('hex').slice(0, 8);
  return `${cleaned || 'model'}-${hash}`;
}

function isClearMark(line: LogLine): boolean {
  return line.stream === 'loadout' && line.text === CLEARED_MARK;
}

function parseLogLines(text: string): LogLine[] {
  const out: LogLine[] = [];
  for (const raw of text.split('\n')) {
    const m = FILE_LINE.exec(raw);
    if (m) out.push({ at: m[1], stream: m[2] as LogStream, text: m[3] });
  }
  return out;
}

/** The file's last TAIL_BYTES, from the first whole line on ('' when there is no file). */
function readTail(path: string): string {
  let fd: number;
  try {
    fd = openSync(path, 'r');
  } catch {
    return '';
  }
  try {
    const size = fstatSync(fd).size;
    const start = Math.max(0, size - TAIL_BYTES);
    const buf = Buffer.alloc(size - start);
    let got = 0;
    while (got < buf.length) {
      const n = readSync(fd, buf, got, buf.length - got, start + got);
      if (n === 0) break;
      got += n;
    }
    const text = buf.subarray(0, got).toString('utf8');
    return start === 0 ? text : text.slice(text.indexOf('\n') + 1);
  } catch {
    return '';
  } finally {
    closeQuietly(fd);
  }
}

function closeQuietly(fd: number): void {
  try {
    closeSync(fd);
  } catch {
    // already closed
  }
}
