/**
 * A frontend's read side of the cluster (distributed-spec.md sections 1 and 4): the nodes from
 * `loadout_nodes`, each with its heartbeat age on this machine's own clock (expiry sends no
 * event and clocks differ, clarifications 7). A node is dead after 3 of its own heartbeats
 * without a write; while NATS is away the ages pause, with 2 heartbeats of grace after it
 * returns (spec section 2, NATS restart).
 */
import type { Clock } from '../clock';
import type { NodeModel, NodeRecord } from './protocol';
import { Registry, redactUrl } from './registry';

export type NodeState = 'live' | 'dead' | 'draining' | 'incompatible';

export interface NodeInfo {
  name: string;
  state: NodeState;
  heartbeatAgeMs: number;
  heartbeatMs: number;
  /** Why the node cannot be used (incompatible), else null. */
  problem: string | null;
  gateway: string | null;
  labels: Record<string, string>;
  version: string | null;
  memory: NodeRecord['memory'] | null;
  inFlight: number;
  models: NodeModel[];
}

interface Seen {
  record: NodeRecord | null;
  name: string;
  problem: string | null;
  /** Local time of the last write seen. */
  at: number;
}

const MISSED_BEATS = 3;
const GRACE_BEATS = 2;

export class NodeView {
  private readonly seen = new Map<string, Seen>();
  private pausedAt: number | null = null;
  private readonly stops: (() => void)[] = [];

  constructor(
    private readonly registry: Registry,
    private readonly clock: Clock,
  ) {
    this.stops.push(
      registry.watchNodes((key, record, raw) => {
        if (record) this.seen.set(key, { record, name: record.name, problem: null, at: this.clock.now() });
        else if (raw.incompatible) this.seen.set(key, { record: null, name: raw.incompatible.name, problem: raw.error ?? 'incompatible', at: this.clock.now() });
        else if (!raw.error) this.seen.delete(key);
      }),
      registry.onDisconnect(() => (this.pausedAt ??= this.clock.now())),
      registry.onReconnect(() => {
        if (this.pausedAt === null) return;
        const paused = this.clock.now() - this.pausedAt;
        this.pausedAt = null;
        for (const s of this.seen.values()) s.at += paused + GRACE_BEATS * (s.record?.heartbeatMs ?? 0);
      }),
    );
  }

  list(): NodeInfo[] {
    const now = this.pausedAt ?? this.clock.now();
    return [...this.seen.values()]
      .map((s): NodeInfo => {
        const r = s.record;
        const heartbeatMs = r?.heartbeatMs ?? 0;
        const age = Math.max(0, now - s.at);
        const state: NodeState = !r ? 'incompatible' : age > MISSED_BEATS * heartbeatMs ? 'dead' : r.draining ? 'draining' : 'live';
        return {
          name: s.name,
          state,
          heartbeatAgeMs: age,
          heartbeatMs,
          problem: s.problem,
          gateway: r?.gateway ?? null,
          labels: r?.labels ?? {},
          version: r?.version ?? null,
          memory: r?.memory ?? null,
          inFlight: r?.stats.inFlight ?? 0,
          models: r?.models ?? [],
        };
      })
      .sort((a, b) => a.name.localeCompare(b.name));
  }

  dispose(): void {
    for (const s of this.stops) s();
  }
}

export interface ClusterStatus {
  enabled: boolean;
  /** The NATS address without credentials. */
  nats: string | null;
  connected: boolean;
  error: string | null;
  nodes: NodeInfo[];
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
    private readonly o: { clock: Clock; nodeName: () => string; log: (line: string) => void },
  ) {}

  /** Follows the setting; resolves once the join (or leave) it asked for is done. */
  async follow(url: string): Promise<void> {
    if (url === this.url) return;
    this.url = url;
    const generation = ++this.generation;
    await this.leave();
    this.error = null;
    if (!url) return;
    try {
      const registry = await Registry.connect({ url, clientName: `loadout-frontend ${this.o.nodeName()}`, log: this.o.log });
      if (generation !== this.generation) return void (await registry.close());
      this.registry = registry;
      this.view = new NodeView(registry, this.o.clock);
    } catch (e) {
      if (generation !== this.generation) return;
      this.error = (e as Error).message;
      this.o.log(`cluster: ${this.error}`);
    }
  }

  status(): ClusterStatus {
    return {
      enabled: this.url !== '',
      nats: this.url ? redactUrl(this.url) : null,
      connected: this.registry?.connected ?? false,
      error: this.error,
      nodes: this.view?.list() ?? [],
    };
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
    await this.leave();
  }
}
