/**
 * The cluster's connection to NATS and its JetStream KV buckets (distributed-spec.md section 1).
 * Reconnects forever (250 ms + jitter); after every reconnect it re-creates the buckets (a
 * restarted server may have lost them or still be starting JetStream) and tells its users, who
 * re-put their records and re-create their watchers.
 */
import { existsSync } from 'node:fs';
import { connect } from '@nats-io/transport-node';
import type { NatsConnection } from '@nats-io/transport-node';
import { Kvm } from '@nats-io/kv';
import type { KV, KvWatchEntry } from '@nats-io/kv';
import { BUCKETS, BUCKET_MAX_AGE_MS, inventoryKey, nodeKey, parseNodeHeartbeat, parseNodeInventory, redactUrl, tokenToName, type NodeHeartbeat, type NodeInventory } from './protocol';

export { redactUrl };

export type BucketName = keyof typeof BUCKETS;

/** A change to one half of a node's record in `loadout_nodes` (its key's name decoded). */
export type NodeEntry =
  | { kind: 'heartbeat'; name: string; value: NodeHeartbeat }
  | { kind: 'inventory'; name: string; value: NodeInventory }
  /** The key was deleted (a clean stop) or expired. */
  | { kind: 'gone'; half: 'heartbeat' | 'inventory'; name: string }
  /** A value that cannot be used; with the protocol it speaks where that is what differs (D5). */
  | { kind: 'invalid'; half: 'heartbeat' | 'inventory'; name: string; incompatibleProtocol?: unknown };

export interface RegistryOptions {
  /** `nats://[user:pass@|token@]host:port` (or tls://). */
  url: string;
  /** Shown in the server's connection list. */
  clientName: string;
  /**
   * `cluster_tls_ca`: a PEM file of the CA that signed the NATS server's certificate (a private
   * CA, or a self-signed server). Set, the connection must be TLS and the server's certificate
   * must chain to it; empty, a tls:// server is checked against the system's CAs.
   */
  tlsCa?: string;
  log: (line: string) => void;
}

/** Why joining failed, in words that say what to fix (D6). */
export class ClusterJoinError extends Error {
  override name = 'ClusterJoinError';
}

const RECONNECT_MS = 250;
const RECONNECT_JITTER_MS = 100;


function connectOptions(url: string): { servers: string; user?: string; pass?: string; token?: string } {
  let u: URL;
  try {
    u = new URL(url);
  } catch {
    throw new ClusterJoinError(`The NATS URL is not a URL; write it as nats://user:password@host:4222.`);
  }
  if (!['nats:', 'tls:', 'ws:', 'wss:'].includes(u.protocol)) throw new ClusterJoinError(`The NATS URL must start with nats:// or tls:// (got ${u.protocol}//).`);
  const servers = `${u.protocol}//${u.hostname.includes(':') ? `[${u.hostname}]` : u.hostname}:${u.port || 4222}`;
  const user = decodeURIComponent(u.username);
  const pass = decodeURIComponent(u.password);
  if (user && pass) return { servers, user, pass };
  if (user) return { servers, token: user };
  return { servers };
}

function isWrongSequence(e: unknown): boolean {
  return /wrong last sequence/i.test((e as Error)?.message ?? '');
}

function explainJetStream(e: unknown, shown: string): ClusterJoinError {
  const m = (e as Error)?.message ?? String(e);
  if (/jetstream.*not enabled|no responders|503|timeout/i.test(m))
    return new ClusterJoinError(
      `NATS at ${shown} has JetStream off (${m}). Start nats-server with JetStream on: \`nats-server -js -sd <dir>\` or \`nats-server -c docs/cluster/nats-server.conf\`.`,
    );
  return new ClusterJoinError(`NATS at ${shown}: could not open the cluster's buckets (${m}).`);
}

export class Registry {
  readonly nc: NatsConnection;
  private readonly kvm: Kvm;
  private readonly buckets = new Map<BucketName, KV>();
  private readonly reconnectListeners = new Set<() => void | Promise<void>>();
  private readonly disconnectListeners = new Set<() => void>();
  private closed = false;
  /** The socket is up (NATS status events). */
  private socketUp = true;
  /** The socket is up and, after a reconnect, the buckets and watchers are back. */
  private connectedNow = true;
  readonly shownUrl: string;

  private constructor(
    nc: NatsConnection,
    private readonly log: (line: string) => void,
    shownUrl: string,
  ) {
    this.nc = nc;
    this.kvm = new Kvm(nc);
    this.shownUrl = shownUrl;
  }

  /** Connects and opens the buckets, or fails saying what to fix (D6). */
  static async connect(o: RegistryOptions): Promise<Registry> {
    const shown = redactUrl(o.url);
    const opts = connectOptions(o.url);
    if (o.tlsCa && !existsSync(o.tlsCa)) throw new ClusterJoinError(`cluster_tls_ca names ${o.tlsCa}, which does not exist; give the PEM file of the CA that signed the NATS server's certificate.`);
    let nc: NatsConnection;
    try {
      nc = await connect({
        ...opts,
        ...(o.tlsCa ? { tls: { caFile: o.tlsCa } } : {}),
        name: o.clientName,
        maxReconnectAttempts: -1,
        reconnectTimeWait: RECONNECT_MS,
        reconnectJitter: RECONNECT_JITTER_MS,
        reconnectJitterTLS: RECONNECT_JITTER_MS,
        pingInterval: 2_000,
        timeout: 5_000,
      });
    } catch (e) {
      const m = (e as Error).message ?? String(e);
      if (/certificate|self.signed|unable to verify|CERT_|SSL|TLS/i.test(m))
        throw new ClusterJoinError(
          `NATS at ${shown}: its TLS certificate was not accepted (${m}). ${o.tlsCa ? `Check that ${o.tlsCa} (cluster_tls_ca) is the CA that signed it` : 'Set cluster_tls_ca to the PEM file of the CA that signed it'}, and that the server's name or address is in the certificate.`,
        );
      if (/authorization|authentication|auth/i.test(m))
        throw new ClusterJoinError(`NATS at ${shown} refused the credentials (${m}). Check the user and password (nats://user:password@host:4222) or the token.`);
      throw new ClusterJoinError(`Cannot reach NATS at ${shown} (${m}). Start nats-server there (docs/cluster/nats-server.conf) or fix the address.`);
    }
    const registry = new Registry(nc, o.log, shown);
    try {
      await registry.openBuckets();
    } catch (e) {
      await nc.close().catch(() => {});
      throw explainJetStream(e, shown);
    }
    void registry.followStatus();
    return registry;
  }

  /** True while the connection is up (staleness clocks pause while it is not, spec section 2). */
  get connected(): boolean {
    return this.connectedNow && !this.closed;
  }

  bucket(name: BucketName): KV {
    const kv = this.buckets.get(name);
    if (!kv) throw new Error(`bucket ${BUCKETS[name]} is not open`);
    return kv;
  }

  /** Called after each reconnect, once the buckets are back. Returns the unsubscribe. */
  onReconnect(listener: () => void | Promise<void>): () => void {
    this.reconnectListeners.add(listener);
    return () => this.reconnectListeners.delete(listener);
  }

  /** Called when the connection drops. Returns the unsubscribe. */
  onDisconnect(listener: () => void): () => void {
    this.disconnectListeners.add(listener);
    return () => this.disconnectListeners.delete(listener);
  }

  private async openBuckets(): Promise<void> {
    for (const name of Object.keys(BUCKETS) as BucketName[]) {
      // The same options everywhere: JetStream refuses a bucket re-declared with other limits.
      const kv = await this.kvm.create(BUCKETS[name], { storage: 'file', history: 1, ttl: BUCKET_MAX_AGE_MS, timeout: 5_000 });
      this.buckets.set(name, kv);
    }
  }

  private async followStatus(): Promise<void> {
    for await (const s of this.nc.status()) {
      if (this.closed) return;
      if (s.type === 'disconnect') {
        this.socketUp = false;
        this.connectedNow = false;
        this.log(`cluster: lost NATS at ${this.shownUrl}; reconnecting`);
        for (const l of this.disconnectListeners) l();
      } else if (s.type === 'reconnect') {
        this.socketUp = true;
        this.log(`cluster: reconnected to NATS at ${this.shownUrl}`);
        void this.rebuild();
      }
    }
  }

  /** After a reconnect: buckets (retrying while JetStream starts), then every listener. */
  private rebuilding: Promise<void> | null = null;
  private rebuild(): Promise<void> {
    this.rebuilding ??= (async () => {
      for (let attempt = 0; !this.closed; attempt++) {
        try {
          await this.openBuckets();
          break;
        } catch (e) {
          if (attempt % 20 === 0) this.log(`cluster: buckets not back yet (${(e as Error).message}); retrying`);
          await new Promise((r) => setTimeout(r, RECONNECT_MS + Math.random() * RECONNECT_JITTER_MS));
        }
      }
      // Only now is the outage over: a restarted server may take seconds to bring JetStream
      // back, and no heartbeat can arrive before, so staleness clocks stay paused until here
      // (not from the socket's reconnect). The listeners (re-put records, re-watch) run after.
      this.connectedNow = this.socketUp;
      for (const l of this.reconnectListeners) await Promise.resolve(l()).catch((e: Error) => this.log(`cluster: after reconnect: ${e.message}`));
    })().finally(() => (this.rebuilding = null));
    return this.rebuilding;
  }

  /**
   * Calls `onEntry` for every node heartbeat and inventory now and as they change, until the
   * returned stop; re-created after each reconnect.
   */
  watchNodes(onEntry: (entry: NodeEntry) => void): () => void {
    let stopped = false;
    let current: { stop(): void } | null = null;
    const start = async (): Promise<void> => {
      current?.stop();
      if (stopped) return;
      // One watcher over the bucket (nats-server 2.9 takes one filter per consumer); other keys are skipped.
      const iter = await this.bucket('nodes').watch({ key: '>' });
      current = iter;
      void (async () => {
        for await (const e of iter as AsyncIterable<KvWatchEntry>) {
          const dot = e.key.indexOf('.');
          const prefix = e.key.slice(0, dot);
          const half = prefix === 'node' ? 'heartbeat' : prefix === 'inv' ? 'inventory' : null;
          if (!half) continue;
          const name = tokenToName(e.key.slice(dot + 1));
          if (e.operation !== 'PUT') {
            onEntry({ kind: 'gone', half, name });
            continue;
          }
          const parsed: { ok: true; value: NodeHeartbeat | NodeInventory } | { ok: false; incompatible?: { protocol: unknown } } = half === 'heartbeat' ? parseNodeHeartbeat(e.value) : parseNodeInventory(e.value);
          if (parsed.ok) onEntry(half === 'heartbeat' ? { kind: 'heartbeat', name, value: parsed.value as NodeHeartbeat } : { kind: 'inventory', name, value: parsed.value as NodeInventory });
          else onEntry({ kind: 'invalid', half, name, ...(parsed.incompatible ? { incompatibleProtocol: parsed.incompatible.protocol } : {}) });
        }
      })().catch(() => {});
    };
    void start().catch((e: Error) => this.log(`cluster: cannot watch nodes: ${e.message}`));
    const off = this.onReconnect(start);
    return () => {
      stopped = true;
      off();
      current?.stop();
    };
  }

  async close(): Promise<void> {
    if (this.closed) return;
    this.closed = true;
    this.reconnectListeners.clear();
    this.disconnectListeners.clear();
    await this.nc.drain().catch(() => this.nc.close().catch(() => {}));
  }
}

/**
 * One worker's ownership of its keys (D2): `node.<name>` created if free; taken over with
 * update(rev) if the holder wrote nothing for 2 of its heartbeats; else refused naming the
 * holder. Later writes are update(rev), so a second writer is noticed instead of overwritten.
 * `inv.<name>` is written only by the incarnation that holds `node.<name>`.
 */
export class NodeKeyOwner {
  private revision = 0;
  private inventoryRevision = 0;

  constructor(
    private readonly registry: Registry,
    private readonly name: string,
    private readonly incarnation: string,
    private readonly sleep: (ms: number) => Promise<void> = (ms) => new Promise((r) => setTimeout(r, ms)),
  ) {}

  private get kv(): KV {
    return this.registry.bucket('nodes');
  }

  async claim(heartbeat: NodeHeartbeat): Promise<void> {
    const key = nodeKey(this.name);
    try {
      this.revision = await this.kv.create(key, JSON.stringify(heartbeat));
      return;
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
    }
    const seen = await this.kv.get(key);
    if (!seen || seen.operation !== 'PUT') {
      this.revision = await this.kv.create(key, JSON.stringify(heartbeat));
      return;
    }
    const holder = parseNodeHeartbeat(seen.value);
    const holderHeartbeat = holder.ok ? holder.value.heartbeatMs : heartbeat.heartbeatMs;
    // Stale means: no write for 2 of the holder's heartbeats, observed on our own clock.
    const deadline = Date.now() + 2 * holderHeartbeat + 50;
    while (Date.now() < deadline) {
      await this.sleep(Math.max(10, Math.min(holderHeartbeat / 4, deadline - Date.now())));
      const now = await this.kv.get(key);
      if (now && now.revision !== seen.revision && now.operation === 'PUT') {
        const inv = await this.kv.get(inventoryKey(this.name)).catch(() => null);
        const who = inv && inv.operation === 'PUT' ? parseNodeInventory(inv.value) : null;
        const where = who?.ok ? ` (gateway ${who.value.gateway}, started as incarnation ${who.value.incarnation})` : '';
        throw new ClusterJoinError(`Another live worker holds the name "${this.name}"${where}. Stop it or start this one with another --name.`);
      }
    }
    try {
      this.revision = await this.kv.update(key, JSON.stringify(heartbeat), seen.revision);
    } catch (e) {
      if (isWrongSequence(e)) throw new ClusterJoinError(`Another worker took the name "${this.name}" at the same moment. Start this one with another --name.`);
      throw e;
    }
  }

  /**
   * Writes the heartbeat. Returns false when another incarnation took the key over (this worker
   * must stop using the name); a key lost with its bucket is created again.
   */
  async write(heartbeat: NodeHeartbeat): Promise<boolean> {
    const key = nodeKey(this.name);
    try {
      this.revision = await this.kv.update(key, JSON.stringify(heartbeat), this.revision);
      return true;
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
    }
    const now = await this.kv.get(key);
    if (!now || now.operation !== 'PUT') {
      this.revision = await this.kv.create(key, JSON.stringify(heartbeat));
      return true;
    }
    const holder = parseNodeHeartbeat(now.value);
    if (holder.ok && holder.value.incarnation === this.incarnation) {
      // Our own earlier write whose acknowledgement was lost (a reconnect).
      this.revision = await this.kv.update(key, JSON.stringify(heartbeat), now.revision);
      return true;
    }
    return false;
  }

  /**
   * Writes the inventory. Returns false when `node.<name>` is another incarnation's: a worker
   * paused past its lease must not overwrite the inventory of the one that took its name.
   */
  async writeInventory(inventory: NodeInventory): Promise<boolean> {
    const key = inventoryKey(this.name);
    try {
      const data = JSON.stringify(inventory);
      this.inventoryRevision = this.inventoryRevision === 0 ? await this.kv.create(key, data) : await this.kv.update(key, data, this.inventoryRevision);
      return true;
    } catch (e) {
      if (!isWrongSequence(e)) throw e;
    }
    const holder = await this.kv.get(nodeKey(this.name));
    const held = holder && holder.operation === 'PUT' ? parseNodeHeartbeat(holder.value) : null;
    if (held && (!held.ok || held.value.incarnation !== this.incarnation)) return false;
    const now = await this.kv.get(key);
    this.inventoryRevision = !now || now.operation !== 'PUT' ? await this.kv.create(key, JSON.stringify(inventory)) : await this.kv.update(key, JSON.stringify(inventory), now.revision);
    return true;
  }

  /** Removes both keys on a clean stop, so frontends see the node gone at once. */
  async release(): Promise<void> {
    await this.kv.delete(inventoryKey(this.name), { previousSeq: this.inventoryRevision }).catch(() => {});
    await this.kv.delete(nodeKey(this.name), { previousSeq: this.revision }).catch(() => {});
  }
}
