/**
 * The cluster planner's input: one snapshot of the nodes as this frontend sees them, and the
 * judgement of each node's liveness (D3, D5) on the frontend's own clock. Pure: the registry
 * turns NATS records into these, and time comes in as numbers (epoch ms of this frontend's clock).
 */
import type { GpuDevice, GpuSetting, ModelState } from '../../../shared/model';

/** live: routable and placeable. suspect: a connection error since its last update. */
export type NodeState = 'live' | 'suspect' | 'dead' | 'draining' | 'incompatible';

/** One model on one node, as the node reports it (plus what this frontend knows). */
export interface ReplicaView {
  /** The model's name. */
  name: string;
  state: ModelState;
  groups: readonly string[];
  pinned: boolean;
  /** Requests running on the replica, all frontends together, as the node reported them. */
  inFlight: number;
  queued: number;
  /** Parallel slots (`parallel` option); a replica with all of them busy is saturated. Default 1. */
  slots?: number;
  /** Epoch ms of the last request; 0 when never used. */
  lastUsed: number;
  sizeBytes: number;
  /** Memory the replica holds or will hold (measured RSS, else the estimate). */
  needBytes: number;
  /** VRAM it holds (0 on the CPU). */
  vramBytes?: number;
  /**
   * The node's latest `stats` for this replica: requests in flight per frontend and their sum
   * (summed once on arrival, not on every pick), and when this frontend received it (its own
   * clock). Others' counts count only while fresh (D7).
   */
  stats?: { at: number; total: number; byFrontend: Readonly<Record<string, number>> };
  /** A connection error on this replica since the node's last update: out of routing at once. */
  suspect?: boolean;
}

export interface NodeFile {
  name: string;
  sizeBytes: number;
  /** Only where known (a sidecar, download_files, a cache): a file is hashed when it is needed. */
  sha256?: string | null;
}

export interface NodeLimits {
  /** 0 = no cap. */
  max_active_models: number;
  /** Bytes the node's models may hold; 0 = off. */
  memory_budget: number;
  /** VRAM the node's models may hold; 0 = total minus the reserve. */
  vram_budget: number;
  vram_reserve?: number;
  /** The node's `gpu` setting; default auto. */
  gpu?: GpuSetting;
}

export interface NodeView {
  name: string;
  state: NodeState;
  labels: Readonly<Record<string, string>>;
  protocol: number;
  /** Bytes: the machine's total and free memory, and the node's budget (0 = off). */
  memory: { total: number; available: number; budget: number };
  limits: NodeLimits;
  gpus: readonly GpuDevice[];
  files: readonly NodeFile[];
  models: readonly ReplicaView[];
  /** The models its catalog has (D34); absent when unknown (an older worker): not filtered on. */
  catalog?: readonly string[];
}

/** `node_selector`: every key must be among the node's labels with the same value (D12). */
export type NodeSelector = Readonly<Record<string, string>>;

export function matchesSelector(labels: Readonly<Record<string, string>>, selector: NodeSelector): boolean {
  for (const k in selector) if (labels[k] !== selector[k]) return false;
  return true;
}

export function selectorText(selector: NodeSelector): string {
  const parts = Object.entries(selector).map(([k, v]) => `${k}=${v}`);
  return parts.length ? parts.join(',') : '(none)';
}

// ------------------------------------------------------------------------------------ liveness

/** W, in heartbeats: a node with no update for this many of its heartbeats is dead (D3). */
export const DEAD_AFTER_HEARTBEATS = 3;
/** After NATS comes back, staleness stays paused this many heartbeats more, so nodes can report. */
export const RECONNECT_GRACE_HEARTBEATS = 2;

/** A time NATS was unreachable from this frontend (`to` null: still). */
export interface Outage {
  from: number;
  to: number | null;
}

/** What this frontend has seen of one node, each time on its own clock. */
export interface NodeObservation {
  protocol: number;
  /** The heartbeat period the node publishes (`--heartbeat`, default 2 s). */
  heartbeatMs: number;
  draining: boolean;
  /** When the node's latest update (a new seq or incarnation) arrived. */
  seenAt: number;
  /** The latest gateway connection error to it (UNAVAILABLE, ECONNREFUSED, ECONNRESET), or null. */
  connectionErrorAt: number | null;
  /** The latest ping answered "no responders", or null. */
  noRespondersAt: number | null;
}

/**
 * How long the node has gone without an update, not counting the times NATS itself was down
 * plus a grace of `graceMs` after each (no node could reach us then, so silence proves nothing).
 */
export function staleMs(seenAt: number, now: number, outages: readonly Outage[], graceMs: number): number {
  let paused = 0;
  for (const o of outages) {
    const from = Math.max(o.from, seenAt);
    const to = Math.min(o.to === null ? now : o.to + graceMs, now);
    if (to > from) paused += to - from;
  }
  return Math.max(0, now - seenAt - paused);
}

/** The outages still able to pause anyone's staleness clock (older ones are dropped). */
export function pruneOutages(outages: readonly Outage[], now: number, keepMs: number): Outage[] {
  return outages.filter((o) => o.to === null || o.to + keepMs > now);
}

/**
 * D3, D5, D28: the node's state on this frontend's clock. Another protocol is incompatible
 * whatever else; no update for W = 3 heartbeats (NATS outages and their grace not counted), or a
 * "no responders" since the last update, is dead; a connection error since the last update is
 * suspect; a live node that drains is draining.
 */
export function judgeNode(o: NodeObservation, now: number, protocol: number, outages: readonly Outage[] = []): NodeState {
  if (o.protocol !== protocol) return 'incompatible';
  const w = DEAD_AFTER_HEARTBEATS * o.heartbeatMs;
  if (staleMs(o.seenAt, now, outages, RECONNECT_GRACE_HEARTBEATS * o.heartbeatMs) >= w) return 'dead';
  if (o.noRespondersAt !== null && o.noRespondersAt >= o.seenAt) return 'dead';
  if (o.connectionErrorAt !== null && o.connectionErrorAt >= o.seenAt) return 'suspect';
  return o.draining ? 'draining' : 'live';
}

/** When the node will be judged dead if nothing arrives (for the caller's one timer). */
export function deadAt(o: NodeObservation, now: number, outages: readonly Outage[] = []): number {
  const w = DEAD_AFTER_HEARTBEATS * o.heartbeatMs;
  return now + Math.max(0, w - staleMs(o.seenAt, now, outages, RECONNECT_GRACE_HEARTBEATS * o.heartbeatMs));
}

/** The cluster-wide LRU (clarification 7's `clusterLru`): resident replicas, least recently used first. */
export function clusterLru(nodes: readonly NodeView[]): { node: string; model: string; lastUsed: number }[] {
  const out: { node: string; model: string; lastUsed: number }[] = [];
  for (const n of nodes) {
    if (n.state === 'dead' || n.state === 'incompatible') continue;
    for (const m of n.models) if (m.state === 'ready' || m.state === 'busy') out.push({ node: n.name, model: m.name, lastUsed: m.lastUsed });
  }
  return out.sort((a, b) => a.lastUsed - b.lastUsed || a.node.localeCompare(b.node) || a.model.localeCompare(b.model));
}
