/**
 * A frontend's read side of the cluster (distributed-spec.md sections 1 and 4): the nodes from
 * `loadout_nodes`, each with its heartbeat age on this machine's own clock (expiry sends no
 * event and clocks differ, clarifications 7), judged by the planner's `judgeNode` (D3, D5):
 * dead after 3 of its own heartbeats without a write, not counting NATS outages and their grace.
 */
import type { ClusterNode, ClusterSnapshot } from '../../../shared/cluster';
import type { Clock } from '../clock';
import { PROTOCOL_VERSION, type NodeRecord } from './protocol';
import { Registry, redactUrl } from './registry';
import { DEAD_AFTER_HEARTBEATS, RECONNECT_GRACE_HEARTBEATS, judgeNode, pruneOutages, staleMs, type Outage } from './view';

interface Seen {
  record: NodeRecord | null;
  name: string;
  protocol: number;
  problem: string | null;
  /** This frontend's time when the node's latest write arrived. */
  at: number;
}

export class NodeView {
  private readonly seen = new Map<string, Seen>();
  private outages: Outage[] = [];
  private readonly stops: (() => void)[] = [];

  constructor(
    private readonly registry: Registry,
    private readonly clock: Clock,
    private readonly changed: () => void = () => {},
  ) {
    this.stops.push(
      registry.watchNodes((key, record, raw) => {
        this.changed();
        const at = this.clock.now();
        if (record) this.seen.set(key, { record, name: record.name, protocol: record.protocol, problem: null, at });
        else if (raw.incompatible) {
          const protocol = typeof raw.incompatible.protocol === 'number' ? raw.incompatible.protocol : -1;
          this.seen.set(key, { record: null, name: raw.incompatible.name, protocol, problem: raw.error ?? 'incompatible', at });
        } else if (!raw.error) this.seen.delete(key);
      }),
      registry.onDisconnect(() => {
        this.outages.push({ from: this.clock.now(), to: null });
        this.changed();
      }),
      registry.onReconnect(() => {
        for (const o of this.outages) if (o.to === null) o.to = this.clock.now();
        this.changed();
      }),
    );
  }

  list(): ClusterNode[] {
    const now = this.clock.now();
    const longestBeat = Math.max(2000, ...[...this.seen.values()].map((s) => s.record?.heartbeatMs ?? 0));
    this.outages = pruneOutages(this.outages, now, (DEAD_AFTER_HEARTBEATS + RECONNECT_GRACE_HEARTBEATS) * longestBeat);
    return [...this.seen.values()]
      .map((s): ClusterNode => {
        const r = s.record;
        const heartbeatMs = r?.heartbeatMs ?? 2000;
        const state = judgeNode({ protocol: s.protocol, heartbeatMs, draining: r?.draining ?? false, seenAt: s.at, connectionErrorAt: null, noRespondersAt: null }, now, PROTOCOL_VERSION, this.outages);
        const stale = staleMs(s.at, now, this.outages, RECONNECT_GRACE_HEARTBEATS * heartbeatMs);
        const reason = state === 'incompatible' ? s.problem : state === 'dead' ? `no heartbeat for ${(stale / 1000).toFixed(1)} s` : null;
        return {
          name: s.name,
          state,
          reason,
          heartbeatAgeMs: now - s.at,
          version: r?.version ?? '',
          protocol: s.protocol,
          labels: r?.labels ?? {},
          memory: r?.memory ?? { total: 0, available: 0, budget: 0, models: 0 },
          gpus: r?.gpus ?? [],
          inFlight: r?.stats.inFlight ?? 0,
          local: false,
          replicas: (r?.models ?? []).map((m) => ({ model: m.name, state: m.state, inFlight: m.inFlight, queued: m.queued, lastUsed: m.lastUsed })),
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  dispose(): void {
    for (const s of this.stops) s();
  }
}

/**
 * The frontend's membership: joins when `cluster_nats_url` is set, leaves and joins again when
 * it changes; a join that fails is reported (D6), never fatal: local use goes on.
 */
export class ClusterMembership {
  private url = '';
  private registry: Registry | null = null;
  private view: NodeView | null = null;
  private error: string | null = null;
  private generation = 0;

  constructor(
    private readonly o: {
      clock: Clock;
      nodeName: () => string;
      log: (line: string) => void;
      /** The view changed (a record, NATS state, a node's judged state): at most 4 calls a second. */
      onChange?: (snapshot: ClusterSnapshot | null) => void;
    },
  ) {}

  private emitTimer: unknown = null;
  private ticker: unknown = null;
  private lastStates = '';

  /** Coalesces changes into one event per 250 ms. */
  private changed = (): void => {
    if (this.emitTimer !== null || !this.o.onChange) return;
    this.emitTimer = this.o.clock.setTimeout(() => {
      this.emitTimer = null;
      this.o.onChange?.(this.snapshot());
    }, 250);
  };

  /** Nodes die without a write: a once-a-second check emits when a judged state changes. */
  private tick = (): void => {
    this.ticker = this.o.clock.setTimeout(this.tick, 1000);
    const states = (this.view?.list() ?? []).map((n) => `${n.name}:${n.state}`).join(',');
    if (states !== this.lastStates) {
      this.lastStates = states;
      this.changed();
    }
  };

  /** Follows the setting; resolves once the join (or leave) it asked for is done. */
  async follow(url: string): Promise<void> {
    if (url === this.url) return;
    this.url = url;
    const generation = ++this.generation;
    await this.leave();
    this.error = null;
    if (!url) return this.changed();
    try {
      const registry = await Registry.connect({ url, clientName: `loadout-frontend ${this.o.nodeName()}`, log: this.o.log });
      if (generation !== this.generation) return void (await registry.close());
      this.registry = registry;
      this.view = new NodeView(registry, this.o.clock, this.changed);
      this.ticker ??= this.o.clock.setTimeout(this.tick, 1000);
    } catch (e) {
      if (generation !== this.generation) return;
      this.error = (e as Error).message;
      this.o.log(`cluster: ${this.error}`);
      this.changed();
    }
  }

  /** What the GUI and `GET /api/cluster` show; null while cluster_nats_url is empty. */
  snapshot(): ClusterSnapshot | null {
    if (!this.url) return null;
    const nodes = this.view?.list() ?? [];
    const lru = nodes
      .filter((n) => n.state !== 'dead' && n.state !== 'incompatible')
      .flatMap((n) => n.replicas.filter((r) => r.state === 'ready' || r.state === 'busy').map((r) => ({ model: r.model, node: n.name, at: r.lastUsed ? Date.parse(r.lastUsed) : 0 })))
      .sort((a, b) => a.at - b.at || a.node.localeCompare(b.node) || a.model.localeCompare(b.model))
      .map(({ model, node }) => ({ model, node }));
    return {
      frontend: this.o.nodeName(),
      nats: this.registry ? (this.registry.connected ? 'connected' : 'reconnecting') : 'disconnected',
      natsError: this.error,
      leader: null,
      nodes,
      lru,
    };
  }

  /** The NATS address without its credentials, or null. */
  get shownUrl(): string | null {
    return this.url ? redactUrl(this.url) : null;
  }

  private async leave(): Promise<void> {
    this.view?.dispose();
    this.view = null;
    const r = this.registry;
    this.registry = null;
    await r?.close();
  }

  async dispose(): Promise<void> {
    this.generation++;
    for (const t of [this.emitTimer, this.ticker]) if (t !== null) this.o.clock.clearTimeout(t);
    this.emitTimer = this.ticker = null;
    this.o.onChange = undefined;
    await this.leave();
  }
}
