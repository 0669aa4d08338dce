/**
 * The frontend's cluster router (distributed-spec section 2): the loader's interface, so nothing
 * above it changes, over the nodes NATS reports and this machine's own loader (an in-process
 * node when `cluster_local_node` is on; it serves only this frontend unless
 * `cluster_share_local_node` publishes it as a worker does, clarifications 3). It only
 * acts on the pure planner's decisions:
 * - warm path: `pickReplica` on the live replicas, writing nothing to NATS (D7, D8);
 * - cold path: one claim per model in `loadout_claims` (`decideClaim`, D18), `placeModel`, then
 *   `load` to the chosen node with `protect`, re-planned on a refusal (D17, 3 nodes at most);
 * - a gateway connection error marks the replica suspect and pings its node; before any output
 *   the request goes once more elsewhere, after it ends `backend_crashed` with the text so far
 *   kept by the caller (D4, D10). Timeouts never evict.
 * Own in-flight counts are taken and given back in one `finally`, so they cannot leak.
 */
import { randomUUID } from 'node:crypto';
import { freemem, totalmem } from 'node:os';
import { basename } from 'node:path';
import { isModelUri, uriTarget } from '../downloads/uri';
import type { ClusterNode, ClusterSnapshot, ModelReplica } from '../../../shared/cluster';
import { ERROR_STATUS, LoadoutError, RETRY_AFTER_S, type ErrorCode } from '../../../shared/errors';
import { isOccupying, isResident, type ModelRow, type Plan, type Settings, type Snapshot } from '../../../shared/model';
import type { CoreEvent, JournalEntry, UnloadReason } from '../../../shared/model';
import type { Clock } from '../clock';
import { emptyConfig } from '../catalog/parseConfig';
import type { CatalogEntry } from '../catalog/types';
import { buildRow } from '../loader/views';
import type { ModelRouter, RequestOptions, StreamChunk, UnloadOptions } from '../loader/router';
import type { EmbeddingResult__Output, PredictOptions, TokenizationResponse__Output } from '../../../wire';
import { CLAIM_REFRESH_MS, decideClaim, type ClaimObservation, type ClaimRecord } from './claims';
import { ConnectionLost, GatewayClients } from './gatewayClient';
import { NodeWatch } from './nodeWatch';
import { placeModel, MAX_PLACEMENT_TRIES } from './placement';
import { LEADER_KEY, PROTOCOL_VERSION, SHA256_RE, encode, loadClaimKey, nodeSubject, tokenToName, type ModelSpec, type NodeCatalogModel, type NodeEvent, type NodeRecord } from './protocol';
import { pickReplica } from './pickReplica';
import { EMPTY_RECONCILE_STATE, decideLeader, protectedReplicas, reconcileReplicas, recordPlaced, recordUnplaceable, type LeaseObservation, type ReconcileState, type ReplicaSpec } from './reconcile';
import type { Registry } from './registry';
import { clusterLru, type NodeSelector, type NodeView } from './view';

export interface ClusterRouterOptions {
  /** This machine's loader: the local node's models, and every row's catalog side. */
  local: ModelRouter;
  registry: Registry;
  clock: Clock;
  settings: () => Settings;
  /** This machine's node name (`cluster_node_name`). */
  nodeName: string;
  /** `cluster_local_node`: this machine runs models too. */
  localNode: boolean;
  /** A model's config (its `cluster:` block); null for an unknown model. */
  config: (name: string) => Record<string, unknown> | null;
  emit: (e: CoreEvent) => void;
  /** D33: a worker's journal entry (an unload there), into this frontend's journal. */
  journal?: (entry: JournalEntry) => void;
  log: (line: string) => void;
}

type Target = { local: true; node: string } | { local: false; node: string; record: NodeRecord };

const POLL_MS = 100;
/** Seconds a `load` request waits for the worker's acknowledgement (spec section 1). */
const LOAD_ACK_MS = 5_000;
const CLUSTER_EVENT_MS = 250;
/** Tries 250 ms apart before a load's "no responders" means the node is gone. */
const NO_RESPONDERS_RETRIES = 8;
/** Pings of a suspect node, each waiting this long, before it is left to its heartbeats (D4). */
const SUSPECT_PINGS = 8;
const SUSPECT_PING_MS = 250;

const sleep = (clock: Clock, ms: number) => new Promise<void>((r) => clock.setTimeout(r, ms));

function clusterBlock(config: Record<string, unknown> | null): { min: number; max: number; selector: NodeSelector } {
  const c = config?.cluster;
  const o = typeof c === 'object' && c !== null ? (c as Record<string, unknown>) : {};
  const selector: Record<string, string> = {};
  if (typeof o.node_selector === 'object' && o.node_selector !== null) for (const [k, v] of Object.entries(o.node_selector)) selector[k] = String(v);
  const num = (x: unknown) => (typeof x === 'number' && Number.isInteger(x) && x >= 0 ? x : 0);
  return { min: num(o.min_replicas), max: num(o.max_replicas), selector };
}

export class ClusterRouter implements ModelRouter {
  readonly frontend: string;
  private readonly watch: NodeWatch;
  private readonly clients = new GatewayClients();
  /** This frontend's exact in-flight count: model -> node -> n. */
  private readonly own = new Map<string, Map<string, number>>();
  /** One cold load per model in this process; other frontends coalesce through the claim. */
  private readonly coldLoads = new Map<string, Promise<void>>();
  private readonly loadStartedAt = new Map<string, number>();
  private readonly claimSeen = new Map<string, { revision: number; seenAt: number }>();
  private eventTimer: unknown = null;
  private readonly changedModels = new Set<string>();
  private disposed = false;
  private lease: LeaseObservation | null = null;
  private leading = false;
  private leaderTimer: unknown = null;
  private reconcileState: ReconcileState = EMPTY_RECONCILE_STATE;
  /** Models the leader is adding a replica of now (one at a time per model). */
  private readonly scaling = new Set<string>();
  /** Calls running on each node: a node judged dead ends them at once (D32, clarifications 7). */
  private readonly calls = new Map<string, Set<AbortController>>();
  private journalSub: { unsubscribe(): void } | null = null;
  /** D34: the remote-only models whose rows this frontend has shown (a `removed` event ends each). */
  private shownRemote = new Set<string>();
  private catalogsChanged = false;

  constructor(private readonly o: ClusterRouterOptions) {
    // Claims and the lease are held by this id: node names are unique in a cluster (D2).
    this.frontend = o.nodeName;
    this.watch = new NodeWatch({
      registry: o.registry,
      clock: o.clock,
      frontend: this.frontend,
      own: (node, model) => this.own.get(model)?.get(node) ?? 0,
      onChange: (node, before) => {
        this.endCallsIfDead(node);
        for (const m of before?.models ?? []) this.changedModels.add(m.name);
        for (const m of this.watch.record(node)?.models ?? []) this.changedModels.add(m.name);
        // D34: a model only workers have gains (or loses) its row as catalogs change and nodes come and go.
        this.catalogsChanged = true;
        this.scheduleEvents();
      },
    });
    this.watch.start();
    this.followJournals();
    this.leaderTimer = this.o.clock.setTimeout(() => void this.leaderTick(), 0);
  }

  /** The NATS connection (a shared local node publishes through it). */
  get registry(): Registry {
    return this.o.registry;
  }

  // ------------------------------------------------------------------------------ the view

  private get localName(): string | null {
    return this.o.localNode ? this.o.nodeName : null;
  }

  /** This machine as a node, from its own loader (always live: it is this process). */
  private localView(): NodeView | null {
    if (!this.localName) return null;
    const s = this.o.settings();
    const rows = this.o.local.snapshot().models;
    return {
      name: this.localName,
      state: 'live',
      labels: {},
      protocol: PROTOCOL_VERSION,
      memory: { total: totalmem(), available: freemem(), budget: s.memory_budget },
      limits: { max_active_models: s.max_active_models, memory_budget: s.memory_budget, vram_budget: s.vram_budget },
      gpus: [],
      files: [],
      catalog: rows.map((r) => r.name),
      models: rows
        .filter((r) => isOccupying(r.state))
        .map((r) => ({
          name: r.name,
          state: r.state,
          groups: r.groups,
          pinned: r.pinned,
          inFlight: r.inFlight,
          queued: r.queued,
          lastUsed: r.lastUsed ? Date.parse(r.lastUsed) : 0,
          sizeBytes: r.sizeBytes ?? 0,
          needBytes: r.memory.rssBytes ?? r.memory.estimateBytes ?? 0,
        })),
    };
  }

  private views(now: number): NodeView[] {
    const local = this.localView();
    const remote = this.watch.views(now).filter((v) => v.name !== this.localName);
    return local ? [local, ...remote] : remote;
  }

  private specs(): ReplicaSpec[] {
    const out: ReplicaSpec[] = [];
    for (const r of this.o.local.snapshot().models) {
      const c = clusterBlock(this.o.config(r.name));
      if (c.min > 0 || c.max > 0 || r.pinned) out.push({ name: r.name, min_replicas: c.min, max_replicas: c.max, pinned: r.pinned, selector: c.selector });
    }
    return out;
  }

  private targetOf(node: string): Target | null {
    if (node === this.localName) return { local: true, node };
    const record = this.watch.record(node);
    return record ? { local: false, node, record } : null;
  }

  /** D33: every worker's unloads reach this frontend's journal, naming the node. */
  private followJournals(): void {
    if (!this.o.journal) return;
    this.journalSub = this.o.registry.nc.subscribe('loadout.node.*.events', {
      callback: (err, msg) => {
        if (err) return;
        try {
          const ev = JSON.parse(new TextDecoder().decode(msg.data)) as NodeEvent;
          const e = ev.entry;
          if (ev.v !== 1 || ev.type !== 'journal' || !e || typeof e.model !== 'string' || typeof e.reason !== 'string' || typeof e.sentence !== 'string') return;
          const node = tokenToName(msg.subject.split('.')[2]);
          // This machine's own node: its loader journalled the entry here already.
          if (node === this.localName) return;
          this.o.journal?.({ at: typeof e.at === 'string' ? e.at : new Date(this.o.clock.now()).toISOString(), model: e.model, reason: e.reason as UnloadReason, sentence: e.sentence, by: typeof e.by === 'string' ? e.by : null, node });
        } catch {
          // A malformed event is dropped.
        }
      },
    });
  }

  /**
   * A call on `node`, with a signal that ends it when the node is judged dead: a SIGSTOPped or
   * cut-off worker holds its connections open, and gRPC's keepalive would take 15 s (D32).
   */
  private track(node: string, signal: AbortSignal | undefined): { signal: AbortSignal; done: () => void } {
    const own = new AbortController();
    let set = this.calls.get(node);
    if (!set) this.calls.set(node, (set = new Set()));
    set.add(own);
    return {
      signal: signal ? AbortSignal.any([signal, own.signal]) : own.signal,
      done: () => {
        set.delete(own);
        if (set.size === 0 && this.calls.get(node) === set) this.calls.delete(node);
      },
    };
  }

  private endCallsIfDead(node: string): void {
    const set = this.calls.get(node);
    const n = this.watch.nodes.get(node);
    if (!set || !n) return;
    const now = this.o.clock.now();
    if (this.watch.stateOf(n, now) !== 'dead') return;
    const why = new ConnectionLost(`node ${node} is dead: no heartbeat for ${((now - n.obs.seenAt) / 1000).toFixed(1)} s`);
    for (const c of set) c.abort(why);
  }

  // ------------------------------------------------------------------------------ remote-only models (D34)

  /** This machine's catalog has the model, or its loader still runs it (a config removed under it). */
  private isLocal(name: string): boolean {
    return this.o.config(name) !== null || this.o.local.rowOf(name).state !== 'unloaded';
  }

  /** Reachable nodes whose catalog has `name`, by name: the first one's entry describes the model. */
  private catalogHolders(name: string, now: number): { node: string; model: NodeCatalogModel }[] {
    const out: { node: string; model: NodeCatalogModel }[] = [];
    for (const n of this.watch.nodes.values()) {
      if (n.name === this.localName) continue;
      const state = this.watch.stateOf(n, now);
      if (state === 'dead' || state === 'incompatible') continue;
      const model = n.record?.catalog?.find((c) => c.name === name);
      if (model) out.push({ node: n.name, model });
    }
    return out.sort((a, b) => (a.node < b.node ? -1 : a.node > b.node ? 1 : 0));
  }

  /** The models some reachable node has and this machine's catalog lacks, sorted. */
  private remoteOnlyNames(now: number): string[] {
    const names = new Set<string>();
    const seen = new Set<string>();
    for (const n of this.watch.nodes.values()) {
      if (n.name === this.localName) continue;
      const state = this.watch.stateOf(n, now);
      if (state === 'dead' || state === 'incompatible') continue;
      for (const c of n.record?.catalog ?? []) {
        if (seen.has(c.name)) continue;
        seen.add(c.name);
        if (!this.isLocal(c.name)) names.add(c.name);
      }
    }
    return [...names].sort();
  }

  /**
   * A catalog entry for a model only other nodes have: their backend, file and size, and this
   * app's defaults for the rest (a worker's config never travels, clarifications 3), so chats
   * use the model file's own template. Null when no reachable node has it.
   */
  remoteEntry(name: string): CatalogEntry | null {
    if (this.isLocal(name)) return null;
    const holder = this.catalogHolders(name, this.o.clock.now())[0];
    if (!holder) return null;
    const m = holder.model;
    const config = { ...emptyConfig(name), backend: m.backend, concurrency_groups: m.groups, pinned: m.pinned, ...(m.contextSize ? { context_size: m.contextSize } : {}) };
    return { name, status: 'ok', error: null, config, configPath: null, file: m.file, uri: null, sizeBytes: m.sizeBytes, gguf: null, loadKey: '' };
  }

  /** The row before replicas are merged in: one built from a node's catalog for a model only nodes have, else this machine's loader's. */
  private baseRow(name: string): ModelRow {
    const holders = this.isLocal(name) ? [] : this.catalogHolders(name, this.o.clock.now());
    const entry = holders.length > 0 ? this.remoteEntry(name) : null;
    if (!entry) return this.o.local.rowOf(name);
    return { ...buildRow(name, entry, undefined, () => holders[0].model.estimateBytes), onNodes: holders.map((h) => h.node) };
  }

  // ------------------------------------------------------------------------------ routing

  private async target(name: string, opts?: RequestOptions): Promise<Target> {
    const selector = clusterBlock(this.o.config(name)).selector;
    for (let round = 0; ; round++) {
      const now = this.o.clock.now();
      const pick = pickReplica({ model: name, selector, nodes: this.views(now), frontend: this.frontend, own: this.own.get(name) ?? new Map(), now });
      const t = pick && this.targetOf(pick.node.name);
      if (t) return t;
      if (round >= MAX_PLACEMENT_TRIES) throw new LoadoutError('no_node', `${name} was loaded but no replica of it can be reached; try again shortly.`, { retryAfter: RETRY_AFTER_S.no_node });
      await this.coldLoad(name, opts);
    }
  }

  private count(model: string, node: string, delta: number): void {
    let m = this.own.get(model);
    if (!m) this.own.set(model, (m = new Map()));
    const n = (m.get(node) ?? 0) + delta;
    if (n <= 0) m.delete(node);
    else m.set(node, n);
  }

  /** D4: the replica leaves routing; "no responders" to a ping marks its node dead at once. */
  private suspect(node: string, model: string): void {
    this.watch.connectionError(node, model);
    void this.pingSuspect(node);
    try {
      this.o.registry.nc.publish('loadout.cluster.suspect', encode({ v: 1, node, model }));
    } catch {
      // NATS is down: this frontend still keeps the replica out.
    }
  }

  /**
   * D4: pings a suspect node; "no responders" marks it dead at once. A ping sent before NATS has
   * dropped a killed worker's connection reaches its stale subscription and times out instead,
   * so a timeout pings again (a few times, each waiting 250 ms) rather than leaving the node
   * suspect until W passes; a timeout alone never marks it dead, so a short one is safe.
   */
  private async pingSuspect(node: string): Promise<void> {
    for (let attempt = 0; attempt < SUSPECT_PINGS; attempt++) {
      if (!this.o.registry.connected) return;
      try {
        await this.o.registry.nc.request(nodeSubject(node, 'ping'), encode({ v: 1, requestId: randomUUID() }), { timeout: SUSPECT_PING_MS });
        return; // it answered: alive (a newer heartbeat clears the suspicion)
      } catch (e) {
        if (/no responders/i.test((e as Error).message)) {
          this.watch.noResponders(node);
          return;
        }
      }
    }
  }

  /** Runs a call on the best replica; a lost connection retries once elsewhere (D10). */
  private async routed<T>(name: string, opts: RequestOptions | undefined, local: () => Promise<T>, remote: (r: NodeRecord, signal: AbortSignal) => Promise<T>): Promise<T> {
    for (let attempt = 0; ; attempt++) {
      const t = await this.target(name, opts);
      if (t.local) return local();
      this.count(name, t.node, 1);
      try {
        const call = this.track(t.node, opts?.signal);
        try {
          return await remote(t.record, call.signal);
        } finally {
          call.done();
        }
      } catch (e) {
        if (!this.lost(e)) throw e;
        this.suspect(t.node, name);
        if (attempt >= 1) throw new LoadoutError('backend_crashed', `${name}: ${(e as Error).message}`);
      } finally {
        this.count(name, t.node, -1);
      }
    }
  }

  /** A lost connection, or a gateway that no longer has the replica (D11): drop it and go elsewhere. */
  private lost(e: unknown): boolean {
    return e instanceof ConnectionLost || (e instanceof LoadoutError && (e.code === 'unloaded' || e.code === 'unauthorized'));
  }

  async *stream(name: string, options: PredictOptions, opts?: RequestOptions): AsyncGenerator<StreamChunk> {
    for (let attempt = 0; ; attempt++) {
      const t = await this.target(name, opts);
      if (t.local) {
        yield* this.o.local.stream(name, options, opts);
        return;
      }
      let sent = false;
      this.count(name, t.node, 1);
      try {
        const call = this.track(t.node, opts?.signal);
        try {
          for await (const chunk of this.clients.stream(t.record, name, options, call.signal)) {
            sent = true;
            yield chunk;
          }
        } finally {
          call.done();
        }
        return;
      } catch (e) {
        if (!this.lost(e)) throw e;
        this.suspect(t.node, name);
        if (sent || attempt >= 1) throw new LoadoutError('backend_crashed', `${name} on node ${t.node} stopped while answering (${(e as Error).message}); the text so far is kept.`);
      } finally {
        this.count(name, t.node, -1);
      }
    }
  }

  predict(name: string, options: PredictOptions, opts?: RequestOptions): Promise<StreamChunk> {
    return this.routed(name, opts, () => this.o.local.predict(name, options, opts), (r, signal) => this.clients.predict(r, name, options, signal));
  }

  embed(name: string, options: PredictOptions, opts?: RequestOptions): Promise<EmbeddingResult__Output> {
    return this.routed(name, opts, () => this.o.local.embed(name, options, opts), (r, signal) => this.clients.embed(r, name, options, signal));
  }

  tokenize(name: string, options: PredictOptions, opts?: RequestOptions): Promise<TokenizationResponse__Output> {
    return this.routed(name, opts, () => this.o.local.tokenize(name, options, opts), (r, signal) => this.clients.tokenize(r, name, options, signal));
  }

  async load(name: string, opts?: RequestOptions): Promise<ModelRow> {
    await this.target(name, opts);
    return this.rowOf(name);
  }

  // ------------------------------------------------------------------------------ cold path

  /** One cold load per model here; identical loads from every frontend meet at its claim (D18). */
  private coldLoad(name: string, opts?: RequestOptions): Promise<void> {
    let p = this.coldLoads.get(name);
    if (!p) {
      this.loadStartedAt.set(name, this.o.clock.now());
      p = this.claimAndLoad(name, opts).finally(() => {
        this.coldLoads.delete(name);
        this.loadStartedAt.delete(name);
        this.changedModels.add(name);
        this.scheduleEvents();
      });
      this.coldLoads.set(name, p);
      this.changedModels.add(name);
      this.scheduleEvents();
    }
    const signal = opts?.signal;
    if (!signal) return p;
    // The caller's signal stops only its own wait (L12).
    return Promise.race([p, new Promise<void>((_, reject) => signal.addEventListener('abort', () => reject(new LoadoutError('cancelled', 'the request was cancelled')), { once: true }))]);
  }

  private async readClaim(name: string): Promise<ClaimObservation | null> {
    const e = await this.o.registry.bucket('claims').get(loadClaimKey(name));
    if (!e || e.operation !== 'PUT') {
      this.claimSeen.delete(name);
      return null;
    }
    const claim = JSON.parse(new TextDecoder().decode(e.value)) as ClaimRecord;
    const prev = this.claimSeen.get(name);
    const seenAt = prev && prev.revision === e.revision ? prev.seenAt : this.o.clock.now();
    this.claimSeen.set(name, { revision: e.revision, seenAt });
    return { claim, revision: e.revision, seenAt };
  }

  private async claimAndLoad(name: string, opts?: RequestOptions): Promise<void> {
    for (;;) {
      if (this.disposed) throw new LoadoutError('cancelled', 'the app is shutting down');
      const now = this.o.clock.now();
      const views = this.views(now);
      const replicas = views.filter((v) => v.state === 'live' || v.state === 'draining').flatMap((v) => v.models.filter((m) => m.name === name && !m.suspect).map((m) => ({ node: v.name, state: m.state })));
      // A model loading on this machine's own node is this frontend's own load.
      const localLoading = replicas.find((r) => r.node === this.localName && !isResident(r.state));
      if (localLoading) {
        await this.o.local.load(name, opts);
        return;
      }
      let claim: ClaimObservation | null = null;
      let connected = this.o.registry.connected;
      if (connected) {
        try {
          claim = await this.readClaim(name);
        } catch {
          connected = false;
        }
      }
      const d = decideClaim({ model: name, frontend: this.frontend, claim, replicas, connected, now });
      switch (d.kind) {
        case 'ready':
          return;
        case 'failed':
          throw new LoadoutError(d.error.code, d.error.message, { retryAfter: d.error.retryAfter });
        case 'wait':
          await sleep(this.o.clock, POLL_MS);
          continue;
        case 'held':
        case 'create':
        case 'take_over': {
          const kv = this.o.registry.bucket('claims');
          // D19: a holder that adopts a running load names its node at once, for every waiter.
          const mine: ClaimRecord = { frontend: this.frontend, node: d.kind === 'take_over' ? d.adopt : null, state: 'loading', progress: null };
          let revision: number;
          try {
            revision = d.kind === 'create' ? await kv.create(loadClaimKey(name), JSON.stringify(mine)) : await kv.update(loadClaimKey(name), JSON.stringify(mine), d.kind === 'take_over' ? d.revision : claim!.revision);
          } catch (e) {
            if (/wrong last sequence/i.test((e as Error).message)) continue; // another frontend won: wait for it
            throw new LoadoutError('cluster_unavailable', `${name} cannot be loaded now: the cluster's claims are unreachable (${(e as Error).message}).`, { retryAfter: RETRY_AFTER_S.cluster_unavailable });
          }
          await this.holdClaim(name, revision, d.kind === 'take_over' ? d.adopt : null, opts);
          return;
        }
      }
    }
  }

  /** This frontend holds the claim: place and load, refreshing it every 5 s, then end it. */
  private async holdClaim(name: string, revision: number, adopt: string | null, opts?: RequestOptions): Promise<void> {
    const kv = this.o.registry.bucket('claims');
    const key = loadClaimKey(name);
    let rev = revision;
    let record: ClaimRecord = { frontend: this.frontend, node: adopt, state: 'loading', progress: null };
    const write = async () => {
      try {
        rev = await kv.update(key, JSON.stringify(record), rev);
      } catch {
        // A lost claim costs at most one duplicate replica, trimmed later (spec section 2).
      }
    };
    let refresh: unknown = null;
    const keepAlive = () => {
      refresh = this.o.clock.setTimeout(() => void write().then(keepAlive), CLAIM_REFRESH_MS);
    };
    keepAlive();
    try {
      const node = adopt ?? (await this.place(name, (n) => {
        record = { ...record, node: n };
        void write();
      }, opts));
      if (node !== this.localName) await this.awaitReplica(name, node);
      record = { ...record, node, state: 'ready' };
    } catch (e) {
      const err = e instanceof LoadoutError ? e : new LoadoutError('backend_failed', (e as Error).message);
      record = { ...record, state: 'failed', error: err.toData() };
      throw err;
    } finally {
      this.o.clock.clearTimeout(refresh);
      await write();
      // Waiters poll every 100 ms: leave the outcome long enough for all of them to read it.
      this.o.clock.setTimeout(() => void kv.delete(key, { previousSeq: rev }).catch(() => {}), 1_000);
    }
  }

  /** D13-D17: the planner's node, re-planned on a refusal (3 nodes at most); returns the node loading it. */
  private async place(name: string, onNode: (node: string) => void, opts?: RequestOptions): Promise<string> {
    const row = this.baseRow(name);
    const c = clusterBlock(this.o.config(name));
    const exclude = new Set<string>();
    let waitingSince: number | null = null;
    let last: LoadoutError | null = null;
    while (exclude.size < MAX_PLACEMENT_TRIES) {
      if (opts?.signal?.aborted) throw new LoadoutError('cancelled', 'the request was cancelled');
      const now = this.o.clock.now();
      const nodes = this.views(now);
      const d = placeModel({
        target: { name, groups: row.groups, needBytes: row.memory.estimateBytes ?? 0, file: this.fileSpec(name, row), selector: c.selector },
        nodes,
        protocol: PROTOCOL_VERSION,
        protect: protectedReplicas(this.specs(), nodes),
        evictionWait: this.o.settings().eviction_wait,
        now,
        waitingSince,
        exclude,
      });
      if (d.kind === 'fail') throw last && d.code === 'no_node' ? last : new LoadoutError(d.code, d.message, { retryAfter: d.retryAfter });
      if (d.kind === 'wait') {
        waitingSince = d.since;
        await sleep(this.o.clock, POLL_MS * 2);
        continue;
      }
      onNode(d.node);
      if (d.node === this.localName) {
        // This machine's own loader admits and evicts by its own rules.
        await this.o.local.load(name, opts);
        return d.node;
      }
      const refused = await this.sendLoad(d.node, name, row, d.protect, opts);
      if (!refused) return d.node;
      last = refused;
      exclude.add(d.node);
      this.o.log(`cluster: ${d.node} refused ${name} (${refused.message}); placing it elsewhere`);
    }
    throw last ?? new LoadoutError('no_node', `No node could take ${name}.`, { retryAfter: RETRY_AFTER_S.no_node });
  }

  /** The worker's refusal as an error, or null once it acknowledged the load. */
  private async sendLoad(node: string, name: string, row: ModelRow, protect: string[], opts?: RequestOptions): Promise<LoadoutError | null> {
    // D29: the file goes along only with a sha256 to check or fetch it by; without one the worker
    // uses its own file as it would alone.
    const file = this.fileSpec(name, row);
    const req = { v: 1, requestId: randomUUID(), frontend: this.frontend, spec: { name, backend: row.backend, file: file?.sha256 ? file : null, config: {}, needBytes: row.memory.estimateBytes ?? 0 }, protect, origin: opts?.origin ?? 'api' };
    // A worker re-subscribes a moment after NATS comes back (D30): "no responders" counts only
    // once it lasts past that moment.
    for (let attempt = 0; ; attempt++) {
      try {
        const reply = await this.o.registry.nc.request(nodeSubject(node, 'load'), encode(req), { timeout: LOAD_ACK_MS });
        const body = JSON.parse(new TextDecoder().decode(reply.data)) as { ok: boolean; error?: { code: ErrorCode; message: string } };
        return body.ok ? null : new LoadoutError(body.error?.code ?? 'backend_failed', body.error?.message ?? `${node} refused ${name}`);
      } catch (e) {
        const m = (e as Error).message;
        if (/no responders/i.test(m) && attempt < NO_RESPONDERS_RETRIES && this.o.registry.connected) {
          await sleep(this.o.clock, 250);
          continue;
        }
        if (/no responders/i.test(m)) this.watch.noResponders(node);
        if (!this.o.registry.connected) throw new LoadoutError('cluster_unavailable', `${name} cannot be loaded now: NATS is unreachable. Requests to loaded models go on; try again shortly.`, { retryAfter: RETRY_AFTER_S.cluster_unavailable });
        return new LoadoutError('no_node', `${node} did not answer the load of ${name} (${m})`, { retryAfter: RETRY_AFTER_S.no_node });
      }
    }
  }

  /**
   * D29: the model's file as the cluster knows it: its name, its size (this machine's copy, or a
   * node's), and its sha256 where known without hashing (the config's `download_files`, a node
   * record). The sha256 goes out only while a live node advertises that file: a worker then checks
   * its own copy against it, or fetches it from that peer. With no holder there is nothing to fetch
   * from, and the worker loads as it would alone (its own file, or `not_downloaded`).
   */
  private fileSpec(name: string, row: ModelRow): ModelSpec['file'] {
    const config = this.o.config(name);
    const params = config?.parameters;
    const ref = typeof params === 'object' && params !== null ? (params as Record<string, unknown>).model : undefined;
    const fileName = row.file ? basename(row.file) : typeof ref === 'string' && ref !== '' ? (isModelUri(ref) ? uriTarget(ref) : basename(ref)) : null;
    if (!fileName) return null;
    const pinned = Array.isArray(config?.download_files) ? (config.download_files as { filename?: unknown; sha256?: unknown }[]).find((f) => f?.filename === fileName) : undefined;
    let sha = typeof pinned?.sha256 === 'string' && SHA256_RE.test(pinned.sha256.toLowerCase()) ? pinned.sha256.toLowerCase() : null;
    let size = row.sizeBytes;
    let held = false;
    const now = this.o.clock.now();
    for (const n of this.watch.nodes.values()) {
      const state = this.watch.stateOf(n, now);
      if (state !== 'live' && state !== 'draining') continue;
      for (const f of n.record?.files ?? []) {
        if (basename(f.name) !== fileName || !f.sha256 || !SHA256_RE.test(f.sha256)) continue;
        if ((size !== null && f.sizeBytes !== size) || (sha !== null && f.sha256 !== sha)) continue;
        sha ??= f.sha256;
        size ??= f.sizeBytes;
        held = true;
      }
    }
    return size === null ? null : { name: fileName, sizeBytes: size, sha256: held ? sha : null };
  }

  /** Waits until the node reports the replica ready; its disappearance or the node's death is a failure. */
  private async awaitReplica(name: string, node: string): Promise<void> {
    const s = this.o.settings();
    const deadline = this.o.clock.now() + (s.start_timeout + (s.load_timeout || 600)) * 1000;
    const firstSeenBy = this.o.clock.now() + 5_000;
    let seen = false;
    for (;;) {
      const now = this.o.clock.now();
      const n = this.watch.nodes.get(node);
      const state = n ? this.watch.stateOf(n, now) : 'dead';
      if (state === 'dead') throw new LoadoutError('backend_crashed', `node ${node} went away while loading ${name} (${n ? this.watch.deadReason(n, now) : 'it left the cluster'}).`);
      const m = n?.record?.models.find((x) => x.name === name);
      if (m && isResident(m.state)) return;
      // D29: a load waiting for its file; a fetch has no deadline but its own stall timer.
      const staging = m ? undefined : n?.record?.staging?.find((x) => x.model === name);
      if (staging?.state === 'failed' && staging.error) {
        const code = typeof staging.error.code === 'string' && Object.hasOwn(ERROR_STATUS, staging.error.code) ? (staging.error.code as ErrorCode) : 'backend_failed';
        throw new LoadoutError(code, `${name} on node ${node}: ${String(staging.error.message).slice(0, 1000)}`);
      }
      if (staging) {
        seen = true;
        await sleep(this.o.clock, POLL_MS);
        continue;
      }
      if (m) seen = true;
      else if (seen || now > firstSeenBy) throw new LoadoutError('backend_failed', `${name} failed to load on node ${node}; its log there says why.`);
      if (now > deadline) throw new LoadoutError('timeout', `${name} did not finish loading on node ${node} in time.`);
      await sleep(this.o.clock, POLL_MS);
    }
  }

  // ------------------------------------------------------------------------------ rows

  private replicasOf(name: string, now: number): (ModelReplica & { progress: number | null })[] {
    const out: (ModelReplica & { progress: number | null })[] = [];
    for (const n of this.watch.nodes.values()) {
      if (n.name === this.localName) continue;
      const state = this.watch.stateOf(n, now);
      if (state === 'dead' || state === 'incompatible') continue;
      const m = n.record?.models.find((x) => x.name === name);
      if (m) out.push({ node: n.name, state: m.state, inFlight: m.inFlight, lastUsed: m.lastUsed, progress: m.progress });
    }
    return out;
  }

  /** D29: the share of its file a node has fetched for the model's load, while it fetches. */
  private stagingProgress(name: string, now: number): number | null {
    for (const n of this.watch.nodes.values()) {
      if (this.watch.stateOf(n, now) === 'dead') continue;
      const s = n.record?.staging?.find((x) => x.model === name && x.state !== 'failed');
      if (s) return s.totalBytes > 0 ? Math.min(1, s.receivedBytes / s.totalBytes) : 0;
    }
    return null;
  }

  /** The local row, showing the best replica's state, in-flight and queued summed (clarifications 7). */
  rowOf(name: string): ModelRow {
    const row = this.baseRow(name);
    const now = this.o.clock.now();
    const remote = this.replicasOf(name, now);
    const localReplica: ModelReplica[] = this.localName && isOccupying(row.state) ? [{ node: this.localName, state: row.state, inFlight: row.inFlight, lastUsed: row.lastUsed }] : [];
    const replicas = [...localReplica, ...remote.map(({ progress: _p, ...r }) => r)];
    const started = this.loadStartedAt.get(name);
    if (remote.length === 0 && started === undefined) return { ...row, replicas };
    if (isResident(row.state) && this.localName) return { ...row, replicas, inFlight: replicas.reduce((s, r) => s + r.inFlight, 0) };
    const best = remote.find((r) => isResident(r.state)) ?? remote.find((r) => r.state === 'loading' || r.state === 'starting') ?? remote[0];
    return {
      ...row,
      replicas,
      state: best ? best.state : isOccupying(row.state) ? row.state : 'starting',
      progress: best ? best.progress : (this.stagingProgress(name, now) ?? row.progress),
      loadStartedAt: started !== undefined ? new Date(started).toISOString() : row.loadStartedAt,
      inFlight: replicas.reduce((s, r) => s + r.inFlight, 0),
      pid: null,
    };
  }

  snapshot(): Snapshot {
    const s = this.o.local.snapshot();
    const names = [...s.models.map((r) => r.name), ...this.remoteOnlyNames(this.o.clock.now())].sort();
    return { ...s, models: names.map((n) => this.rowOf(n)), cluster: this.clusterSnapshot() };
  }

  clusterSnapshot(): ClusterSnapshot {
    const now = this.o.clock.now();
    const nodes: ClusterNode[] = [];
    const local = this.localView();
    if (local) {
      nodes.push({
        name: local.name,
        state: 'live',
        reason: null,
        heartbeatAgeMs: 0,
        version: '',
        protocol: PROTOCOL_VERSION,
        labels: {},
        memory: { ...local.memory, models: local.models.reduce((s, m) => s + m.needBytes, 0) },
        gpus: [],
        inFlight: local.models.reduce((s, m) => s + m.inFlight, 0),
        local: true,
        replicas: local.models.map((m) => ({ model: m.name, state: m.state, inFlight: m.inFlight, queued: m.queued, lastUsed: m.lastUsed ? new Date(m.lastUsed).toISOString() : null })),
      });
    }
    for (const n of this.watch.nodes.values()) {
      if (n.name === this.localName) continue;
      const state = this.watch.stateOf(n, now);
      const r = n.record;
      const h = n.heartbeat;
      const age = now - n.obs.seenAt;
      nodes.push({
        name: n.name,
        state,
        reason: state === 'dead' ? this.watch.deadReason(n, now) : state === 'incompatible' ? `protocol ${n.obs.protocol}, this app speaks ${PROTOCOL_VERSION}` : state === 'suspect' ? 'a connection to it failed' : null,
        heartbeatAgeMs: age,
        version: r?.version ?? '',
        protocol: n.obs.protocol,
        labels: r?.labels ?? {},
        memory: h ? { total: h.memory.total, available: h.memory.available, budget: h.memory.budget, models: h.memory.models } : { total: 0, available: 0, budget: 0, models: 0 },
        gpus: h?.gpus ?? [],
        inFlight: h?.stats.inFlight ?? 0,
        local: false,
        replicas: (r?.models ?? []).map((m) => ({ model: m.name, state: m.state, inFlight: m.inFlight, queued: m.queued, lastUsed: m.lastUsed })),
      });
    }
    const connected = this.o.registry.connected;
    return {
      frontend: this.frontend,
      nats: connected ? 'connected' : 'reconnecting',
      natsUrl: this.o.registry.shownUrl,
      natsError: null,
      leader: this.lease?.holder ?? null,
      nodes,
      lru: clusterLru(this.views(now)).map(({ node, model }) => ({ node, model })),
    };
  }

  /** `model` rows for the models whose replicas changed and one `cluster` event: at most 4 a second. */
  private scheduleEvents(): void {
    if (this.eventTimer || this.disposed) return;
    this.eventTimer = this.o.clock.setTimeout(() => {
      this.eventTimer = null;
      if (this.catalogsChanged) {
        this.catalogsChanged = false;
        const now = new Set(this.remoteOnlyNames(this.o.clock.now()));
        for (const m of now) if (!this.shownRemote.has(m)) this.changedModels.add(m);
        for (const m of this.shownRemote) if (!now.has(m) && !this.isLocal(m)) this.o.emit({ type: 'removed', name: m });
        this.shownRemote = now;
      }
      const now = this.o.clock.now();
      for (const m of this.changedModels) {
        // A model neither this machine nor any reachable node has (gone with its node, or removed
        // here): its `removed` event said so, and a row now would bring it back as an error.
        if (!this.isLocal(m) && this.catalogHolders(m, now).length === 0) continue;
        this.o.emit({ type: 'model', row: this.rowOf(m) });
      }
      this.changedModels.clear();
      this.o.emit({ type: 'cluster', cluster: this.clusterSnapshot() });
    }, CLUSTER_EVENT_MS);
  }

  // ------------------------------------------------------------------------------ leader

  /** D24: one leader at a time through the `leader` key; the leader reconciles every second (D21, D22). */
  private async leaderTick(): Promise<void> {
    if (this.disposed) return;
    try {
      await this.followLease();
      if (this.leading) this.reconcile();
    } catch (e) {
      this.leading = false;
      this.o.log(`cluster: leader round failed (${(e as Error).message})`);
    }
    if (!this.disposed) this.leaderTimer = this.o.clock.setTimeout(() => void this.leaderTick(), 1_000);
  }

  private async followLease(): Promise<void> {
    const connected = this.o.registry.connected;
    const kv = this.o.registry.bucket('claims');
    const now = this.o.clock.now();
    if (connected) {
      const e = await kv.get(LEADER_KEY);
      if (!e || e.operation !== 'PUT') this.lease = null;
      else if (!this.lease || this.lease.revision !== e.revision) {
        const holder = (JSON.parse(new TextDecoder().decode(e.value)) as { frontend?: string }).frontend ?? '?';
        this.lease = { holder, revision: e.revision, seenAt: now };
      }
    }
    const d = decideLeader({ self: this.frontend, lease: this.lease, connected, now });
    const mine = JSON.stringify({ frontend: this.frontend });
    const took = (revision: number) => {
      this.lease = { holder: this.frontend, revision, seenAt: this.o.clock.now() };
      this.leading = true;
    };
    const before = this.lease?.holder ?? null;
    try {
      if (d.kind === 'acquire') took(await kv.create(LEADER_KEY, mine));
      else if (d.kind === 'take_over' || d.kind === 'renew') {
        this.leading = d.kind === 'renew' && d.leading;
        took(await kv.update(LEADER_KEY, mine, d.revision));
      } else this.leading = d.kind === 'lead';
    } catch {
      // Another frontend won the race: it leads; the next round reads its lease.
      this.leading = false;
    }
    if ((this.lease?.holder ?? null) !== before) this.scheduleEvents();
  }

  private reconcile(): void {
    const now = this.o.clock.now();
    const r = reconcileReplicas({ specs: this.specs(), nodes: this.views(now), now, state: this.reconcileState });
    this.reconcileState = r.state;
    for (const up of r.scaleUp) {
      if (this.scaling.has(up.model) || this.coldLoads.has(up.model)) continue;
      this.scaling.add(up.model);
      void (async () => {
        try {
          const node = await this.place(up.model, () => {}, { origin: 'restart' });
          if (node !== this.localName) await this.awaitReplica(up.model, node);
          this.reconcileState = recordPlaced(this.reconcileState, up.model);
        } catch (e) {
          this.reconcileState = recordUnplaceable(this.reconcileState, up.model, this.o.clock.now(), (e as Error).message);
          this.o.log(`cluster: cannot add a replica of ${up.model} (${(e as Error).message}); trying again later`);
        } finally {
          this.scaling.delete(up.model);
        }
      })();
    }
    for (const u of r.unload) void this.unloadReplica(u.node, u.model, { reason: u.reason, sentence: u.sentence }).catch((e: Error) => this.o.log(`cluster: ${u.sentence} failed: ${e.message}`));
  }

  // ------------------------------------------------------------------------------ management

  private async requestNode(node: string, verb: 'unload' | 'drain', body: Record<string, unknown>, timeoutMs: number): Promise<void> {
    if (!this.watch.nodes.has(node)) throw new LoadoutError('not_found', `There is no node named "${node}"; GET /api/cluster lists them.`);
    let reply;
    try {
      reply = await this.o.registry.nc.request(nodeSubject(node, verb), encode({ v: 1, requestId: randomUUID(), ...body }), { timeout: timeoutMs });
    } catch (e) {
      throw new LoadoutError('cluster_unavailable', `node ${node} did not answer (${(e as Error).message}).`, { retryAfter: RETRY_AFTER_S.cluster_unavailable });
    }
    const r = JSON.parse(new TextDecoder().decode(reply.data)) as { ok: boolean; error?: { code: ErrorCode; message: string } };
    if (!r.ok) throw new LoadoutError(r.error?.code ?? 'backend_failed', r.error?.message ?? `node ${node} refused`);
  }

  async unloadReplica(node: string, model: string, opts: UnloadOptions = {}): Promise<void> {
    if (node === this.localName) return this.o.local.unload(model, opts);
    await this.requestNode(node, 'unload', { model, force: opts.force ?? false, reason: opts.reason ?? 'user', by: opts.by ?? null, ...(opts.sentence ? { sentence: opts.sentence } : {}) }, (this.o.settings().unload_grace + 20) * 1000);
    this.changedModels.add(model);
    this.scheduleEvents();
  }

  /** D28: the node takes no new loads. */
  async drainNode(node: string): Promise<void> {
    if (node === this.localName) throw new LoadoutError('invalid', `${node} is this machine: stop its models instead (cluster_local_node off keeps it out of the cluster).`);
    await this.requestNode(node, 'drain', { draining: true }, 5_000);
  }

  node(name: string): ClusterNode {
    const n = this.clusterSnapshot().nodes.find((x) => x.name === name);
    if (!n) throw new LoadoutError('not_found', `There is no node named "${name}"; GET /api/cluster lists them.`);
    return n;
  }

  /** A user's unload: every replica this frontend can see. */
  async unload(name: string, opts?: UnloadOptions): Promise<void> {
    const remote = this.replicasOf(name, this.o.clock.now());
    const onlyRemote = !this.isLocal(name) && this.catalogHolders(name, this.o.clock.now()).length > 0;
    await Promise.all([...(onlyRemote ? [] : [this.o.local.unload(name, opts)]), ...remote.map((r) => this.unloadReplica(r.node, name, opts))]);
  }

  cancelLoad(name: string): boolean {
    return this.o.local.cancelLoad(name);
  }

  /** This machine's dry run; for a model only other nodes have, the placement's (D34). */
  plan(name: string): Plan {
    if (this.isLocal(name) || this.catalogHolders(name, this.o.clock.now()).length === 0) return this.o.local.plan(name);
    const row = this.baseRow(name);
    const now = this.o.clock.now();
    if (this.replicasOf(name, now).some((r) => isOccupying(r.state))) return { model: name, ok: true, unloads: [], failure: null };
    const c = clusterBlock(this.o.config(name));
    const nodes = this.views(now);
    const d = placeModel({
      target: { name, groups: row.groups, needBytes: row.memory.estimateBytes ?? 0, file: null, selector: c.selector },
      nodes,
      protocol: PROTOCOL_VERSION,
      protect: protectedReplicas(this.specs(), nodes),
      evictionWait: this.o.settings().eviction_wait,
      now,
      waitingSince: null,
    });
    if (d.kind === 'fail') return { model: name, ok: false, unloads: [], failure: { code: d.code, message: d.message } };
    return { model: name, ok: true, unloads: d.kind === 'load' ? d.unloads.map((u) => ({ ...u, sentence: `on ${d.node}: ${u.sentence}` })) : [], failure: null };
  }

  setTemplateWarning(name: string, warning: string | null): void {
    if (this.isLocal(name)) this.o.local.setTemplateWarning(name, warning);
  }

  catalogChanged(name: string, removed: boolean): void {
    this.o.local.catalogChanged(name, removed);
    // A model removed here that a node still has keeps its row; one added here is no longer remote-only.
    this.catalogsChanged = true;
    this.changedModels.add(name);
    this.scheduleEvents();
  }

  enforcePolicy(): void {
    this.o.local.enforcePolicy();
  }

  isQuiet(): boolean {
    return this.o.local.isQuiet() && this.coldLoads.size === 0 && [...this.own.values()].every((m) => m.size === 0);
  }

  async dispose(): Promise<void> {
    this.disposed = true;
    if (this.eventTimer) this.o.clock.clearTimeout(this.eventTimer);
    if (this.leaderTimer) this.o.clock.clearTimeout(this.leaderTimer);
    if (this.leading && this.lease) await this.o.registry.bucket('claims').delete(LEADER_KEY, { previousSeq: this.lease.revision }).catch(() => {});
    this.watch.stop();
    this.journalSub?.unsubscribe();
    this.clients.close();
    await this.o.local.dispose();
    await this.o.registry.close();
  }
}
