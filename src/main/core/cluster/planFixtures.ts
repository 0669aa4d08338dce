/** Snapshot builders for the planner's table tests and `npm run bench:cluster`. */
import type { NodeView, ReplicaView } from './view';

export const GiB = 1024 ** 3;
export const PROTOCOL = 1;

export function replica(name: string, o: Partial<ReplicaView> = {}): ReplicaView {
  return { name, state: 'ready', groups: [], pinned: false, inFlight: 0, queued: 0, lastUsed: 1_000, sizeBytes: GiB, needBytes: GiB, ...o };
}

export function node(name: string, o: Partial<Omit<NodeView, 'limits'>> & { limits?: Partial<NodeView['limits']> } = {}): NodeView {
  const { limits, ...rest } = o;
  return {
    name,
    state: 'live',
    labels: {},
    protocol: PROTOCOL,
    memory: { total: 64 * GiB, available: 32 * GiB, budget: 0 },
    gpus: [],
    files: [],
    models: [],
    ...rest,
    limits: { max_active_models: 0, memory_budget: 0, vram_budget: 0, ...limits },
  };
}
