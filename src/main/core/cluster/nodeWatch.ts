/**
 * A frontend's view of the nodes (distributed-spec section 1, Liveness): the `loadout_nodes`
 * heartbeats and inventories as they arrive, each node's latest heartbeat merged with the
 * inventory of its incarnation, stamped with this frontend's own clock (expiry sends no event and
 * clocks differ), the nodes' `stats`, NATS outages (staleness pauses while NATS is down), and
 * the connection errors this frontend saw. `views()` turns it into the planner's NodeViews,
 * judged by view.ts.
 */
import type { Subscription } from '@nats-io/transport-node';
import type { Clock } from '../clock';
import { PROTOCOL_VERSION, mergeNodeRecord, tokenToName, type NodeHeartbeat, type NodeInventory, type NodeRecord } from './protocol';
import type { Registry } from './registry';
import { judgeNode, pruneOutages, type NodeObservation, type NodeView, type Outage, type ReplicaView } from './view';

export interface SeenNode {
  name: string;
  /** Null for an incompatible heartbeat (only its protocol is trusted, D5). */
  heartbeat: NodeHeartbeat | null;
  /**
   * The heartbeat with its incarnation's inventory; null for an incompatible node, or for the
   * moment between a new incarnation's first heartbeat and its first inventory.
   */
  record: NodeRecord | null;
  obs: NodeObservation;
  /** Replicas that failed a call since the node's last update: out of routing (D4, D11). */
  suspect: Set<string>;
  /** The latest `stats` per model, and when they arrived here. */
  stats: { at: number; m: Record<string, { inFlight: number; queued: number }> } | null;
}

const isoMs = (iso: string | null): number => (iso ? Date.parse(iso) || 0 : 0);

/** A record's catalog names, once per record: views are built on every request's pick (D7). */
const names = new WeakMap<NodeRecord, readonly string[]>();
function catalogNames(r: NodeRecord): readonly string[] {
  let n = names.get(r);
  if (!n) names.set(r, (n = (r.catalog ?? []).map((c) => c.name)));
  return n;
}

export class NodeWatch {
  readonly nodes = new Map<string, SeenNode>();
  /** The latest inventory per node name, kept apart: it may arrive before the node's heartbeat. */
  private readonly inventories = new Map<string, NodeInventory>();
  private outages: Outage[] = [];
  private stopWatch: (() => void) | null = null;
  private statsSub: Subscription | null = null;
  private tick: unknown = null;
  private judged = new Map<string, string>();

  constructor(
    private readonly o: {
      registry: Registry;
      clock: Clock;
      frontend: string;
      /** Called when a record arrives or a node's judged state changes. */
      onChange: (node: string, before: NodeRecord | null) => void;
      /** This frontend's exact in-flight count per model on a node (stats are counted with it). */
      own: (node: string, model: string) => number;
    },
  ) {}

  start(): void {
    this.stopWatch = this.o.registry.watchNodes((e) => {
      if (e.kind === 'gone' && e.half === 'heartbeat') {
        // A worker that stopped cleanly: gone at once.
        const gone = this.nodes.get(e.name);
        if (gone) {
          this.nodes.delete(e.name);
          this.o.onChange(gone.name, gone.record);
        }
        return;
      }
      if (e.kind === 'heartbeat' || (e.kind === 'invalid' && e.half === 'heartbeat' && 'incompatibleProtocol' in e)) {
        this.seen(e.name, e.kind === 'heartbeat' ? e.value : null, e.kind === 'invalid' ? e.incompatibleProtocol : undefined);
        return;
      }
      if (e.kind === 'inventory') this.inventories.set(e.name, e.value);
      else if (e.half === 'inventory') this.inventories.delete(e.name);
      else return; // a malformed heartbeat changes nothing
      const n = this.nodes.get(e.name);
      if (n?.heartbeat) this.seen(e.name, n.heartbeat, undefined);
    });
    this.statsSub = this.o.registry.nc.subscribe('loadout.node.*.stats', {
      callback: (err, msg) => {
        if (err) return;
        try {
          const name = tokenToName(msg.subject.split('.')[2]);
          const body = JSON.parse(new TextDecoder().decode(msg.data)) as { v: number; m: Record<string, { inFlight: number; queued: number }> };
          const seen = this.nodes.get(name);
          if (seen && body.v === 1 && body.m && typeof body.m === 'object') seen.stats = { at: this.o.clock.now(), m: body.m };
        } catch {
          // A malformed stats message is dropped; the next heartbeat carries the counts.
        }
      },
    });
    // Outages and deaths by silence send no message: look every 100 ms.
    const loop = () => {
      const now = this.o.clock.now();
      const last = this.outages[this.outages.length - 1];
      if (!this.o.registry.connected && (!last || last.to !== null)) this.outages.push({ from: now, to: null });
      if (this.o.registry.connected && last && last.to === null) last.to = now;
      this.outages = pruneOutages(this.outages, now, 60_000);
      for (const n of this.nodes.values()) {
        const state = this.stateOf(n, now);
        if (this.judged.get(n.name) !== state) {
          this.judged.set(n.name, state);
          this.o.onChange(n.name, n.record);
        }
      }
      this.tick = this.o.clock.setTimeout(loop, 100);
    };
    loop();
  }

  /**
   * A heartbeat (or an incompatible one, by its protocol) or an inventory arrived: the node's
   * record is merged again, and any new write of its incarnation counts as a sign of life.
   */
  private seen(name: string, heartbeat: NodeHeartbeat | null, incompatibleProtocol: unknown): void {
    const now = this.o.clock.now();
    const prev = this.nodes.get(name);
    const record = heartbeat ? mergeNodeRecord(heartbeat, this.inventories.get(name)) : null;
    const before = prev?.record ?? null;
    const fresh = !prev || !heartbeat || !prev.heartbeat || prev.heartbeat.incarnation !== heartbeat.incarnation || prev.heartbeat.seq !== heartbeat.seq || before?.inventorySeq !== record?.inventorySeq;
    const n: SeenNode = prev ?? { name, heartbeat: null, record: null, obs: { protocol: 0, heartbeatMs: 2000, draining: false, seenAt: now, connectionErrorAt: null, noRespondersAt: null }, suspect: new Set(), stats: null };
    n.heartbeat = heartbeat;
    n.record = record;
    n.obs = { ...n.obs, protocol: heartbeat ? heartbeat.protocol : Number(incompatibleProtocol) || -1, heartbeatMs: heartbeat?.heartbeatMs ?? n.obs.heartbeatMs, draining: heartbeat?.draining ?? false, seenAt: fresh ? now : n.obs.seenAt };
    // Suspect clears when a newer update shows the replica ready again.
    const errorAt = n.obs.connectionErrorAt;
    if (record && fresh && errorAt !== null && now > errorAt)
      for (const m of [...n.suspect]) if (record.models.some((r) => r.name === m && (r.state === 'ready' || r.state === 'busy'))) n.suspect.delete(m);
    this.nodes.set(name, n);
    this.o.onChange(name, before);
  }

  stateOf(n: SeenNode, now: number): NodeView['state'] {
    return judgeNode(n.obs, now, PROTOCOL_VERSION, this.outages);
  }

  /** Why a node is judged dead, in words for its row and errors. */
  deadReason(n: SeenNode, now: number): string {
    if (n.obs.noRespondersAt !== null && n.obs.noRespondersAt >= n.obs.seenAt) return 'nothing answered a request to it (no responders)';
    return `no heartbeat for ${((now - n.obs.seenAt) / 1000).toFixed(1)} s`;
  }

  record(name: string): NodeRecord | null {
    return this.nodes.get(name)?.record ?? null;
  }

  /** D4: a gateway connection error: the replica leaves routing at once, the node is suspect. */
  connectionError(node: string, model: string): void {
    const n = this.nodes.get(node);
    if (!n) return;
    n.suspect.add(model);
    n.obs = { ...n.obs, connectionErrorAt: this.o.clock.now() };
    this.o.onChange(node, n.record);
  }

  /** D4: "no responders" to a ping: dead at once. */
  noResponders(node: string): void {
    const n = this.nodes.get(node);
    if (!n) return;
    n.obs = { ...n.obs, noRespondersAt: this.o.clock.now() };
    this.o.onChange(node, n.record);
  }

  views(now: number): NodeView[] {
    const out: NodeView[] = [];
    for (const n of this.nodes.values()) out.push(this.viewOf(n, now));
    return out;
  }

  viewOf(n: SeenNode, now: number): NodeView {
    const r = n.record;
    const models: ReplicaView[] = (r?.models ?? []).map((m) => {
      const s = n.stats?.m[m.name];
      const own = this.o.own(n.name, m.name);
      return {
        name: m.name,
        state: m.state,
        groups: m.groups,
        pinned: m.pinned,
        inFlight: m.inFlight,
        queued: m.queued,
        lastUsed: isoMs(m.lastUsed),
        sizeBytes: m.memoryBytes ?? 0,
        needBytes: m.memoryBytes ?? 0,
        // The worker counts every frontend's calls together; ours are the part we know exactly.
        stats: s && n.stats ? { at: n.stats.at, total: s.inFlight + s.queued, byFrontend: { [this.o.frontend]: Math.min(own, s.inFlight + s.queued) } } : undefined,
        suspect: n.suspect.has(m.name),
      };
    });
    return {
      name: n.name,
      state: this.stateOf(n, now),
      labels: r?.labels ?? {},
      protocol: n.obs.protocol,
      memory: { total: n.heartbeat?.memory.total ?? 0, available: n.heartbeat?.memory.available ?? 0, budget: n.heartbeat?.memory.budget ?? 0 },
      limits: { max_active_models: r?.limits.max_active_models ?? 0, memory_budget: r?.limits.memory_budget ?? 0, vram_budget: r?.limits.vram_budget ?? 0 },
      gpus: n.heartbeat?.gpus ?? [],
      files: r?.files ?? [],
      models,
      // A node whose inventory has not arrived yet takes no placement: nothing is known of its catalog.
      ...(r ? (r.catalog ? { catalog: catalogNames(r) } : {}) : { catalog: [] }),
    };
  }

  stop(): void {
    this.stopWatch?.();
    this.statsSub?.unsubscribe();
    if (this.tick) this.o.clock.clearTimeout(this.tick);
  }
}
