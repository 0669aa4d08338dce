/**
 * Replicas and the leader, pure (distributed-spec section 2, "Replicas"): which frontend
 * reconciles (D24), and what it does each round (D22, D23, D25, D28): scale up to `min_replicas`
 * or, when every replica has been saturated for 5 s, towards `max_replicas`; scale down replicas
 * idle for 300 s while above min; trim extras above max (after a heal) least recently used first;
 * let a draining node's replicas go once idle and replaced; back off an unplaceable replica. The
 * leader's loop (every 1 s and on events) calls this and acts: time comes in as numbers.
 */
import type { ModelState } from '../../../shared/model';
import { isOccupying } from '../../../shared/model';
import type { NodeSelector, NodeView, ReplicaView } from './view';
import { staleMs, type Outage } from './view';

export const SCALE_UP_SATURATED_MS = 5_000;
export const SCALE_DOWN_IDLE_MS = 300_000;
export const BACKOFF_FIRST_MS = 10_000;
export const BACKOFF_MAX_MS = 300_000;
export const LEADER_LEASE_MS = 15_000;
export const LEADER_REFRESH_MS = 5_000;

/** A model's `cluster:` block (YAML), with its pin. Models without one are not reconciled. */
export interface ReplicaSpec {
  name: string;
  min_replicas: number;
  /** 0 = unset: as many as min, and at least one. */
  max_replicas: number;
  pinned: boolean;
  selector: NodeSelector;
}

export interface Backoff {
  failures: number;
  retryAt: number;
  reason: string;
}

/** What the leader carries from one round to the next. */
export interface ReconcileState {
  /** Per model: since when (this frontend's clock) all its replicas have been saturated. */
  saturatedSince: Readonly<Record<string, number>>;
  /** Per model: an unplaceable replica's backoff. */
  backoff: Readonly<Record<string, Backoff>>;
}

export const EMPTY_RECONCILE_STATE: ReconcileState = { saturatedSince: {}, backoff: {} };

export interface ScaleUp {
  model: string;
  reason: 'min' | 'saturated';
  /** Replicas counted now (a new one goes on a node without one: placement's one-per-node rule). */
  replicas: number;
}

export interface ReplicaUnload {
  node: string;
  model: string;
  reason: 'scale_down' | 'drain';
  sentence: string;
}

export interface ReconcileResult {
  state: ReconcileState;
  scaleUp: ScaleUp[];
  unload: ReplicaUnload[];
  /** Models that need a replica and are backing off: when they are tried again, and why. */
  blocked: { model: string; retryAt: number; reason: string }[];
}

/** D25: pinned means at least one replica. */
export function effectiveMin(spec: ReplicaSpec): number {
  return spec.pinned ? Math.max(1, spec.min_replicas) : spec.min_replicas;
}

export function effectiveMax(spec: ReplicaSpec): number {
  return Math.max(spec.max_replicas > 0 ? spec.max_replicas : 1, effectiveMin(spec));
}

const counts = (s: ModelState) => isOccupying(s) && s !== 'stopping';
const isResidentState = (s: ModelState) => s === 'ready' || s === 'busy';
const isIdle = (r: ReplicaView) => r.state === 'ready' && r.inFlight === 0 && r.queued === 0;
const isSaturated = (r: ReplicaView) => isResidentState(r.state) && (r.queued > 0 || r.inFlight >= (r.slots ?? 1));

interface Placed {
  node: NodeView;
  replica: ReplicaView;
}

/** A model's replicas that count: on nodes that are live (or only suspect), and on draining ones. */
function replicasOf(nodes: readonly NodeView[], model: string): { active: Placed[]; draining: Placed[] } {
  const active: Placed[] = [];
  const draining: Placed[] = [];
  for (const node of nodes) {
    if (node.state !== 'live' && node.state !== 'suspect' && node.state !== 'draining') continue;
    const replica = node.models.find((m) => m.name === model && counts(m.state));
    if (!replica) continue;
    (node.state === 'draining' ? draining : active).push({ node, replica });
  }
  return { active, draining };
}

const byLeastRecentlyUsed = (a: Placed, b: Placed) => a.replica.lastUsed - b.replica.lastUsed || a.node.name.localeCompare(b.node.name);

export function reconcileReplicas(input: { specs: readonly ReplicaSpec[]; nodes: readonly NodeView[]; now: number; state: ReconcileState }): ReconcileResult {
  const { nodes, now } = input;
  const saturatedSince: Record<string, number> = {};
  const scaleUp: ScaleUp[] = [];
  const unload: ReplicaUnload[] = [];
  const blocked: ReconcileResult['blocked'] = [];
  const specs = new Map(input.specs.map((s) => [s.name, s]));
  const activeCount = new Map<string, number>();

  for (const spec of input.specs) {
    const min = effectiveMin(spec);
    const max = effectiveMax(spec);
    const { active } = replicasOf(nodes, spec.name);
    activeCount.set(spec.name, active.length);
    const backoff = input.state.backoff[spec.name];
    const up = (reason: ScaleUp['reason']) => {
      if (backoff && now < backoff.retryAt) blocked.push({ model: spec.name, retryAt: backoff.retryAt, reason: backoff.reason });
      else scaleUp.push({ model: spec.name, reason, replicas: active.length });
    };

    if (active.length < min) {
      up('min');
      continue;
    }
    // D22: saturated for 5 s (a replica still loading is not saturated, so one scale-up at a time).
    if (active.length > 0 && active.length < max && active.every((p) => isSaturated(p.replica))) {
      const since = input.state.saturatedSince[spec.name] ?? now;
      if (now - since >= SCALE_UP_SATURATED_MS) {
        up('saturated');
        saturatedSince[spec.name] = now;
      } else {
        saturatedSince[spec.name] = since;
      }
    }
    if (active.length > max) {
      // D23: after a heal, the extras go, least recently used first.
      const resident = active.filter((p) => isResidentState(p.replica.state)).sort(byLeastRecentlyUsed);
      for (const p of resident.slice(0, active.length - max)) {
        unload.push({ node: p.node.name, model: spec.name, reason: 'scale_down', sentence: `unloaded ${spec.name} on ${p.node.name}: ${active.length} replicas, above max_replicas ${max}; the least recently used goes` });
      }
    } else if (active.length > min) {
      const idle = active.filter((p) => isIdle(p.replica) && now - p.replica.lastUsed >= SCALE_DOWN_IDLE_MS).sort(byLeastRecentlyUsed);
      for (const p of idle.slice(0, active.length - min)) {
        unload.push({ node: p.node.name, model: spec.name, reason: 'scale_down', sentence: `unloaded ${spec.name} on ${p.node.name}: idle for ${Math.round(SCALE_DOWN_IDLE_MS / 1000)} s, above min_replicas ${min}` });
      }
    }
  }

  // D28: a draining node's replicas leave once idle and, where a minimum needs them, replaced.
  for (const node of nodes) {
    if (node.state !== 'draining') continue;
    for (const r of node.models) {
      if (!counts(r.state) || !isIdle(r)) continue;
      const spec = specs.get(r.name);
      const needed = spec ? effectiveMin(spec) : 0;
      const elsewhere = activeCount.get(r.name) ?? replicasOf(nodes, r.name).active.length;
      if (elsewhere < needed) continue;
      unload.push({ node: node.name, model: r.name, reason: 'drain', sentence: `unloaded ${r.name} on ${node.name}: the node is draining` });
    }
  }

  const backoff = Object.fromEntries(Object.entries(input.state.backoff).filter(([model]) => specs.has(model)));
  return { state: { saturatedSince, backoff }, scaleUp, unload, blocked };
}

/** An unplaceable replica backs off 10 s, doubling up to 5 min, and says why. */
export function recordUnplaceable(state: ReconcileState, model: string, now: number, reason: string): ReconcileState {
  const failures = (state.backoff[model]?.failures ?? 0) + 1;
  const delay = Math.min(BACKOFF_MAX_MS, BACKOFF_FIRST_MS * 2 ** (failures - 1));
  return { ...state, backoff: { ...state.backoff, [model]: { failures, retryAt: now + delay, reason } } };
}

export function recordPlaced(state: ReconcileState, model: string): ReconcileState {
  if (!state.backoff[model]) return state;
  const backoff = { ...state.backoff };
  delete backoff[model];
  return { ...state, backoff };
}

/**
 * The models that count as pinned on each node for placement (`protect`, D25): replicas of
 * pinned models, and every replica of a model that has no more than its minimum.
 */
export function protectedReplicas(specs: readonly ReplicaSpec[], nodes: readonly NodeView[]): Record<string, string[]> {
  const out: Record<string, string[]> = {};
  const add = (node: string, model: string) => {
    const list = (out[node] ??= []);
    if (!list.includes(model)) list.push(model);
  };
  const specByName = new Map(specs.map((s) => [s.name, s]));
  for (const node of nodes) {
    for (const r of node.models) if (counts(r.state) && (r.pinned || specByName.get(r.name)?.pinned)) add(node.name, r.name);
  }
  for (const spec of specs) {
    const { active } = replicasOf(nodes, spec.name);
    if (active.length <= effectiveMin(spec)) for (const p of active) add(p.node.name, spec.name);
  }
  return out;
}

// ------------------------------------------------------------------------------------- leader

export interface LeaseObservation {
  holder: string;
  revision: number;
  /** When this revision arrived here (this frontend's clock). */
  seenAt: number;
}

export type LeaderDecision =
  /** No lease: `create` it. */
  | { kind: 'acquire' }
  /** This frontend leads until `renewAt`. */
  | { kind: 'lead'; renewAt: number }
  /** This frontend holds the lease and must `update(revision)` it; it leads meanwhile only if `leading`. */
  | { kind: 'renew'; revision: number; leading: boolean }
  /** Another frontend leads; it is presumed dead at `takeOverAt` unless its lease moves. */
  | { kind: 'follow'; holder: string; takeOverAt: number }
  /** The holder is dead: `update(revision)` to take the lease. */
  | { kind: 'take_over'; revision: number }
  /** NATS is unreachable: nobody can be sure of the lease, so nobody reconciles. */
  | { kind: 'offline' };

/**
 * D24: one leader at a time. A lease not renewed for 15 s (on this frontend's clock, NATS
 * outages and a refresh's grace not counted) moves to whoever updates it first. Its own lease is
 * judged without that pause: a leader that was cut off stops leading until its renewal succeeds.
 */
export function decideLeader(input: { self: string; lease: LeaseObservation | null; connected: boolean; now: number; outages?: readonly Outage[] }): LeaderDecision {
  const { lease, now } = input;
  if (!input.connected) return { kind: 'offline' };
  if (!lease) return { kind: 'acquire' };
  if (lease.holder === input.self) {
    const age = now - lease.seenAt;
    if (age >= LEADER_LEASE_MS) return { kind: 'renew', revision: lease.revision, leading: false };
    if (age >= LEADER_REFRESH_MS) return { kind: 'renew', revision: lease.revision, leading: true };
    return { kind: 'lead', renewAt: lease.seenAt + LEADER_REFRESH_MS };
  }
  const stale = staleMs(lease.seenAt, now, input.outages ?? [], LEADER_REFRESH_MS);
  if (stale >= LEADER_LEASE_MS) return { kind: 'take_over', revision: lease.revision };
  return { kind: 'follow', holder: lease.holder, takeOverAt: now + (LEADER_LEASE_MS - stale) };
}
