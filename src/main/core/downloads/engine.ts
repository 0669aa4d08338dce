/**
 * The download engine (downloads-spec section 3): one job per target file, transferred in ranges
 * into `<target>.part` with a `<target>.part.json` sidecar, verified off the main thread and
 * published by an atomic rename. Plain Node on undici; time comes from the injected Clock.
 */
import { randomBytes } from 'node:crypto';
import { existsSync } from 'node:fs';
import fs from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { Agent, request, type Dispatcher } from 'undici';
import { systemClock, type Clock } from '../clock';
import { Emitter } from '../emitter';
import type { DownloadJob, JobState, ShaSource } from '../../../shared/model';
import { DownloadError, type DownloadErrorData } from './errors';
import { writeFileAtomic } from '../fsx/writeFileAtomic';
import { firstBytes, hashFile, syncDir, writevAll } from './files';
import { rawGet } from './rawGet';
import { DEFAULT_OLLAMA_REGISTRY, parseModelUri, targetPath } from './uri';
import type { PeerSource } from '../cluster/peerFiles';

export type { DownloadJob, JobState, ShaSource } from '../../../shared/model';

export interface DownloadRequest {
  uri: string;
  /** The file name in the models folder; default: the URI's last segment. */
  filename?: string;
  sha256?: string;
  /** Where `sha256` came from: a config's `download_files` outranks a caller (G24). */
  sha256Source?: 'config' | 'caller';
  /** The catalog model the file belongs to, for the job row. */
  model?: string;
  /** A `nats:<sha256>` job (D29) must say the file's size: no preflight can learn it. */
  size?: number;
}

/** `nats:<sha256>`: a model file fetched from a cluster peer (D29). */
const PEER_URI_RE = /^nats:([0-9a-f]{64})$/;
/** Chunks in flight per peer fetch (spec section 3). */
const PEER_IN_FLIGHT = 8;
/** A peer transfer fails after this long without a byte (spec section 1), at most. */
const PEER_STALL_MS = 60_000;

export interface DownloadSettings {
  concurrency: number;
  connections: number;
  stallTimeoutMs: number;
  retries: number;
  reserveBytes: number;
  resumeOnStart: boolean;
  hfEndpoint: string;
  hfToken: string;
  ollamaRegistry: string;
  /** Smallest range a file is split into (G10); tests lower it. */
  minSegmentBytes: number;
}

export const DEFAULT_DOWNLOAD_SETTINGS: DownloadSettings = {
  concurrency: 2,
  connections: 4,
  stallTimeoutMs: 30_000,
  retries: 8,
  reserveBytes: 1024 ** 3,
  resumeOnStart: true,
  hfEndpoint: 'https://huggingface.co',
  hfToken: '',
  ollamaRegistry: DEFAULT_OLLAMA_REGISTRY,
  minSegmentBytes: 32 * 1024 ** 2,
};

export interface StatFs {
  bavail: number;
  bsize: number;
}

export interface DownloadEngineOptions {
  modelsDir: string;
  settings?: () => Partial<DownloadSettings>;
  clock?: Clock;
  statfs?: (dir: string) => Promise<StatFs>;
  /** Changes when the machine reboots: offsets not fdatasync'd are then not trusted (G22). */
  bootId?: () => string;
  random?: () => number;
  dispatcher?: Dispatcher;
  /** Called after a file is published, so the catalog lists it at once (G29). */
  onPublished?: (file: string) => void;
  extensions?: string[];
  /** Where `nats:<sha256>` jobs get their bytes (a cluster node sets it once joined). */
  peer?: PeerSource;
  /** Writes received bytes into the `.part` file; tests pass one that fails like a full disk. */
  writePart?: (handle: fs.FileHandle, chunks: Buffer[], position: number) => Promise<void>;
  /** The most received bytes gathered into one write (default 4 MiB); tests use less to see writes part-way. */
  writeBatchBytes?: number;
}

interface Segment {
  start: number;
  end: number;
  pos: number;
}

interface Sidecar {
  version: 1;
  id: string;
  uri: string;
  model: string | null;
  target: string;
  /** The resolve URL without its query (signed CDN URLs are never stored). */
  url: string;
  size: number | null;
  etag: string | null;
  sha256: { expected: string | null; source: ShaSource | null };
  shaFromRequest: { value: string; source: 'config' | 'caller' } | null;
  segments: Segment[];
  bootId: string;
  state: JobState;
  error: DownloadErrorData | null;
  ranges: boolean;
}

const HEADERS_TIMEOUT_MS = 30_000;
const REQUEST_HEADERS = { 'accept-encoding': 'identity', 'user-agent': 'Loadout' };
const TRAILER_MAGIC = Buffer.from('LDSEGS01');
const TRAILER_EVERY = 1024 * 1024;
const DURABLE_EVERY_MS = 5_000;
const DURABLE_EVERY_BYTES = 64 * 1024 * 1024;
const DURABLE_AT_MOST_EVERY_MS = 1_000;

/**
 * G22: when the next fdatasync checkpoint is due: every 5 s, or after 64 MiB but at most once a
 * second. A sync waits for the disk; on a fast link a 64 MiB rule alone synced many times a
 * second and held a 1 GiB transfer to the disk's speed (bench:download: 0.81x curl with it, 0.92x
 * without), while a power cut then costs at most about a second of transfer to fetch again.
 */
export function checkpointDue(msSince: number, bytesSince: number): boolean {
  return msSince >= DURABLE_EVERY_MS || (bytesSince >= DURABLE_EVERY_BYTES && msSince >= DURABLE_AT_MOST_EVERY_MS);
}
const EVENT_INTERVAL_MS = 250;
const WRITE_BATCH_BYTES = 4 * 1024 * 1024;
const SHA_RE = /^[0-9a-f]{64}$/;
/** G16: a job that failed on the network tries again by itself after these waits, then stays failed. */
export const AUTO_RETRY_DELAYS_MS = [60_000, 5 * 60_000, 15 * 60_000];
const OLLAMA_MODEL_LAYER = 'application/vnd.ollama.image.model';
const OLLAMA_MANIFEST_RE = /\/v2\/[^/]+\/[^/]+\/manifests\/[^/]+$/;
const LOOPBACK_HOSTS = new Set(['127.0.0.1', 'localhost', '[::1]', '::1']);

/** Pause, cancel or quit: ends a job's work without counting as a failure. */
class Stop extends Error {
  constructor(readonly why: 'pause' | 'cancel' | 'close') {
    super(why);
  }
}
/** Why one transfer attempt ended; each is handled in `transfer`. */
class Stalled extends Error {}
class UrlExpired extends Error {}
class RestartFromZero extends Error {}
class Retryable extends Error {
  constructor(
    message: string,
    readonly retryAfterMs?: number,
  ) {
    super(message);
  }
}

function normalizeEtag(v: string | string[] | undefined): string | null {
  const s = Array.isArray(v) ? v[0] : v;
  if (!s) return null;
  return s.replace(/^W\//, '').replace(/^"|"$/g, '');
}

function header(h: Record<string, string | string[] | undefined>, name: string): string | undefined {
  const v = h[name];
  return Array.isArray(v) ? v[0] : v;
}

function processAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

function urlWithoutQuery(u: string): string {
  const x = new URL(u);
  x.search = '';
  x.hash = '';
  return x.toString();
}

/** Drops a response body; undici reports a destroyed body as an error, which we expect here. */
function discard(body: NodeJS.ReadableStream & { destroy(): void }): void {
  body.on('error', () => {});
  body.destroy();
}

function fmtBytes(n: number): string {
  return n >= 1024 ** 3 ? `${(n / 1024 ** 3).toFixed(1)} GB` : `${(n / 1024 ** 2).toFixed(1)} MB`;
}

class Job {
  id: string;
  state: JobState = 'queued';
  error: DownloadErrorData | null = null;
  notice: string | null = null;
  size: number | null = null;
  etag: string | null = null;
  ranges = true;
  segments: Segment[] = [];
  expected: { value: string; source: ShaSource } | null = null;
  actual: string | null = null;
  unverified = false;
  dataUrl: string | null = null;
  bytesPerSec = 0;
  lastEmit = -Infinity;
  lastRateAt = 0;
  lastRateBytes = 0;
  lastDurableAt = 0;
  lastDurableBytes = 0;
  durableSegments: Segment[] = [];
  failures = 0;
  /** G16: automatic retries used since the job last made it through (or the user retried). */
  autoRetries = 0;
  autoRetryTimer: unknown = null;
  /** The G31 lock file while this process works on the job. */
  lockFile: string | null = null;
  stopping: Stop | null = null;
  abort: AbortController | null = null;
  running: Promise<void> | null = null;
  wakeBackoff: (() => void) | null = null;
  hashCancel: (() => void) | null = null;
  durablePending: Promise<void> | null = null;

  constructor(
    readonly req: DownloadRequest,
    readonly target: string,
    readonly file: string,
    /** Where the bytes come from; an ollama:// job swaps its manifest URL for the blob's. */
    public sourceUrl: string,
    id?: string,
  ) {
    this.id = id ?? randomBytes(6).toString('hex');
    if (req.sha256) this.expected = { value: req.sha256.toLowerCase(), source: req.sha256Source ?? 'caller' };
  }

  get part(): string {
    return `${this.file}.part`;
  }
  get sidecar(): string {
    return `${this.file}.part.json`;
  }
  get received(): number {
    return this.segments.reduce((sum, s) => sum + (s.pos - s.start), 0);
  }
}

/** Runs and remembers download jobs; `events` fires on every state change and at most 4/s of progress per job (G34). */
export class DownloadEngine {
  readonly events = new Emitter<DownloadJob>();
  private jobs = new Map<string, Job>();
  private queue: Job[] = [];
  private active = new Set<Job>();
  private clock: Clock;
  private dispatcher: Dispatcher;
  private ownsDispatcher: boolean;
  private closed = false;

  constructor(private opts: DownloadEngineOptions) {
    this.clock = opts.clock ?? systemClock;
    this.ownsDispatcher = !opts.dispatcher;
    this.dispatcher = opts.dispatcher ?? new Agent({ headersTimeout: HEADERS_TIMEOUT_MS * 2, bodyTimeout: 0, connections: 16 });
  }

  private settings(): DownloadSettings {
    return { ...DEFAULT_DOWNLOAD_SETTINGS, ...this.opts.settings?.() };
  }

  private bootId(): string {
    return this.opts.bootId?.() ?? String(Math.round((Date.now() - os.uptime() * 1000) / 60_000));
  }

  /** Restores jobs from sidecars (G20): those running at quit resume, paused ones stay paused. */
  async start(): Promise<void> {
    let names: string[] = [];
    try {
      names = await fs.readdir(this.opts.modelsDir);
    } catch {
      return;
    }
    for (const name of names.filter((n) => n.endsWith('.part.json'))) {
      let car: Sidecar;
      try {
        car = JSON.parse(await fs.readFile(path.join(this.opts.modelsDir, name), 'utf8')) as Sidecar;
      } catch {
        continue; // a torn or foreign file: leave it alone
      }
      if (car.version !== 1 || this.jobs.has(car.target)) continue;
      let file: string;
      try {
        file = targetPath(this.opts.modelsDir, car.target, this.opts.extensions);
      } catch {
        continue;
      }
      const req: DownloadRequest = { uri: car.uri, model: car.model ?? undefined, filename: car.target };
      if (car.shaFromRequest) Object.assign(req, { sha256: car.shaFromRequest.value, sha256Source: car.shaFromRequest.source });
      const job = new Job(req, car.target, file, car.url, car.id);
      job.size = car.size;
      job.etag = car.etag;
      job.ranges = car.ranges;
      if (car.sha256.expected && car.sha256.source) job.expected = { value: car.sha256.expected, source: car.sha256.source };
      // A transfer of unknown size cannot be continued (no ranges): it starts again.
      if (car.size === null) job.segments = [];
      else job.segments = (car.bootId === this.bootId() && (await this.readTrailer(job))) || car.segments;
      job.durableSegments = car.size === null ? [] : car.segments.map((s) => ({ ...s }));
      job.error = car.error;
      this.jobs.set(job.target, job);
      const wasRunning = car.state === 'queued' || car.state === 'resolving' || car.state === 'downloading' || car.state === 'verifying';
      if (wasRunning && this.settings().resumeOnStart) this.enqueue(job);
      else {
        job.state = car.state === 'failed' ? 'failed' : 'paused';
        this.emit(job, true);
      }
    }
  }

  /** Starts (or returns the existing) job for a URI (G31: one job per target). */
  add(req: DownloadRequest): DownloadJob {
    if (this.closed) throw new DownloadError('invalid', 'The download engine is shutting down');
    const peerSha = PEER_URI_RE.exec(req.uri)?.[1];
    if (peerSha !== undefined) return this.addPeer(req, peerSha);
    const s = this.settings();
    const parsed = parseModelUri(req.uri, { hfEndpoint: s.hfEndpoint, ollamaRegistry: s.ollamaRegistry, modelsDir: this.opts.modelsDir, extensions: this.opts.extensions });
    if (parsed.kind === 'file') throw new DownloadError('invalid', 'file:// names a file already on this machine; put it in the models folder instead of downloading it');
    if (req.sha256 !== undefined && !SHA_RE.test(req.sha256.toLowerCase())) throw new DownloadError('invalid', 'sha256 must be 64 hex digits');
    const url = new URL(parsed.url);
    // G43: plain HTTP from another machine can be altered on the way; only a pinned checksum makes it safe.
    if (url.protocol === 'http:' && !LOOPBACK_HOSTS.has(url.hostname) && req.sha256 === undefined) {
      throw new DownloadError('invalid', `${urlWithoutQuery(parsed.url)} is plain http:// from another machine: use https://, or give the file's sha256 so Loadout can check what arrives`);
    }
    const target = req.filename ?? parsed.target;
    const file = targetPath(this.opts.modelsDir, target, this.opts.extensions);
    const existing = this.jobs.get(target);
    if (existing && existing.state !== 'done' && existing.state !== 'cancelled') return this.row(existing);
    const job = new Job(req, target, file, parsed.url);
    this.jobs.set(target, job);
    this.enqueue(job);
    return this.row(job);
  }

  /** Sets where `nats:` jobs fetch from (null: not in a cluster; such jobs then fail retryable). */
  setPeerSource(peer: PeerSource | null): void {
    this.opts.peer = peer ?? undefined;
  }

  /** D29: a `nats:<sha256>` job: the sha256 is the expected one, the caller gives name and size. */
  private addPeer(req: DownloadRequest, sha: string): DownloadJob {
    if (!req.filename) throw new DownloadError('invalid', 'A nats: download needs the target file name');
    if (req.size === undefined || !Number.isSafeInteger(req.size) || req.size < 0) throw new DownloadError('invalid', 'A nats: download needs the file size in bytes');
    const file = targetPath(this.opts.modelsDir, req.filename, this.opts.extensions);
    const existing = this.jobs.get(req.filename);
    if (existing && existing.state !== 'done' && existing.state !== 'cancelled') {
      if (existing.req.uri === req.uri) return this.row(existing);
      throw new DownloadError('downloading', `${req.filename} is already being downloaded from ${existing.req.uri}`, { retryable: true });
    }
    const job = new Job({ ...req, sha256: undefined }, req.filename, file, req.uri);
    job.expected = { value: sha, source: 'cluster' };
    job.size = req.size;
    this.jobs.set(req.filename, job);
    this.enqueue(job);
    return this.row(job);
  }

  list(): DownloadJob[] {
    return [...this.jobs.values()].map((j) => this.row(j));
  }

  get(id: string): DownloadJob | null {
    const job = this.byId(id);
    return job ? this.row(job) : null;
  }

  private byId(id: string): Job | undefined {
    return [...this.jobs.values()].find((j) => j.id === id);
  }

  private need(id: string): Job {
    const job = this.byId(id);
    if (!job) throw new DownloadError('not_found', `No download with id ${id}`);
    return job;
  }

  /** Closes the job's connections and keeps what arrived (G19). */
  async pause(id: string): Promise<DownloadJob> {
    const job = this.need(id);
    if (job.state === 'queued') {
      this.queue = this.queue.filter((j) => j !== job);
      await this.setState(job, 'paused');
    } else if (job.running) {
      await this.stop(job, new Stop('pause'));
    }
    return this.row(job);
  }

  /** Continues from the committed offsets; after a checksum failure, starts over (G27). */
  async resume(id: string): Promise<DownloadJob> {
    const job = this.need(id);
    if (job.state === 'paused' || job.state === 'failed') {
      if (job.error?.code === 'checksum_mismatch') await this.discardPartial(job, null);
      this.clearAutoRetry(job);
      job.autoRetries = 0;
      job.notice = null;
      job.error = null;
      job.failures = 0;
      this.enqueue(job);
    }
    return this.row(job);
  }

  /** Stops the job and deletes its partial data, never a finished file (G32). */
  async cancel(id: string): Promise<DownloadJob> {
    const job = this.need(id);
    this.queue = this.queue.filter((j) => j !== job);
    this.clearAutoRetry(job);
    if (job.running) await this.stop(job, new Stop('cancel'));
    if (job.state !== 'done') {
      await fs.rm(job.part, { force: true });
      await fs.rm(job.sidecar, { force: true });
      job.state = 'cancelled';
      this.emit(job, true);
    }
    this.jobs.delete(job.target);
    return this.row(job);
  }

  /** Pauses every job, flushing what arrived, so the next start resumes them (G33). */
  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.queue = [];
    for (const job of this.jobs.values()) this.clearAutoRetry(job);
    await Promise.all([...this.jobs.values()].filter((j) => j.running).map((j) => this.stop(j, new Stop('close'))));
    if (this.ownsDispatcher) await this.dispatcher.close();
  }

  private async stop(job: Job, why: Stop): Promise<void> {
    job.stopping = why;
    job.abort?.abort(why);
    job.wakeBackoff?.();
    job.hashCancel?.();
    await job.running;
  }

  private enqueue(job: Job): void {
    if (this.closed) return;
    job.state = 'queued';
    this.emit(job, true);
    if (!this.queue.includes(job)) this.queue.push(job);
    this.pump();
  }

  /** G9: at most `concurrency` jobs transfer; the rest wait in order. */
  private pump(): void {
    while (!this.closed && this.queue.length > 0 && this.active.size < Math.max(1, this.settings().concurrency)) {
      const job = this.queue.shift()!;
      this.active.add(job);
      job.stopping = null;
      job.running = this.run(job).finally(() => {
        this.active.delete(job);
        job.running = null;
        this.pump();
      });
    }
  }

  private row(job: Job): DownloadJob {
    const received = job.received;
    const remaining = job.size === null ? null : job.size - received;
    return {
      id: job.id,
      model: job.req.model ?? null,
      uri: job.req.uri,
      target: job.target,
      state: job.state,
      error: job.error,
      notice: job.notice,
      totalBytes: job.size,
      receivedBytes: job.state === 'done' && job.size !== null ? job.size : received,
      bytesPerSec: Math.round(job.bytesPerSec),
      etaSeconds: remaining !== null && job.bytesPerSec > 0 && job.state === 'downloading' ? Math.ceil(remaining / job.bytesPerSec) : null,
      sha256: { expected: job.expected?.value ?? null, source: job.expected?.source ?? null, actual: job.actual },
      unverified: job.unverified,
    };
  }

  private emit(job: Job, force = false): void {
    const now = this.clock.now();
    if (!force && now - job.lastEmit < EVENT_INTERVAL_MS) return;
    job.lastEmit = now;
    this.events.emit(this.row(job));
  }

  private async setState(job: Job, state: JobState, error: DownloadErrorData | null = job.error): Promise<void> {
    // The lock goes before the state is told, so whoever sees a job settle finds the folder settled too.
    if (state === 'done' || state === 'failed' || state === 'paused' || state === 'cancelled') await this.unlock(job);
    job.state = state;
    job.error = error;
    if (state !== 'done' && state !== 'cancelled' && (existsSync(job.part) || existsSync(job.sidecar))) await this.writeSidecar(job, job.durableSegments);
    this.emit(job, true);
  }

  private async writeSidecar(job: Job, segments: Segment[]): Promise<void> {
    const car: Sidecar = {
      version: 1,
      id: job.id,
      uri: job.req.uri,
      model: job.req.model ?? null,
      target: job.target,
      url: PEER_URI_RE.test(job.sourceUrl) ? job.sourceUrl : urlWithoutQuery(job.sourceUrl),
      size: job.size,
      etag: job.etag,
      sha256: { expected: job.expected?.value ?? null, source: job.expected?.source ?? null },
      shaFromRequest: job.req.sha256 ? { value: job.req.sha256.toLowerCase(), source: job.req.sha256Source ?? 'caller' } : null,
      segments,
      bootId: this.bootId(),
      state: job.state,
      error: job.error,
      ranges: job.ranges,
    };
    await writeFileAtomic(job.sidecar, JSON.stringify(car, null, 1));
  }

  /** Offsets pwritten after the data (no fsync): trusted only within the same boot (G21, G22). */
  private async readTrailer(job: Job): Promise<Segment[] | null> {
    if (job.size === null) return null;
    try {
      const handle = await fs.open(job.part, 'r');
      try {
        const { size } = await handle.stat();
        const buf = Buffer.alloc(Math.max(0, size - job.size));
        await handle.read(buf, 0, buf.length, job.size);
        if (buf.length < 12 || !buf.subarray(0, 8).equals(TRAILER_MAGIC)) return null;
        const count = buf.readUInt32LE(8);
        if (buf.length < 12 + count * 24) return null;
        const segs: Segment[] = [];
        for (let i = 0; i < count; i++) segs.push({ start: buf.readDoubleLE(12 + i * 24), end: buf.readDoubleLE(20 + i * 24), pos: buf.readDoubleLE(28 + i * 24) });
        return segs;
      } finally {
        await handle.close();
      }
    } catch {
      return null;
    }
  }

  private trailer(job: Job): Buffer {
    const buf = Buffer.alloc(12 + job.segments.length * 24);
    TRAILER_MAGIC.copy(buf);
    buf.writeUInt32LE(job.segments.length, 8);
    job.segments.forEach((s, i) => {
      buf.writeDoubleLE(s.start, 12 + i * 24);
      buf.writeDoubleLE(s.end, 20 + i * 24);
      buf.writeDoubleLE(s.pos, 28 + i * 24);
    });
    return buf;
  }

  private authHeaders(url: string): Record<string, string> {
    const s = this.settings();
    // G18: the token goes to the Hub itself, never to a CDN or another host.
    if (!s.hfToken) return {};
    return new URL(url).host === new URL(s.hfEndpoint).host ? { authorization: `Bearer ${s.hfToken}` } : {};
  }

  private async run(job: Job): Promise<void> {
    try {
      await this.setState(job, 'resolving', null);
      await this.lock(job);
      const peer = PEER_URI_RE.exec(job.sourceUrl)?.[1];
      if (peer !== undefined) await this.resolvePeer(job, peer);
      else {
        if (OLLAMA_MANIFEST_RE.test(job.sourceUrl)) await this.resolveOllama(job);
        await this.resolveAndCheck(job);
      }
      if (job.state === 'done') return;
      if (peer !== undefined) await this.transferPeer(job, peer);
      else await this.transfer(job);
      await this.verifyAndPublish(job);
      job.autoRetries = 0;
    } catch (e) {
      await this.settle(job, e);
    } finally {
      await this.unlock(job);
    }
  }

  private async unlock(job: Job): Promise<void> {
    const file = job.lockFile;
    job.lockFile = null;
    if (file) await fs.rm(file, { force: true });
  }

  /**
   * G31: a lock file next to the partial stops a second Loadout process (another data folder
   * sharing this models folder) from writing the same `.part`; a lock whose process is gone is taken over.
   */
  private async lock(job: Job): Promise<void> {
    const file = `${job.file}.part.lock`;
    for (let tries = 0; ; tries++) {
      try {
        await fs.writeFile(file, JSON.stringify({ pid: process.pid, host: os.hostname() }), { flag: 'wx' });
        job.lockFile = file;
        return;
      } catch (e) {
        if ((e as NodeJS.ErrnoException).code !== 'EEXIST' || tries > 0) throw e;
      }
      let holder: { pid?: unknown; host?: unknown } = {};
      try {
        holder = JSON.parse(await fs.readFile(file, 'utf8')) as typeof holder;
      } catch {
        // torn or foreign: treated as stale below
      }
      const pid = typeof holder.pid === 'number' ? holder.pid : null;
      const sameHost = holder.host === undefined || holder.host === os.hostname();
      if (pid !== null && pid !== process.pid && (!sameHost || processAlive(pid))) {
        throw new DownloadError('downloading', `${job.target} is being downloaded by another Loadout process (pid ${pid}${sameHost ? '' : ` on ${String(holder.host)}`}); let it finish, or quit it and retry`, { retryable: true });
      }
      await fs.rm(file, { force: true });
    }
  }

  /** G45: an Ollama manifest names the model layer; its digest is the file's sha256 (G24: below config and caller). */
  private async resolveOllama(job: Job): Promise<void> {
    const manifestUrl = job.sourceUrl;
    let manifest: { layers?: { mediaType?: unknown; digest?: unknown; size?: unknown }[] };
    for (;;) {
      job.abort = new AbortController();
      try {
        const res = await request(manifestUrl, {
          headers: { accept: 'application/vnd.docker.distribution.manifest.v2+json', 'user-agent': 'Loadout' },
          signal: job.abort.signal,
          dispatcher: this.dispatcher,
          headersTimeout: HEADERS_TIMEOUT_MS,
          bodyTimeout: HEADERS_TIMEOUT_MS,
        });
        if (res.statusCode === 404) {
          discard(res.body);
          throw new DownloadError('not_found', `Ollama's registry has no ${job.req.uri} (check the name and tag)`);
        }
        if (res.statusCode >= 500 || res.statusCode === 429) {
          discard(res.body);
          await this.backoff(job, new Error(`the Ollama registry answered ${res.statusCode}`));
          continue;
        }
        if (res.statusCode !== 200) {
          discard(res.body);
          throw new DownloadError('upstream', `The Ollama registry answered ${res.statusCode} for ${urlWithoutQuery(manifestUrl)}`);
        }
        manifest = (await res.body.json()) as typeof manifest;
        break;
      } catch (e) {
        if (job.stopping) throw job.stopping;
        if (e instanceof DownloadError) throw e;
        await this.backoff(job, e instanceof Error ? e : new Error(String(e)));
      }
    }
    const layer = Array.isArray(manifest.layers) ? manifest.layers.find((l) => l.mediaType === OLLAMA_MODEL_LAYER) : undefined;
    const digest = typeof layer?.digest === 'string' ? /^sha256:([0-9a-f]{64})$/.exec(layer.digest)?.[1] : undefined;
    if (!digest) throw new DownloadError('upstream', `The Ollama manifest for ${job.req.uri} has no model layer with a sha256 digest`);
    job.sourceUrl = manifestUrl.replace(/\/manifests\/[^/]+$/, `/blobs/sha256:${digest}`);
    if (!job.expected) job.expected = { value: digest, source: 'ollama' };
  }

  private clearAutoRetry(job: Job): void {
    if (job.autoRetryTimer !== null) this.clock.clearTimeout(job.autoRetryTimer);
    job.autoRetryTimer = null;
  }

  /** G16: a network failure is tried again by itself after 1, 5 and 15 minutes, one job at a time. */
  private scheduleAutoRetry(job: Job, error: DownloadError): void {
    const delay = AUTO_RETRY_DELAYS_MS[job.autoRetries];
    if (this.closed || !error.retryable || error.code === 'disk_space' || error.code === 'downloading') return;
    if (delay === undefined) {
      job.notice = `Tried ${AUTO_RETRY_DELAYS_MS.length} more times by itself without success; press Retry to try again`;
      return;
    }
    job.autoRetries++;
    job.notice = `Trying again by itself in ${delay / 60_000} min (${job.autoRetries} of ${AUTO_RETRY_DELAYS_MS.length})`;
    this.clearAutoRetry(job);
    job.autoRetryTimer = this.clock.setTimeout(() => {
      job.autoRetryTimer = null;
      if (job.state !== 'failed' || this.closed) return;
      job.error = null;
      job.failures = 0;
      job.notice = null;
      this.enqueue(job);
    }, delay);
  }

  private async settle(job: Job, e: unknown): Promise<void> {
    if (e instanceof Stop || job.stopping) {
      const why = job.stopping ?? (e as Stop);
      if (why.why === 'cancel') return;
      await this.flush(job);
      // On quit the sidecar keeps the running state, so the next start resumes the job (G20).
      if (why.why === 'pause') await this.setState(job, 'paused');
      return;
    }
    const error = e instanceof DownloadError ? e : new DownloadError('upstream', e instanceof Error ? e.message : String(e), { retryable: true });
    await this.flush(job);
    // G7: a full disk pauses the job and keeps the partial file.
    const paused = error.code === 'disk_space' && job.received > 0;
    if (!paused) this.scheduleAutoRetry(job, error);
    await this.setState(job, paused ? 'paused' : 'failed', error.toData());
  }

  /** Waits on the injected clock; pause/cancel wake it early. */
  private wait(job: Job, ms: number): Promise<void> {
    return new Promise((resolve, reject) => {
      const handle = this.clock.setTimeout(() => {
        job.wakeBackoff = null;
        resolve();
      }, ms);
      job.wakeBackoff = () => {
        this.clock.clearTimeout(handle);
        job.wakeBackoff = null;
        reject(job.stopping ?? new Stop('pause'));
      };
      if (job.stopping) job.wakeBackoff();
    });
  }

  /** G15: 1 s doubling to 60 s, with jitter; `retries` failures in a row end the job (retryable). */
  private async backoff(job: Job, error: Error, atLeastMs = 0): Promise<void> {
    job.failures++;
    const s = this.settings();
    if (job.failures >= s.retries) throw new DownloadError('upstream', `Gave up after ${job.failures} failed attempts in a row: ${error.message}`, { retryable: true });
    const base = Math.min(60_000, 1000 * 2 ** (job.failures - 1));
    const jitter = 0.5 + (this.opts.random ?? Math.random)() * 0.5;
    await this.wait(job, Math.max(atLeastMs, Math.round(base * jitter)));
  }

  /**
   * G14: a timer on the injected clock that aborts the request when nothing arrives for `stallMs`
   * (at first, while waiting for the response head, for at most HEADERS_TIMEOUT_MS).
   */
  private stallTimer(job: Job, stallMs: number) {
    const ctrl = new AbortController();
    const onJobAbort = () => ctrl.abort(job.abort?.signal.reason ?? job.stopping);
    job.abort?.signal.addEventListener('abort', onJobAbort);
    let timer: unknown = null;
    let quietSince = this.clock.now();
    // Activity only notes the time (thousands of reads a second); the timer, when it fires, waits
    // out whatever is left of the quiet period before it calls the connection stalled.
    const arm = (ms: number) => {
      if (timer !== null) this.clock.clearTimeout(timer);
      const left = quietSince + ms - this.clock.now();
      timer = left <= 0 ? (ctrl.abort(new Stalled(`no data for ${Math.round(ms / 1000)} s`)), null) : this.clock.setTimeout(() => arm(ms), left);
    };
    const done = () => {
      if (timer !== null) this.clock.clearTimeout(timer);
      timer = null;
      job.abort?.signal.removeEventListener('abort', onJobAbort);
    };
    arm(Math.min(stallMs, HEADERS_TIMEOUT_MS));
    const headArrived = () => {
      quietSince = this.clock.now();
      arm(stallMs);
    };
    return { signal: ctrl.signal, rearm: () => (quietSince = this.clock.now()), headArrived, done };
  }

  /** A GET through undici, for the preflight and its redirects. */
  private async open(job: Job, url: string, headers: Record<string, string>, stallMs: number) {
    const stall = this.stallTimer(job, stallMs);
    try {
      const res = await request(url, {
        method: 'GET',
        headers: { ...REQUEST_HEADERS, ...headers },
        signal: stall.signal,
        dispatcher: this.dispatcher,
        // undici's own timers are a backstop; the stall timer above is the one that decides.
        headersTimeout: HEADERS_TIMEOUT_MS * 2,
        bodyTimeout: stallMs * 2 + 60_000,
      });
      stall.headArrived();
      return { res, done: stall.done };
    } catch (e) {
      stall.done();
      throw stall.signal.aborted ? stall.signal.reason : e;
    }
  }

  /** The GET that carries a range's bytes (rawGet: no copies between the socket and the file). */
  private async openBody(job: Job, url: string, headers: Record<string, string>, stallMs: number) {
    const stall = this.stallTimer(job, stallMs);
    try {
      const res = await rawGet(url, { ...REQUEST_HEADERS, ...headers }, { signal: stall.signal, onBytes: stall.rearm, maxWriteBytes: this.opts.writeBatchBytes ?? WRITE_BATCH_BYTES });
      stall.headArrived();
      return { res, signal: stall.signal, done: stall.done };
    } catch (e) {
      stall.done();
      throw stall.signal.aborted ? stall.signal.reason : e;
    }
  }

  /** Preflight (G4, G5): follows redirects by hand, reading X-Linked-* and Hub error codes. */
  private async resolve(job: Job): Promise<{ url: string; size: number | null; etag: string | null; hubSha: string | null; ranges: boolean }> {
    const s = this.settings();
    let url = job.sourceUrl;
    let linkedSize: number | null = null;
    let linkedEtag: string | null = null;
    for (let hop = 0; hop < 8; ) {
      job.abort = new AbortController();
      let opened: Awaited<ReturnType<DownloadEngine['open']>>;
      try {
        opened = await this.open(job, url, { range: 'bytes=0-0', ...this.authHeaders(url) }, s.stallTimeoutMs);
      } catch (e) {
        if (job.stopping) throw job.stopping;
        if (e instanceof DownloadError) throw e;
        await this.backoff(job, e instanceof Error ? e : new Error(String(e)));
        continue;
      }
      const { res, done } = opened;
      done();
      discard(res.body);
      const h = res.headers;
      const code = header(h, 'x-error-code');
      if (res.statusCode >= 300 && res.statusCode < 400 && h.location) {
        linkedSize ??= header(h, 'x-linked-size') ? Number(header(h, 'x-linked-size')) : null;
        linkedEtag ??= normalizeEtag(h['x-linked-etag']);
        url = new URL(header(h, 'location')!, url).toString();
        hop++;
        continue;
      }
      if (res.statusCode === 401 || res.statusCode === 403) {
        const gated = code === 'GatedRepo' ? 'This repository is gated' : `${new URL(url).host} refused access (${res.statusCode})`;
        throw new DownloadError('upstream_auth', s.hfToken ? `${gated}: the hf_token in settings has no access to it; accept its terms on the Hub with that account` : `${gated}: set hf_token in settings to a Hugging Face token with access`);
      }
      if (res.statusCode === 404) throw new DownloadError('not_found', `${code === 'RepoNotFound' ? 'The repository' : 'The file'} was not found upstream (${urlWithoutQuery(url)})`);
      if (res.statusCode === 429) {
        // G5: wait as long as the Hub asks, then try again.
        const after = Number(header(h, 'retry-after'));
        await this.backoff(job, new Error('rate limited (429)'), Number.isFinite(after) ? Math.min(after, 600) * 1000 : 0);
        continue;
      }
      if (res.statusCode >= 500) {
        await this.backoff(job, new Error(`upstream answered ${res.statusCode}`));
        continue;
      }
      if (res.statusCode !== 200 && res.statusCode !== 206) throw new DownloadError('upstream', `Upstream answered ${res.statusCode} for ${urlWithoutQuery(url)}`);
      const total = /\/(\d+)$/.exec(header(h, 'content-range') ?? '')?.[1];
      const size = linkedSize ?? (total ? Number(total) : res.statusCode === 200 && header(h, 'content-length') ? Number(header(h, 'content-length')) : null);
      // G4: only the Hub's X-Linked-Etag of 64 hex digits is the LFS sha256; 40 is a git blob id.
      const hubSha = linkedEtag && SHA_RE.test(linkedEtag.toLowerCase()) ? linkedEtag.toLowerCase() : null;
      return { url, size, etag: linkedEtag ?? normalizeEtag(h.etag), hubSha, ranges: res.statusCode === 206 };
    }
    throw new DownloadError('upstream', `Too many redirects from ${urlWithoutQuery(job.sourceUrl)}`);
  }

  private async resolveAndCheck(job: Job): Promise<void> {
    const info = await this.resolve(job);
    job.dataUrl = info.url;
    // G23: a different file upstream makes the partial worthless.
    if (job.segments.length > 0 && ((job.size !== null && info.size !== job.size) || (job.etag && info.etag && info.etag !== job.etag))) {
      await this.discardPartial(job, `The file changed upstream (${job.size !== info.size ? `size ${job.size} -> ${info.size}` : `ETag ${job.etag} -> ${info.etag}`}); started again from 0`);
    }
    job.size = info.size;
    job.etag = info.etag;
    job.ranges = info.ranges && info.size !== null;
    const partial = job.segments.some((seg) => seg.pos > seg.start);
    if (!job.ranges && partial) {
      // G12: without Range support a partial cannot be continued; never append to it.
      job.segments = [];
      job.notice = 'The server does not support resuming; started again from 0';
    }
    const hubSha = info.hubSha;
    if (hubSha && job.expected?.source === 'config' && job.expected.value !== hubSha) {
      // G25: stale config checksum: fail before any byte, show both.
      throw new DownloadError('checksum_mismatch', `The config's sha256 (${job.expected.value}) differs from the Hub's (${hubSha}); fix download_files or use the Hub's`, {
        sha256: { expected: job.expected.value, source: 'config', actual: hubSha },
      });
    }
    // G24: config > caller > Hub; a Hub sha256 follows the file when it changes upstream.
    if (hubSha && (!job.expected || job.expected.source === 'hub')) job.expected = { value: hubSha, source: 'hub' };
    if (existsSync(job.file)) return this.targetPresent(job);
    if (job.segments.length === 0) {
      await this.checkDisk(job);
      job.segments = this.split(job);
    }
  }

  /**
   * D29: no preflight: the size came with the request (or the sidecar), the sha256 is the URI's.
   * A present target is checked like any other (G30); a partial continues from its offsets.
   */
  private async resolvePeer(job: Job, sha: string): Promise<void> {
    if (!this.opts.peer) throw new DownloadError('cluster_unavailable', `${job.target} comes from a cluster peer, but this Loadout is not joined to a cluster`, { retryable: true });
    const size = job.req.size ?? job.size;
    if (size === null || size === undefined) throw new DownloadError('invalid', `The size of ${job.target} is not known; start the fetch again`);
    if (job.segments.length > 0 && (job.size !== size || job.etag !== sha)) await this.discardPartial(job, 'A different file was asked for; started again from 0');
    job.size = size;
    job.etag = sha;
    job.ranges = true;
    job.expected = { value: sha, source: 'cluster' };
    if (existsSync(job.file)) return this.targetPresent(job);
    if (job.segments.length === 0) {
      await this.checkDisk(job);
      job.segments = this.splitPeer(size);
    }
  }

  /** One range per chunk lane, on chunk boundaries, so each lane asks for whole chunks in order. */
  private splitPeer(size: number): Segment[] {
    const chunk = this.opts.peer?.chunkBytes() ?? 512 * 1024;
    const chunks = Math.max(1, Math.ceil(size / chunk));
    const lanes = Math.min(PEER_IN_FLIGHT, chunks);
    const per = Math.ceil(chunks / lanes);
    const segs: Segment[] = [];
    for (let c = 0; c < chunks; c += per) segs.push({ start: c * chunk, end: Math.min(size, (c + per) * chunk), pos: c * chunk });
    return segs.length ? segs : [{ start: 0, end: 0, pos: 0 }];
  }

  /** Opens the job's `.part` (kept from before, or new) and starts its rate and durability clocks. */
  private async beginTransfer(job: Job): Promise<fs.FileHandle> {
    const handle = await fs.open(job.part, existsSync(job.part) ? 'r+' : 'w+');
    await this.setState(job, 'downloading', null);
    job.lastDurableAt = this.clock.now();
    job.lastDurableBytes = job.received;
    job.lastRateAt = this.clock.now();
    job.lastRateBytes = job.received;
    return handle;
  }

  /** D29: the transfer of a peer fetch; failures back off and retry from the committed offsets (G15). */
  private async transferPeer(job: Job, sha: string): Promise<void> {
    const handle = await this.beginTransfer(job);
    try {
      while (!job.segments.every((seg) => seg.pos >= seg.end)) {
        const before = job.received;
        try {
          await this.attemptPeer(job, handle, sha);
        } catch (e) {
          if (job.stopping) throw job.stopping;
          if (job.received > before) job.failures = 0;
          if (e instanceof DownloadError) throw e;
          await this.backoff(job, e instanceof Error ? e : new Error(String(e)));
        }
      }
      // No fdatasync here: publishing syncs the file before it hashes it (G29).
    } finally {
      await job.durablePending;
      await handle.close();
    }
  }

  /** Up to 8 chunk requests in flight, one per lane; the first failure stops every lane after its chunk. */
  private async attemptPeer(job: Job, handle: fs.FileHandle, sha: string): Promise<void> {
    const peer = this.opts.peer;
    if (!peer) throw new DownloadError('cluster_unavailable', `${job.target} comes from a cluster peer, but this Loadout left the cluster`, { retryable: true });
    job.abort = new AbortController();
    const timeoutMs = Math.min(PEER_STALL_MS, Math.max(1000, this.settings().stallTimeoutMs));
    let failure: unknown = null;
    let sinceTrailer = 0;
    const lane = async (seg: Segment) => {
      while (seg.pos < seg.end && failure === null && !job.stopping) {
        const length = Math.min(peer.chunkBytes(), seg.end - seg.pos);
        const data = await peer.fetch(sha, seg.pos, length, timeoutMs);
        if (job.stopping) return;
        if (data.length !== length) throw new Error(`a chunk of ${data.length} bytes when ${length} were asked`);
        if (seg.pos === 0 && job.target.toLowerCase().endsWith('.gguf') && data.length >= 4 && data.toString('latin1', 0, 4) !== 'GGUF') {
          throw new DownloadError('checksum_mismatch', `The peer sent something that is not a GGUF file for ${job.target}; nothing was saved`, { retryable: true });
        }
        try {
          await this.writePart(handle, [data], seg.pos);
        } catch (e) {
          const code = (e as NodeJS.ErrnoException).code;
          if (code === 'ENOSPC' || code === 'EDQUOT') throw new DownloadError('disk_space', `The disk filled up while fetching ${job.target}; free space and resume (the partial file was kept)`, { retryable: true });
          throw e;
        }
        seg.pos += length;
        sinceTrailer += length;
        if (sinceTrailer >= TRAILER_EVERY) {
          sinceTrailer = 0;
          await this.writeTrailer(job, handle);
        }
        this.progress(job, handle);
      }
    };
    await Promise.all(
      job.segments
        .filter((seg) => seg.pos < seg.end)
        .map((seg) =>
          lane(seg).catch((e) => {
            failure ??= e;
          }),
        ),
    );
    await this.writeTrailer(job, handle);
    if (job.stopping) throw job.stopping;
    if (failure !== null) throw failure;
  }

  /** G30: the target already exists: same sha256 -> done without transfer; different -> left untouched. */
  private async targetPresent(job: Job): Promise<void> {
    const { size } = await fs.stat(job.file);
    if (job.expected) {
      const hashing = hashFile(job.file, size);
      job.hashCancel = hashing.cancel;
      const actual = await hashing.promise.finally(() => (job.hashCancel = null));
      if (actual !== job.expected.value) {
        throw new DownloadError('checksum_mismatch', `A different ${job.target} is already in the models folder; it was left untouched (remove it to download this one)`, {
          sha256: { expected: job.expected.value, source: job.expected.source, actual },
        });
      }
      job.actual = actual;
    } else {
      if (job.size !== null && size !== job.size) throw new DownloadError('invalid', `A different ${job.target} (${size} bytes, upstream has ${job.size}) is already in the models folder; it was left untouched`);
      job.unverified = true;
    }
    job.segments = job.size !== null ? [{ start: 0, end: job.size, pos: job.size }] : [];
    await fs.rm(job.part, { force: true });
    await fs.rm(job.sidecar, { force: true });
    await this.setState(job, 'done', null);
  }

  /** G6: free space must cover what every unfinished job still needs, plus the reserve. */
  private async checkDisk(job: Job): Promise<void> {
    if (job.size === null) return;
    const st = this.opts.statfs ? await this.opts.statfs(this.opts.modelsDir) : await fs.statfs(this.opts.modelsDir);
    const free = st.bavail * st.bsize;
    let need = this.settings().reserveBytes;
    for (const other of this.jobs.values()) {
      if (other.size === null || other.state === 'done' || other.state === 'cancelled' || other.state === 'failed') continue;
      need += other.size - other.received;
    }
    if (free < need) {
      throw new DownloadError('disk_space', `Not enough disk space for ${job.target}: downloads need ${fmtBytes(need)} (including the ${fmtBytes(this.settings().reserveBytes)} reserve) but ${fmtBytes(free)} is free; free some space and retry`, { retryable: true });
    }
  }

  /** G10: up to `connections` ranges of at least `minSegmentBytes`. */
  private split(job: Job): Segment[] {
    if (job.size === null || !job.ranges) return [{ start: 0, end: job.size ?? Infinity, pos: 0 }];
    const s = this.settings();
    const count = Math.max(1, Math.min(s.connections, Math.floor(job.size / s.minSegmentBytes)));
    const step = Math.ceil(job.size / count);
    const segs: Segment[] = [];
    for (let start = 0; start < job.size; start += step) segs.push({ start, end: Math.min(job.size, start + step), pos: start });
    return segs.length ? segs : [{ start: 0, end: 0, pos: 0 }];
  }

  private async discardPartial(job: Job, notice: string | null): Promise<void> {
    await fs.rm(job.part, { force: true });
    job.segments = [];
    job.durableSegments = [];
    job.actual = null;
    job.notice = notice;
  }

  private async transfer(job: Job): Promise<void> {
    const handle = await this.beginTransfer(job);
    try {
      for (;;) {
        if (job.segments.every((s) => s.pos >= s.end)) break;
        const before = job.received;
        try {
          await this.attempt(job, handle);
          break;
        } catch (e) {
          if (job.stopping) throw job.stopping;
          if (job.received > before) job.failures = 0; // G15: progress resets the count
          if (e instanceof DownloadError) throw e;
          if (e instanceof RestartFromZero) {
            // G12: the server ignored Range; never append a whole file to a partial.
            job.ranges = false;
            job.segments = [{ start: 0, end: job.size ?? Infinity, pos: 0 }];
            job.notice = 'The server does not support resuming; started again from 0';
            continue;
          }
          if (e instanceof UrlExpired) {
            // G17: a signed CDN URL expired: ask the Hub for a fresh one at once, keep the offsets.
            if (job.failures > 0) await this.backoff(job, e);
            else job.failures++;
            await this.resolveAndCheck(job);
            if (job.segments.length === 0) job.segments = this.split(job);
            continue;
          }
          await this.backoff(job, e instanceof Error ? e : new Error(String(e)), e instanceof Retryable ? e.retryAfterMs : 0);
        }
      }
      if (job.size === null) job.size = job.received;
      // No fdatasync here: publishing syncs the file before it hashes it (G29).
    } finally {
      await job.durablePending;
      await handle.close();
    }
  }

  /** One try with up to `connections` ranges at once; any failure ends them all. */
  private async attempt(job: Job, handle: fs.FileHandle): Promise<void> {
    job.abort = new AbortController();
    const taken = new Set<Segment>();
    const s = this.settings();
    const next = (): Segment | null => {
      const free = job.segments.find((seg) => seg.pos < seg.end && !taken.has(seg));
      if (free || !job.ranges) return free ?? null;
      // G11: an idle connection takes half of the largest remaining range.
      let largest: Segment | null = null;
      for (const seg of taken) if (!largest || seg.end - seg.pos > largest.end - largest.pos) largest = seg;
      if (!largest || largest.end - largest.pos < 2 * s.minSegmentBytes) return null;
      const mid = largest.pos + Math.ceil((largest.end - largest.pos) / 2);
      const half = { start: mid, end: largest.end, pos: mid };
      largest.end = mid;
      job.segments.push(half);
      job.segments.sort((a, b) => a.start - b.start);
      return half;
    };
    const worker = async () => {
      for (let seg = next(); seg; seg = next()) {
        taken.add(seg);
        try {
          await this.fetchSegment(job, handle, seg);
        } finally {
          taken.delete(seg);
        }
      }
    };
    const workers = Array.from({ length: job.ranges ? Math.max(1, s.connections) : 1 }, worker);
    const results = await Promise.allSettled(workers.map((w) => w.catch((e) => (job.abort?.abort(e), Promise.reject(e)))));
    await this.writeTrailer(job, handle);
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (failed) throw job.abort.signal.aborted ? job.abort.signal.reason : failed.reason;
  }

  /**
   * Through the thread pool, so a slow disk or a concurrent fdatasync never stalls the event loop
   * (writing synchronously measured no faster in bench:download, and its event-loop p99 rose from
   * 19 to 29 ms). rawGet gathers what arrives while a write runs into the next one.
   */
  private async writePart(handle: fs.FileHandle, chunks: Buffer[], position: number): Promise<void> {
    if (this.opts.writePart) return this.opts.writePart(handle, chunks, position);
    await writevAll(handle, chunks, position);
  }

  private async writeTrailer(job: Job, handle: fs.FileHandle): Promise<void> {
    if (job.size === null || !Number.isFinite(job.size)) return;
    const t = this.trailer(job);
    await handle.write(t, 0, t.length, job.size);
  }

  private async fetchSegment(job: Job, handle: fs.FileHandle, seg: Segment): Promise<void> {
    const s = this.settings();
    const url = job.dataUrl!;
    const askedEnd = seg.end;
    const headers: Record<string, string> = { ...this.authHeaders(url) };
    if (job.ranges) headers.range = `bytes=${seg.pos}-${askedEnd - 1}`;
    const { res, signal, done } = await this.openBody(job, url, headers, s.stallTimeoutMs);
    try {
      const h = res.headers;
      if (res.statusCode === 401 || res.statusCode === 403 || res.statusCode === 410) {
        throw new UrlExpired(`the download URL was refused (${res.statusCode}); it may have expired`);
      }
      if (res.statusCode === 429 || res.statusCode >= 500) {
        const after = Number(header(h, 'retry-after'));
        throw new Retryable(`upstream answered ${res.statusCode}`, Number.isFinite(after) ? Math.min(after, 600) * 1000 : undefined);
      }
      if (job.ranges && res.statusCode === 200) {
        if (seg.start !== 0 || seg.pos !== 0 || job.segments.length !== 1) throw new RestartFromZero('the server ignored Range');
      } else if (job.ranges && res.statusCode === 206) {
        const want = `bytes ${seg.pos}-${askedEnd - 1}/${job.size}`;
        if (header(h, 'content-range') !== want) throw new Retryable(`the server sent ${header(h, 'content-range')} when ${want} was asked`);
      } else if (res.statusCode !== 200) {
        throw new DownloadError('upstream', `Upstream answered ${res.statusCode} for ${job.target}`, { retryable: true });
      }
      // G42: a compressed or HTML body is never a model file.
      const encoding = header(h, 'content-encoding');
      if (encoding && encoding !== 'identity') throw new DownloadError('upstream', `Upstream sent a ${encoding}-compressed body for ${job.target}; nothing was saved`, { retryable: true });
      if (/text\/html/i.test(header(h, 'content-type') ?? '')) throw new DownloadError('upstream', `Upstream sent a web page instead of ${job.target} (a login or error page?)`, { retryable: true });
      const bodyStart = seg.pos;
      let fromBody = 0;
      let sinceTrailer = 0;
      const checkMagic = seg.pos === 0 && job.target.toLowerCase().endsWith('.gguf');
      // Called with what has arrived since the last write began (rawGet goes on reading meanwhile):
      // at a fast server a few MiB, at a slow or stalled one the last few reads, so a SIGKILL loses
      // little (G21). seg.pos moves only once bytes are in the file.
      const write = async (parts: Buffer[], bytes: number): Promise<boolean> => {
        if (fromBody === 0 && checkMagic) {
          const first = Buffer.concat(firstBytes(parts, 16));
          if (first.length >= 4 && first.toString('latin1', 0, 4) !== 'GGUF') {
            throw new DownloadError('upstream', `Upstream sent something that is not a GGUF file for ${job.target} (it starts with ${JSON.stringify(first.toString('latin1'))}); nothing was saved`, { retryable: true });
          }
        }
        fromBody += bytes;
        // G13: a server that sends more than was asked is not trusted with any of this write.
        if (job.ranges && bodyStart + fromBody > askedEnd) throw new Retryable(`the server sent more than the ${askedEnd - bodyStart} bytes asked`);
        // Never past the range's end, which another connection may have moved closer (G11).
        const n = Math.min(bytes, seg.end - seg.pos);
        if (n > 0) {
          try {
            await this.writePart(handle, n === bytes ? parts : firstBytes(parts, n), seg.pos);
          } catch (e) {
            const code = (e as NodeJS.ErrnoException).code;
            if (code === 'ENOSPC' || code === 'EDQUOT') throw new DownloadError('disk_space', `The disk filled up while downloading ${job.target}; free space and resume (the partial file was kept)`, { retryable: true });
            throw e;
          }
          // The overlap another connection rewrites after taking the second half is the same bytes.
          seg.pos = Math.min(seg.pos + n, seg.end);
          sinceTrailer += n;
          if (sinceTrailer >= TRAILER_EVERY) {
            sinceTrailer = 0;
            await this.writeTrailer(job, handle);
          }
          this.progress(job, handle);
        }
        return !(seg.pos >= seg.end && (!job.ranges || seg.end < askedEnd));
      };
      try {
        await res.pipe(write);
      } catch (e) {
        throw signal.aborted ? signal.reason : e;
      }
      if (seg.pos < seg.end && Number.isFinite(seg.end)) throw new Retryable(`the connection ended early at byte ${seg.pos}`);
      if (!Number.isFinite(seg.end)) seg.end = seg.pos;
    } finally {
      done();
      res.destroy();
    }
  }

  private progress(job: Job, handle: fs.FileHandle): void {
    const now = this.clock.now();
    const dt = now - job.lastRateAt;
    if (dt >= EVENT_INTERVAL_MS) {
      const rate = ((job.received - job.lastRateBytes) * 1000) / dt;
      const alpha = 1 - Math.exp(-dt / 5000);
      job.bytesPerSec = job.bytesPerSec === 0 ? rate : job.bytesPerSec + alpha * (rate - job.bytesPerSec);
      job.lastRateAt = now;
      job.lastRateBytes = job.received;
    }
    this.emit(job);
    if (checkpointDue(now - job.lastDurableAt, job.received - job.lastDurableBytes)) {
      job.lastDurableAt = now;
      job.lastDurableBytes = job.received;
      job.durablePending ??= this.durable(job, handle)
        .catch(() => {})
        .finally(() => (job.durablePending = null));
    }
  }

  /** fdatasync, then record those offsets in the sidecar: what survives a reboot (G22). */
  private async durable(job: Job, handle: fs.FileHandle): Promise<void> {
    const snapshot = job.segments.map((s) => ({ ...s }));
    await handle.datasync();
    job.durableSegments = snapshot;
    await this.writeSidecar(job, snapshot);
  }

  private async flush(job: Job): Promise<void> {
    if (!existsSync(job.part)) return;
    const handle = await fs.open(job.part, 'r+');
    try {
      await this.writeTrailer(job, handle);
      await this.durable(job, handle);
    } finally {
      await handle.close();
    }
  }

  /** G26-G29: truncate the trailer, hash off the main thread, then fsync + rename + fsync folder. */
  private async verifyAndPublish(job: Job): Promise<void> {
    await this.setState(job, 'verifying', null);
    const size = job.size!;
    const handle = await fs.open(job.part, 'r+');
    try {
      await handle.truncate(size);
      await handle.sync();
    } finally {
      await handle.close();
    }
    const hashing = hashFile(job.part, size);
    job.hashCancel = hashing.cancel;
    const actual = await hashing.promise.finally(() => (job.hashCancel = null));
    job.actual = actual;
    if (job.expected && job.expected.value !== actual) {
      // The partial stays as it is; Retry discards it (G27).
      throw new DownloadError('checksum_mismatch', `${job.target} arrived with sha256 ${actual}, but ${job.expected.source === 'hub' ? 'the Hub' : job.expected.source === 'config' ? 'the config' : job.expected.source === 'cluster' ? 'the cluster' : 'the request'} says ${job.expected.value}; it was not published`, {
        sha256: { expected: job.expected.value, source: job.expected.source, actual },
      });
    }
    job.unverified = !job.expected;
    if (job.unverified) job.notice = 'No sha256 is known for this file: only its size was checked';
    await fs.rename(job.part, job.file);
    await syncDir(path.dirname(job.file));
    await fs.rm(job.sidecar, { force: true });
    await this.setState(job, 'done', null);
    this.opts.onPublished?.(job.file);
  }
}
