/**
 * D7: the warm path (LocalAI's PickBestReplica, without its write per request). Pure and
 * allocation-free: it runs on every request.
 */
import type { NodeSelector, NodeView, ReplicaView } from './view';
import { matchesSelector } from './view';

/** Others' in-flight counts from a node's `stats` count only while this fresh. */
export const STATS_FRESH_MS = 100;

export interface PickInput {
  model: string;
  selector: NodeSelector;
  nodes: readonly NodeView[];
  /** This frontend's id: its entry in the nodes' stats is replaced by its exact count. */
  frontend: string;
  /** This frontend's exact in-flight count on the model, per node name. */
  own: ReadonlyMap<string, number>;
  now: number;
}

export interface ReplicaPick {
  node: NodeView;
  replica: ReplicaView;
  /** The in-flight count it was chosen on. */
  inFlight: number;
}

/** Requests on the replica: this frontend's exact count plus the others' fresh reported ones. */
export function replicaInFlight(replica: ReplicaView, node: string, input: { frontend: string; own: ReadonlyMap<string, number>; now: number }): number {
  let n = input.own.get(node) ?? 0;
  const stats = replica.stats;
  if (stats && input.now - stats.at <= STATS_FRESH_MS) n += stats.total - (stats.byFrontend[input.frontend] ?? 0);
  return n;
}

/**
 * The replica to send a request to: among resident replicas, not suspect, on live nodes that
 * match the selector, the fewest in flight, then the least recently used, then the node with the
 * most free memory, then the node's name. Null: none, so the cold path places one.
 */
export function pickReplica(input: PickInput): ReplicaPick | null {
  let best: ReplicaPick | null = null;
  for (const node of input.nodes) {
    if (node.state !== 'live' || !matchesSelector(node.labels, input.selector)) continue;
    let replica: ReplicaView | undefined;
    for (const m of node.models) {
      if (m.name === input.model) {
        replica = m;
        break;
      }
    }
    if (!replica || replica.suspect || (replica.state !== 'ready' && replica.state !== 'busy')) continue;
    const inFlight = replicaInFlight(replica, node.name, input);
    if (best === null || better(inFlight, replica, node, best)) best = { node, replica, inFlight };
  }
  return best;
}

function better(inFlight: number, replica: ReplicaView, node: NodeView, best: ReplicaPick): boolean {
  if (inFlight !== best.inFlight) return inFlight < best.inFlight;
  if (replica.lastUsed !== best.replica.lastUsed) return replica.lastUsed < best.replica.lastUsed;
  if (node.memory.available !== best.node.memory.available) return node.memory.available > best.node.memory.available;
  return node.name < best.node.name;
}
