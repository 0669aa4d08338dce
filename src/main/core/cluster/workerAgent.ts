/**
 * The worker side of the cluster: a headless core (its own loader enforces this node's cap,
 * budget, groups, ttl, stall and crash rules, D26) joined to NATS. It owns `node.<name>` (D2),
 * its heartbeat, rewritten every heartbeat, and `inv.<name>`, its inventory (models, files,
 * catalog), written at once when that changes and only then (D1, clarifications 7). It answers
 * load, unload, ping and drain requests, and publishes its events and stats. Inference comes through the
 * gateway, never NATS.
 *
 * Trust (clarifications 3): a load names a model of this worker's own catalog; the spec's
 * backend must be that model's backend in this worker's registry and its file the model's file
 * inside --models. Nothing from NATS names a program, a path or a config key to use.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { existsSync } from 'node:fs';
import { stat } from 'node:fs/promises';
import { freemem, networkInterfaces, totalmem } from 'node:os';
import path, { basename, isAbsolute, relative, sep } from 'node:path';
import type { Msg, Subscription } from '@nats-io/transport-node';
import { LoadoutError } from '../../../shared/errors';
import { isOccupying } from '../../../shared/model';
import type { ModelRow, UnloadReason } from '../../../shared/model';
import type { Core } from '../createCore';
import { SerialQueue } from '../fsx/serialQueue';
import type { ModelRouter } from '../loader/router';
import type { DownloadJob } from '../../../shared/model';
import { isModelUri, uriTarget } from '../downloads/uri';
import { FileHashes } from './fileHashes';
import { Gateway } from './gateway';
import { FileServer, natsPeerSource, type ServedFile } from './peerFiles';
import {
  PROTOCOL_VERSION,
  encode,
  errorReply,
  nodeSubject,
  parseDrainRequest,
  parseLoadRequest,
  parsePingRequest,
  parseUnloadRequest,
  type LoadRequest,
  type NodeCatalogModel,
  type NodeEvent,
  type NodeFile,
  type NodeModel,
  type NodeHeartbeat,
  type NodeInventory,
  type NodeStaging,
  type NodeStats,
} from './protocol';
import { NodeKeyOwner, Registry } from './registry';
import { makeGatewayCert, type GatewayCert } from './tls';

export interface WorkerAgentOptions {
  /** The core's commands (settings, configs, backends) and events; rows come from `router`. */
  core: Pick<Core, 'commands' | 'events' | 'dataDir' | 'downloads' | 'rescan'>;
  router: ModelRouter;
  registry: Registry;
  name: string;
  labels: Record<string, string>;
  heartbeatMs: number;
  /** Where the gateway listens. */
  listenHost: string;
  listenPort: number;
  /** The host frontends dial (the record's gateway). */
  advertiseHost: string;
  version: string;
  log: (line: string) => void;
  /** Another incarnation took this worker's name over: the worker must stop. */
  onLost: (why: string) => void;
}

const UNLOAD_REASONS = new Set<UnloadReason>(['lru', 'group', 'memory', 'idle', 'stalled', 'reclaimer', 'vram_pressure', 'crashed', 'settings', 'user', 'shutdown', 'scale_down', 'drain']);
const STATS_INTERVAL_MS = 100;
/** An unchanged inventory is written again this often, well inside the bucket's max_age (1 h). */
const INVENTORY_REFRESH_MS = 10 * 60_000;

export function nodeModelOf(row: ModelRow): NodeModel {
  return {
    name: row.name,
    state: row.state,
    backend: row.backend,
    inFlight: row.inFlight,
    queued: row.queued,
    lastUsed: row.lastUsed,
    memoryBytes: row.memory.rssBytes ?? row.memory.estimateBytes,
    pinned: row.pinned,
    groups: row.groups,
    progress: row.progress,
  };
}

/** A model file as other machines see it: relative to the models folder, never a path outside it. */
function shownFile(modelsDir: string, file: string): string {
  if (!isAbsolute(file)) return file;
  const rel = relative(modelsDir, file);
  return rel.startsWith('..') || isAbsolute(rel) ? basename(file) : rel.split(sep).join('/');
}

/** The host frontends dial: the listen host when it is one address, else the first LAN IPv4. */
export function defaultAdvertise(listenHost: string): string {
  if (listenHost !== '0.0.0.0' && listenHost !== '::') return listenHost;
  for (const list of Object.values(networkInterfaces())) for (const a of list ?? []) if (a.family === 'IPv4' && !a.internal) return a.address;
  return '127.0.0.1';
}

export class WorkerAgent {
  private seq = 0;
  private inventorySeq = 0;
  /** The inventory last written (its JSON, without seq) and when. */
  private writtenInventory = '';
  private inventoryWrittenAt = 0;
  private eventSeq = 0;
  private draining = false;
  private readonly writes = new SerialQueue();
  private writePending = false;
  private readonly subs: Subscription[] = [];
  private readonly disposers: (() => void)[] = [];
  private heartbeatTimer: ReturnType<typeof setInterval> | null = null;
  private statsTimer: ReturnType<typeof setTimeout> | null = null;
  private stopped = false;
  private lastWriteError = '';
  /** D29: sha256s this node knows, and the files it serves by them. */
  private readonly hashes: FileHashes;
  private fileServer: FileServer | null = null;
  private knownFiles = new Map<string, NodeFile & { path: string }>();
  /** D29: loads waiting for their file (fetched from a peer, or hashed in place), by model. */
  private readonly staging = new Map<string, NodeStaging>();
  private readonly peer = natsPeerSource(() => this.o.registry.nc);

  private constructor(
    private readonly o: WorkerAgentOptions,
    private readonly owner: NodeKeyOwner,
    readonly gateway: Gateway,
    private readonly cert: GatewayCert,
    readonly incarnation: string,
    /** This incarnation's gateway bearer token. */
    readonly token: string,
  ) {
    this.hashes = new FileHashes(path.join(o.core.dataDir, 'file-hashes.json'));
  }

  /** Starts the gateway, claims the name (D2), then serves requests and heartbeats. */
  static async start(o: WorkerAgentOptions): Promise<WorkerAgent> {
    const cert = await makeGatewayCert(o.name, [o.advertiseHost]);
    const incarnation = randomUUID();
    const token = randomBytes(32).toString('base64url');
    const owner = new NodeKeyOwner(o.registry, o.name, incarnation);
    const gateway = await Gateway.start({ router: o.router, row: (n) => {
        o.core.commands.modelConfig(n); // not_found for a model this node's catalog lacks
        return o.router.rowOf(n);
      },
      cert, token, host: o.listenHost, port: o.listenPort, nodeName: o.name });
    const agent = new WorkerAgent(o, owner, gateway, cert, incarnation, token);
    try {
      await owner.claim(agent.heartbeat());
      await agent.writeInventory();
    } catch (e) {
      gateway.forceClose();
      throw e;
    }
    agent.serve();
    return agent;
  }

  get gatewayAddress(): string {
    const h = this.o.advertiseHost.includes(':') ? `[${this.o.advertiseHost}]` : this.o.advertiseHost;
    return `${h}:${this.gateway.port}`;
  }

  private rows(): ModelRow[] {
    return this.o.router.snapshot().models;
  }

  /** The heartbeat as of now; `seq` grows with every heartbeat of this incarnation. */
  heartbeat(): NodeHeartbeat {
    const snapshot = this.o.router.snapshot();
    const models = snapshot.models.filter((r) => isOccupying(r.state));
    let inFlight = 0;
    let queued = 0;
    const byModel: Record<string, number> = {};
    for (const m of models) {
      inFlight += m.inFlight;
      queued += m.queued;
      const bytes = m.memory.rssBytes ?? m.memory.estimateBytes;
      if (bytes !== null) byModel[m.name] = bytes;
    }
    return {
      v: 1,
      name: this.o.name,
      incarnation: this.incarnation,
      protocol: PROTOCOL_VERSION,
      seq: ++this.seq,
      heartbeatMs: this.o.heartbeatMs,
      at: new Date().toISOString(),
      draining: this.draining,
      memory: { total: totalmem(), available: freemem(), budget: this.o.core.commands.settings().memory_budget, models: Object.values(byModel).reduce((n, b) => n + b, 0), byModel },
      gpus: snapshot.gpus ?? [],
      stats: { inFlight, queued },
    };
  }

  /** The inventory as of now, without its `seq` (given when it is written). */
  inventory(): Omit<NodeInventory, 'seq'> {
    const snapshot = this.o.router.snapshot();
    const settings = this.o.core.commands.settings();
    const files = new Map<string, NodeFile>();
    for (const r of snapshot.models) {
      if (!r.file || r.sizeBytes === null || r.status !== 'ok') continue;
      const name = this.relativeName(r.file);
      if (name === null) continue;
      const known = this.knownFiles.get(name);
      files.set(name, { name, sizeBytes: r.sizeBytes, sha256: known && known.sizeBytes === r.sizeBytes ? known.sha256 : null });
    }
    // A model whose file is not here yet is in the catalog too: its load can fetch the file from a
    // peer that has it (D29), so placement must not pass this node over for it (D34's filter).
    const catalog: NodeCatalogModel[] = snapshot.models.filter((r) => r.status === 'ok' || r.status === 'not_downloaded' || (r.status === 'error' && r.file === null && this.fileToFetch(r))).map((r) => ({
      name: r.name,
      backend: r.backend,
      file: r.file ? shownFile(settings.models_dir, r.file) : null,
      sizeBytes: r.sizeBytes,
      groups: r.groups,
      pinned: r.pinned,
      estimateBytes: r.memory.estimateBytes,
      contextSize: r.contextSize,
    }));
    return {
      v: 1,
      name: this.o.name,
      incarnation: this.incarnation,
      protocol: PROTOCOL_VERSION,
      version: this.o.version,
      gateway: this.gatewayAddress,
      tlsSha256: this.cert.sha256,
      tlsCert: this.cert.cert,
      token: this.token,
      labels: this.o.labels,
      limits: { max_active_models: settings.max_active_models, memory_budget: settings.memory_budget, vram_budget: settings.vram_budget },
      files: [...files.values()],
      // The estimate, which holds still: a resident model's measured size goes in each heartbeat.
      models: snapshot.models.filter((r) => isOccupying(r.state)).map((r) => ({ ...nodeModelOf(r), memoryBytes: r.memory.estimateBytes })),
      staging: [...this.staging.values()],
      catalog,
    };
  }

  /**
   * Writes the heartbeat, and the inventory where it changed (clarifications 7) or was last
   * written long enough ago that the bucket's max_age could collect it; coalesced: a write asked
   * for while one is queued is that one.
   */
  writeRecord(): Promise<void> {
    if (this.writePending || this.stopped) return this.writes.idle();
    this.writePending = true;
    return this.writes.run(async () => {
      this.writePending = false;
      if (this.stopped || !this.o.registry.connected) return;
      await this.refreshFiles().catch((e: Error) => this.o.log(`cluster: could not list the files to serve (${e.message})`));
      // A write in flight when NATS drops is never answered (its reply went with the old socket)
      // and would hold every later write until its 5 s timeout, so the node's state would lag that
      // long after NATS returns: a disconnect gives it up, and the writes after the reconnect go at once.
      let offDisconnect = () => {};
      const dropped = new Promise<never>((_, reject) => (offDisconnect = this.o.registry.onDisconnect(() => reject(new Error('the connection to NATS was lost')))));
      const work = (async () => (await this.owner.write(this.heartbeat())) && (await this.writeInventory()))();
      dropped.catch(() => {});
      work.catch(() => {});
      try {
        const ok = await Promise.race([work, dropped]);
        this.lastWriteError = '';
        if (!ok) {
          this.stopped = true;
          this.o.onLost(`another worker took over the name "${this.o.name}"`);
        }
      } catch (e) {
        const m = (e as Error).message;
        if (m !== this.lastWriteError) this.o.log(`cluster: could not write the node record (${m}); retrying every heartbeat`);
        this.lastWriteError = m;
      } finally {
        offDisconnect();
      }
    });
  }

  /** Writes the inventory if it changed or is due again; false when the name was lost. */
  private async writeInventory(): Promise<boolean> {
    const inventory = this.inventory();
    const json = JSON.stringify(inventory);
    const now = Date.now();
    if (json === this.writtenInventory && now - this.inventoryWrittenAt < INVENTORY_REFRESH_MS) return true;
    const ok = await this.owner.writeInventory({ ...inventory, seq: ++this.inventorySeq });
    this.writtenInventory = json;
    this.inventoryWrittenAt = now;
    return ok;
  }

  private get modelsDir(): string {
    return this.o.core.commands.settings().models_dir;
  }

  /** A model file's name relative to --models, or null for one outside it (never advertised). */
  private relativeName(file: string): string | null {
    const rel = path.relative(path.resolve(this.modelsDir), path.resolve(file));
    return rel === '' || rel.startsWith('..') || path.isAbsolute(rel) ? null : rel.split(path.sep).join('/');
  }

  /**
   * D29 (clarifications 8): the sha256s known without hashing (a config's `download_files`, the
   * hash cache) go into the record, and the files with one are served on `loadout.file.<sha>`.
   */
  private async refreshFiles(): Promise<void> {
    const known = new Map<string, NodeFile & { path: string }>();
    const served = new Map<string, ServedFile>();
    for (const r of this.rows()) {
      if (!r.file || r.sizeBytes === null || r.status !== 'ok') continue;
      const name = this.relativeName(r.file);
      if (name === null) continue;
      // A hash cache hit has just been checked against the file's size and mtime; a sha256
      // pinned in the config still needs the file's own.
      let held: { sizeBytes: number; mtimeMs: number; sha256: string } | null = await this.hashes.cached(r.file);
      if (!held) {
        let pinned: string | null = null;
        try {
          pinned = this.o.core.commands.modelConfig(r.name).download_files?.find((f) => f.filename === name && f.sha256)?.sha256 ?? null;
        } catch {
          pinned = null;
        }
        const st = pinned ? await stat(r.file).catch(() => null) : null;
        held = st?.isFile() && pinned ? { sizeBytes: st.size, mtimeMs: st.mtimeMs, sha256: pinned } : null;
      }
      if (!held) continue;
      known.set(name, { name, path: r.file, sizeBytes: held.sizeBytes, sha256: held.sha256 });
      served.set(held.sha256, { path: r.file, sizeBytes: held.sizeBytes, mtimeMs: held.mtimeMs });
    }
    this.knownFiles = known;
    this.fileServer?.set(served);
  }

  private serve(): void {
    const nc = this.o.registry.nc;
    this.fileServer = new FileServer(nc, this.o.log);
    // Jobs resumed from an earlier run fetch through this connection too.
    this.o.core.downloads().setPeerSource(this.peer);
    const on = (verb: 'load' | 'unload' | 'ping' | 'drain', handle: (m: Msg) => Promise<unknown>) => {
      const sub = nc.subscribe(nodeSubject(this.o.name, verb), {
        callback: (err, msg) => {
          if (err) return;
          Promise.resolve(msg)
            .then(handle)
            .then(
            (reply) => msg.respond(encode(reply)),
            (e) => msg.respond(encode(errorReply(e instanceof LoadoutError ? e.code : 'invalid', (e as Error).message))),
          );
        },
      });
      this.subs.push(sub);
    };
    on('ping', async (m) => {
      const req = this.checked(parsePingRequest(m.data), 'ping');
      return { v: 1, ok: true, requestId: req.requestId, name: this.o.name, incarnation: this.incarnation, seq: this.seq };
    });
    on('load', (m) => this.load(this.checked(parseLoadRequest(m.data), 'load')));
    on('unload', async (m) => {
      const req = this.checked(parseUnloadRequest(m.data), 'unload');
      this.o.core.commands.modelConfig(req.model); // not_found for an unknown model
      const reason = UNLOAD_REASONS.has(req.reason as UnloadReason) ? (req.reason as UnloadReason) : 'user';
      await this.o.router.unload(req.model, { force: req.force, reason, by: req.by, sentence: req.sentence });
      return { v: 1, ok: true, requestId: req.requestId, row: nodeModelOf(this.o.router.rowOf(req.model)) };
    });
    on('drain', async (m) => {
      const req = this.checked(parseDrainRequest(m.data), 'drain');
      this.draining = req.draining;
      await this.writeRecord();
      return { v: 1, ok: true, requestId: req.requestId, draining: this.draining };
    });

    this.disposers.push(
      this.o.core.events.on((e) => {
        if (e.type === 'model') {
          // A frontend sharing its node emits its cluster rows too: the node reports its own loader's.
          let row = e.row;
          try {
            row = this.o.router.rowOf(e.row.name);
          } catch {
            // Gone from the catalog: the event's row says so.
          }
          this.publish('events', { v: 1, seq: ++this.eventSeq, type: 'model', row: nodeModelOf(row) } satisfies NodeEvent);
          this.scheduleStats();
          void this.writeRecord();
        } else if (e.type === 'journal' && (e.entry.node == null || e.entry.node === this.o.name)) {
          // Only this node's own unloads: a sharing frontend's journal also holds the entries it
          // read from other nodes (D33), which are theirs to publish.
          this.publish('events', { v: 1, seq: ++this.eventSeq, type: 'journal', entry: { ...e.entry, node: this.o.name } } as NodeEvent);
        }
      }),
    );
    this.disposers.push(
      this.o.registry.onReconnect(() => {
        // A restarted server may have lost the bucket: the inventory goes out again, changed or not.
        this.writtenInventory = '';
        return this.writeRecord();
      }),
    );
    this.heartbeatTimer = setInterval(() => void this.writeRecord(), this.o.heartbeatMs);
  }

  private checked<T>(r: { ok: true; value: T } | { ok: false; error: string }, what: string): T {
    if (r.ok) return r.value;
    this.o.log(`cluster: refused a malformed ${what} request: ${r.error}`);
    throw new LoadoutError('invalid', r.error);
  }

  /**
   * Acks at once with the row; the load runs here and reports through events. Refused when
   * draining, when the spec does not match this worker's own model, or when making room would
   * evict a model the frontend protects.
   */
  private async load(req: LoadRequest): Promise<unknown> {
    if (this.draining) throw new LoadoutError('slots_busy', `worker ${this.o.name} is draining and takes no loads`);
    const name = req.spec.name;
    this.o.core.commands.modelConfig(name); // not_found for a model this node's catalog lacks
    const row = this.o.router.rowOf(name);
    if (req.spec.backend !== row.backend) throw new LoadoutError('invalid', `model "${name}" runs on backend "${row.backend}" on worker ${this.o.name}, not "${req.spec.backend}"`);
    if (!this.o.core.commands.backends().some((b) => b.name === req.spec.backend)) throw new LoadoutError('invalid', `worker ${this.o.name} has no backend named "${req.spec.backend}"`);
    if (req.spec.file) {
      const f = req.spec.file.name;
      if (f.startsWith('/') || f.split(/[\\/]/).includes('..')) throw new LoadoutError('invalid', `spec.file.name must be relative inside the worker's models folder (got "${f}")`);
      if (row.file && f !== row.file && !row.file.endsWith(`/${f}`)) throw new LoadoutError('invalid', `model "${name}" uses file "${row.file}" on worker ${this.o.name}, not "${f}"`);
    }
    const staging = this.staging.get(name);
    // A failure already told stays out of the way of a new try.
    if (staging?.state === 'failed') this.staging.delete(name);
    else if (staging) return { v: 1, ok: true, requestId: req.requestId, row: nodeModelOf(this.o.router.rowOf(name)), staging };
    if (!isOccupying(row.state) && req.spec.file?.sha256) {
      const entry = this.stagingFor(name, row, req.spec.file as { name: string; sizeBytes: number; sha256: string });
      if (entry) {
        this.staging.set(name, entry);
        void this.stage(entry, req);
        await this.writeRecord();
        return { v: 1, ok: true, requestId: req.requestId, row: nodeModelOf(this.o.router.rowOf(name)), staging: entry };
      }
    }
    this.startLoad(name, req);
    return { v: 1, ok: true, requestId: req.requestId, row: nodeModelOf(this.o.router.rowOf(name)) };
  }

  /**
   * D29: whether the load must wait for its file. A file of the right name and size whose cached
   * sha256 matches is used in place (null: load now); one not hashed yet is hashed first
   * (`checking`); a missing one is fetched from a peer (`fetching`). A file of another size, or
   * a target outside the models folder's top level, is refused at once.
   */
  private stagingFor(name: string, row: ModelRow, file: { name: string; sizeBytes: number; sha256: string }): NodeStaging | null {
    const target = this.targetOf(name, row);
    if (target === null) throw new LoadoutError('invalid', `model "${name}" on worker ${this.o.name} names no model file in its models folder to fetch into`);
    if (target !== file.name && !target.endsWith(`/${file.name}`) && path.basename(target) !== path.basename(file.name)) {
      throw new LoadoutError('invalid', `model "${name}" uses file "${target}" on worker ${this.o.name}, not "${file.name}"`);
    }
    const full = path.join(this.modelsDir, target);
    const base = { model: name, file: target, sha256: file.sha256, receivedBytes: 0, totalBytes: file.sizeBytes, error: null };
    if (existsSync(full)) {
      const known = this.knownFiles.get(target);
      if (row.sizeBytes !== null && row.sizeBytes !== file.sizeBytes) {
        throw new LoadoutError('checksum_mismatch', `worker ${this.o.name} has a different ${target} (${row.sizeBytes} bytes, the cluster's is ${file.sizeBytes}); it was left untouched`);
      }
      if (known && known.sha256 === file.sha256 && known.sizeBytes === file.sizeBytes) return null;
      return { ...base, state: 'checking' };
    }
    if (target.includes('/')) throw new LoadoutError('invalid', `worker ${this.o.name} fetches files only into the top of its models folder, not "${target}"`);
    return { ...base, state: 'fetching' };
  }

  /** The model's config names a file in the models folder that a peer could send (D29). */
  private fileToFetch(row: ModelRow): boolean {
    try {
      return this.targetOf(row.name, row) !== null;
    } catch {
      return false;
    }
  }

  /** The model's file as a name relative to --models: its present file, or what its config names. */
  private targetOf(name: string, row: ModelRow): string | null {
    if (row.file) return this.relativeName(row.file);
    const ref = this.o.core.commands.modelConfig(name).parameters.model;
    if (typeof ref !== 'string' || ref === '') return null;
    if (isModelUri(ref)) return uriTarget(ref);
    if (path.isAbsolute(ref)) return this.relativeName(ref);
    const rel = path.normalize(ref).split(path.sep).join('/');
    return rel.startsWith('..') ? null : rel;
  }

  /** Hashes in place or fetches (a Downloads job `nats:<sha256>`), then loads; a failure stays in the record. */
  private async stage(entry: NodeStaging, req: LoadRequest): Promise<void> {
    const update = (patch: Partial<NodeStaging>) => {
      Object.assign(entry, patch);
      void this.writeRecord();
    };
    const full = path.join(this.modelsDir, entry.file);
    try {
      if (entry.state === 'checking') {
        const h = await this.hashes.hash(full);
        if (h.sha256 !== entry.sha256) {
          throw new LoadoutError('checksum_mismatch', `worker ${this.o.name} has a different ${entry.file} (sha256 ${h.sha256}, the cluster's is ${entry.sha256}); it was left untouched`);
        }
      } else {
        const done = await this.fetch(entry, update);
        this.hashes.remember({ path: full, sizeBytes: done.size, mtimeMs: done.mtimeMs, sha256: entry.sha256 });
        await this.o.core.rescan();
      }
      await this.refreshFiles();
      update({ state: 'done', receivedBytes: entry.totalBytes });
      this.startLoad(entry.model, req, () => {
        if (this.staging.get(entry.model) === entry) this.staging.delete(entry.model);
        void this.writeRecord();
      });
    } catch (e) {
      const err = e instanceof LoadoutError ? e : new LoadoutError('backend_failed', (e as Error).message);
      this.o.log(`cluster: the file of ${entry.model} could not be had: ${err.message}`);
      update({ state: 'failed', error: { code: err.code, message: err.message } });
      // The failure stays in the record long enough for every frontend waiting on it to read it.
      setTimeout(() => {
        if (this.staging.get(entry.model) === entry) {
          this.staging.delete(entry.model);
          void this.writeRecord();
        }
      }, 30_000).unref();
    }
  }

  /** Runs the peer fetch as a Downloads job, reporting its progress; resolves once it is published. */
  private fetch(entry: NodeStaging, update: (p: Partial<NodeStaging>) => void): Promise<{ size: number; mtimeMs: number }> {
    const engine = this.o.core.downloads();
    // The engine is replaced when the models folder changes (a shared local node): set it each time.
    engine.setPeerSource(this.peer);
    const job = engine.add({ uri: `nats:${entry.sha256}`, filename: entry.file, size: entry.totalBytes, model: entry.model });
    return new Promise((resolve, reject) => {
      const check = (j: DownloadJob) => {
        if (j.id !== job.id) return;
        if (j.state === 'verifying' && entry.state !== 'verifying') update({ state: 'verifying', receivedBytes: j.receivedBytes });
        else if (j.state === 'downloading' && j.receivedBytes !== entry.receivedBytes) update({ receivedBytes: j.receivedBytes });
        if (j.state === 'done') {
          off();
          void stat(path.join(this.modelsDir, entry.file)).then((st) => resolve({ size: st.size, mtimeMs: st.mtimeMs }), reject);
        } else if (j.state === 'failed' || j.state === 'cancelled' || j.state === 'paused') {
          off();
          reject(new LoadoutError(j.error?.code ?? 'backend_failed', j.error?.message ?? `the fetch of ${entry.file} was ${j.state}`));
        }
      };
      const off = engine.events.on(check);
      check(engine.get(job.id) ?? job);
    });
  }

  /** The load itself: this worker's loader admits, evicts and starts the model (D26). */
  private startLoad(name: string, req: LoadRequest, after?: () => void): void {
    const row = this.o.router.rowOf(name);
    if (!isOccupying(row.state) && !this.o.router.snapshot().pending.includes(name)) {
      const plan = this.o.router.plan(name);
      const hit = plan.unloads.find((u) => req.protect.includes(u.name));
      if (hit) throw new LoadoutError('slots_pinned', `loading "${name}" on worker ${this.o.name} would unload "${hit.name}", which the cluster keeps`);
      if (!plan.ok && plan.failure) throw new LoadoutError(plan.failure.code, plan.failure.message);
      // D17: the frontend planned on a view that may be stale. Making room here may only evict
      // models idle now; one that must be waited for (still loading, or busy) means another
      // frontend's load got here first: refuse, and the frontend re-plans elsewhere.
      const busy = plan.unloads.find((u) => {
        const r = this.o.core.commands.row(u.name);
        return !(r.state === 'ready' && r.inFlight === 0 && r.queued === 0);
      });
      if (busy) throw new LoadoutError('slots_busy', `worker ${this.o.name} cannot take "${name}" now: it would have to wait for "${busy.name}" (${this.o.core.commands.row(busy.name).state}) to make room`);
      // The load is admitted (or refused) before the next request is planned, so two frontends'
      // loads never both pass on one view (the loader decides admission synchronously).
      const loading = this.o.router.load(name, { origin: req.origin });
      void loading.catch((e: Error) => this.o.log(`cluster: load of ${name} for ${req.frontend} failed: ${e.message}`)).finally(() => after?.());
      return;
    }
    after?.();
  }

  private publish(verb: 'events' | 'stats', body: unknown): void {
    try {
      this.o.registry.nc.publish(nodeSubject(this.o.name, verb), encode(body));
    } catch {
      // Disconnected: the next heartbeat carries the state.
    }
  }

  /** At most 10 stats messages a second (spec section 1). */
  private scheduleStats(): void {
    if (this.statsTimer) return;
    this.statsTimer = setTimeout(() => {
      this.statsTimer = null;
      const m: NodeStats['m'] = {};
      for (const r of this.rows()) if (isOccupying(r.state)) m[r.name] = { inFlight: r.inFlight, queued: r.queued, lastUsed: r.lastUsed };
      this.publish('stats', { v: 1, m } satisfies NodeStats);
    }, STATS_INTERVAL_MS);
  }

  /** Stops serving and removes the record (a clean stop: frontends see the node leave at once). */
  async stop(): Promise<void> {
    this.stopped = true;
    if (this.heartbeatTimer) clearInterval(this.heartbeatTimer);
    if (this.statsTimer) clearTimeout(this.statsTimer);
    for (const d of this.disposers) d();
    for (const s of this.subs) s.unsubscribe();
    this.fileServer?.stop();
    this.o.core.downloads().setPeerSource(null);
    await this.writes.idle();
    await this.owner.release();
    this.gateway.forceClose();
  }
}
