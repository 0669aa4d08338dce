/**
 * The LRU in a cluster (distributed-spec 4): every resident replica on every node, least recently
 * used first, each with a badge naming its node. The one at the top is what the cluster unloads
 * first when a node needs room.
 */
import { useMemo } from 'react';
import type { ClusterReplica, ClusterSnapshot } from '../../../../shared/cluster';
import { routeHref } from '../../router';
import { useStore } from '../../store/store';
import { EmptyState } from '../../ui/EmptyState';
import { formatAgo } from '../../ui/format';
import { stateLabel } from '../../ui/StateBadge';
import { useNow } from '../../ui/useNow';
import { NODE_STATE_LABEL } from '../nodes/words';

/** The cluster's LRU entries with the replica and node each names (a replica the nodes no longer list: null). */
export function clusterLruItems(c: ClusterSnapshot): { model: string; node: string; replica: ClusterReplica | null; nodeState: ClusterSnapshot['nodes'][number]['state'] | null }[] {
  const nodes = new Map(c.nodes.map((n) => [n.name, n]));
  return c.lru.map(({ model, node }) => {
    const n = nodes.get(node);
    return { model, node, replica: n?.replicas.find((r) => r.model === model) ?? null, nodeState: n?.state ?? null };
  });
}

export function ClusterLru() {
  const cluster = useStore((s) => s.cluster);
  const items = useMemo(() => (cluster ? clusterLruItems(cluster) : []), [cluster]);
  const now = useNow();
  const nodeCount = new Set(items.map((i) => i.node)).size;
  return (
    <section className="view" aria-labelledby="lru-title">
      <header className="view-head">
        <h1 id="lru-title">Loaded in the cluster, least recently used first</h1>
        <p className="slots" data-testid="slots">
          <strong>
            {items.length} {items.length === 1 ? 'replica' : 'replicas'}
          </strong>{' '}
          on {nodeCount} {nodeCount === 1 ? 'node' : 'nodes'} · memory per node in <a href={routeHref('nodes')}>Nodes</a>
        </p>
      </header>
      {items.length === 0 ? (
        <EmptyState title="Nothing is loaded in the cluster">
          <p>
            Load a model from <a href={routeHref('models')}>Models</a>; the cluster places it on a node with room. Loaded replicas appear here in the order they would be unloaded
            to make room: the least recently used first.
          </p>
        </EmptyState>
      ) : (
        <>
          <ol className="lru-list" data-testid="lru-list">
            {items.map((it, i) => (
              <li key={`${it.node}/${it.model}`} className="lru-item" data-model={it.model} data-node={it.node}>
                <span className="lru-pos" aria-label={`position ${i + 1}`}>
                  {i + 1}
                </span>
                <div className="lru-main">
                  <div className="name-line">
                    <a className="model-name" href={routeHref('models', it.model)}>
                      {it.model}
                    </a>
                    <span className="badge pin node-badge" data-testid="node" title={`On node ${it.node}${it.nodeState && it.nodeState !== 'live' ? ` (${NODE_STATE_LABEL[it.nodeState].toLowerCase()})` : ''}`}>
                      {it.node}
                    </span>
                    {it.nodeState && it.nodeState !== 'live' && <span className={`badge node-state-${it.nodeState}`}>{NODE_STATE_LABEL[it.nodeState]}</span>}
                  </div>
                  <div className="muted">
                    used {formatAgo(it.replica?.lastUsed ?? null, now)}
                    {it.replica && it.replica.inFlight > 0 ? ` · ${it.replica.inFlight} in flight` : ''}
                  </div>
                </div>
                {it.replica && <span className={`badge state-${it.replica.state}`}>{stateLabel(it.replica.state)}</span>}
              </li>
            ))}
          </ol>
          <p className="muted">When a node needs room, the cluster unloads the replica least recently used anywhere first. Using a model moves its replica to the end.</p>
        </>
      )}
    </section>
  );
}
