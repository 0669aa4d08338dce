/** The Nodes view's words and orderings (pure, tested). */
import type { ClusterNode, ClusterNodeState, ClusterSnapshot, ModelReplica } from '../../../../shared/cluster';
import { formatBytes } from '../../ui/format';

export const NODE_STATE_LABEL: Record<ClusterNodeState, string> = {
  live: 'Live',
  suspect: 'Suspect',
  dead: 'Dead',
  draining: 'Draining',
  incompatible: 'Incompatible',
};

/** "just now", "2 s ago", "3 min ago"; "no heartbeat yet" before the first. */
export function formatHeartbeat(ageMs: number | null): string {
  if (ageMs === null) return 'no heartbeat yet';
  const s = Math.floor(Math.max(0, ageMs) / 1000);
  if (s < 1) return 'just now';
  if (s < 60) return `${s} s ago`;
  if (s < 3600) return `${Math.floor(s / 60)} min ago`;
  return `${Math.floor(s / 3600)} h ago`;
}

/**
 * The heartbeat age now: the age the snapshot carried plus the time since the page received it,
 * so the figure keeps counting between cluster events (a dead node's age grows).
 */
export function heartbeatAgeNow(ageMs: number | null, receivedAt: number, now: number): number | null {
  return ageMs === null ? null : ageMs + Math.max(0, now - receivedAt);
}

/** This machine's node first, then by name: cards stay where they are when a state changes. */
export function orderNodes(nodes: readonly ClusterNode[]): ClusterNode[] {
  return [...nodes].sort((a, b) => Number(b.local) - Number(a.local) || a.name.localeCompare(b.name));
}

const REPLICA_RANK: Record<ModelReplica['state'], number> = { busy: 0, ready: 0, starting: 1, loading: 1, stopping: 2, failed: 3, unloaded: 4 };

/** A model's replicas for its row: serving ones first, then loading, stopping, failed; by node within. */
export function orderReplicas<T extends Pick<ModelReplica, 'node' | 'state'>>(replicas: readonly T[]): T[] {
  return [...replicas].sort((a, b) => REPLICA_RANK[a.state] - REPLICA_RANK[b.state] || a.node.localeCompare(b.node));
}

export interface MemorySplit {
  models: number;
  other: number;
  free: number;
  total: number;
  /** The node's budget for models (0: none). */
  budget: number;
}

/** The node's memory as the bar shows it: its models, everything else on the machine, free. */
export function memorySplit(m: ClusterNode['memory']): MemorySplit {
  const total = Math.max(0, m.total);
  const free = Math.min(Math.max(0, m.available), total);
  const models = Math.min(Math.max(0, m.models), total - free);
  return { models, other: total - free - models, free, total, budget: Math.max(0, m.budget) };
}

export function memoryWords(s: MemorySplit): string {
  const budget = s.budget > 0 ? `; budget ${formatBytes(s.budget)} for models` : '; no budget set';
  return `models ${formatBytes(s.models)}, other programs ${formatBytes(s.other)}, free ${formatBytes(s.free)} of ${formatBytes(s.total)}${budget}`;
}

/** The banner's sentence about the message bus, with what to do when it is not connected. */
export function natsLine(c: Pick<ClusterSnapshot, 'nats' | 'natsError'>): { tone: 'ok' | 'warn' | 'error'; text: string } {
  if (c.natsError) return { tone: 'error', text: `NATS: ${c.natsError}` };
  if (c.nats === 'connected') return { tone: 'ok', text: 'NATS connected' };
  if (c.nats === 'reconnecting') return { tone: 'warn', text: 'NATS reconnecting: nodes keep serving the models they hold; placement waits until it is back.' };
  return { tone: 'error', text: 'NATS disconnected: check that nats-server runs (with JetStream on) at the Cluster NATS URL in Settings.' };
}

export function leaderLine(c: Pick<ClusterSnapshot, 'leader' | 'frontend'>): string {
  if (!c.leader) return 'No leader: no frontend holds the reconcile lease right now, so replicas are not rebalanced.';
  return c.leader === c.frontend ? `Leader: ${c.leader} (this frontend)` : `Leader: ${c.leader}`;
}

/** "w1 · w2" for an LRU or replica count line; the cap keeps a row's work bounded. */
export function replicaOverflow<T>(items: readonly T[], max: number): { shown: T[]; more: number } {
  return { shown: items.slice(0, max), more: Math.max(0, items.length - max) };
}
