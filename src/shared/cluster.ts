/**
 * What the GUI and `/api/cluster` see of a cluster (distributed-spec section 4). The frontend's
 * cluster router builds it from the node records; without `cluster_nats_url` there is none.
 */
import type { GpuDevice, ModelState } from './model';

/** live: routable and placeable; suspect: a connection error since its last heartbeat. */
export type ClusterNodeState = 'live' | 'suspect' | 'dead' | 'draining' | 'incompatible';

export interface ClusterReplica {
  model: string;
  state: ModelState;
  inFlight: number;
  queued: number;
  /** ISO time of its last request, or null. */
  lastUsed: string | null;
}

export interface ClusterNode {
  name: string;
  state: ClusterNodeState;
  /** Why it is not live (e.g. "no heartbeat for 6.2 s", "protocol 2, this app speaks 1"). */
  reason: string | null;
  /** Milliseconds since its last heartbeat reached this frontend; null before the first. */
  heartbeatAgeMs: number | null;
  version: string;
  protocol: number;
  labels: Record<string, string>;
  /** Bytes: the machine's total and free memory, the node's budget (0 = none) and what its models hold. */
  memory: { total: number; available: number; budget: number; models: number };
  gpus: GpuDevice[];
  inFlight: number;
  /** This machine's own node (the app running as a node too). */
  local: boolean;
  replicas: ClusterReplica[];
}

export interface ClusterSnapshot {
  /** This frontend's id and node name. */
  frontend: string;
  nats: 'connected' | 'reconnecting' | 'disconnected';
  /** The NATS address without credentials (clarifications 6). */
  natsUrl?: string;
  /** What to fix when the join failed (no JetStream, bad credentials), else null. */
  natsError: string | null;
  /** The frontend holding the reconcile lease, or null. */
  leader: string | null;
  nodes: ClusterNode[];
  /** Resident replicas cluster-wide, least recently used first. */
  lru: { model: string; node: string }[];
}

/** A model's replica as its row shows it. */
export interface ModelReplica {
  node: string;
  state: ModelState;
  inFlight: number;
  lastUsed: string | null;
}
