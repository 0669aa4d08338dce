/**
 * `/api/cluster` (distributed-spec section 4): the nodes and replicas this frontend sees, a
 * node's card, draining a node (D28) and unloading one replica. Outside a cluster the view is
 * 404 with what to set.
 */
import { LoadoutError } from '../../../../shared/errors';
import type { ClusterSnapshot } from '../../../../shared/cluster';
import type { ApiCall } from './call';
import { replyJson } from './call';

function view(call: ApiCall): ClusterSnapshot {
  const c = call.ctx.core.commands.cluster();
  if (!c) throw new LoadoutError('not_found', 'This app is not part of a cluster: set cluster_nats_url (Settings, or --cluster-nats-url) to join one.');
  return c;
}

/** The cluster view; outside a cluster, an empty one (D1). */
export function get(call: ApiCall): void {
  replyJson(call, call.ctx.core.commands.cluster() ?? { frontend: null, nats: 'disconnected', natsError: null, leader: null, nodes: [], lru: [] });
}

export function node(call: ApiCall, name: string): void {
  const n = view(call).nodes.find((x) => x.name === name);
  if (!n) throw new LoadoutError('not_found', `There is no node named "${name}"; GET /api/cluster lists them.`);
  replyJson(call, n);
}

export async function drain(call: ApiCall, name: string): Promise<void> {
  await call.ctx.core.commands.drainNode(name);
  replyJson(call, { node: name, draining: true });
}

/** DELETE /api/cluster/nodes/{node}/models/{model}: the route captures the node, the model is the rest. */
export async function unloadReplica(call: ApiCall, node: string): Promise<void> {
  const m = /^\/api\/cluster\/nodes\/[^/]+\/models\/(.+)$/.exec(call.url.pathname);
  const model = decodeURIComponent(m?.[1] ?? '');
  await call.ctx.core.commands.unloadReplica(node, model);
  replyJson(call, { node, model, unloaded: true });
}
