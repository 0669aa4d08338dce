/**
 * A model's replicas as node badges coloured by the replica's state (the row in the models list,
 * the details). Works from the row's own `replicas` only: no look-up in the cluster per row.
 */
import type { ModelReplica } from '../../../../shared/cluster';
import { stateLabel } from '../../ui/StateBadge';
import { orderReplicas, replicaOverflow } from './words';

/** At most this many badges fit a row's state cell; the rest are counted. */
const ROW_BADGES = 3;

export function replicaTitle(r: ModelReplica): string {
  return `${r.node}: ${stateLabel(r.state).toLowerCase()}${r.inFlight > 0 ? `, ${r.inFlight} in flight` : ''}`;
}

export function ReplicaBadges({ replicas, max = ROW_BADGES }: { replicas: readonly ModelReplica[]; max?: number }) {
  const { shown, more } = replicaOverflow(orderReplicas(replicas), max);
  const all = orderReplicas(replicas).map(replicaTitle).join('\n');
  return (
    <span className="replica-badges" data-testid="replicas" aria-label={`Replicas: ${orderReplicas(replicas).map(replicaTitle).join('; ')}`}>
      {shown.map((r) => (
        <span key={r.node} className={`badge state-${r.state}`} data-node={r.node} data-state={r.state} title={replicaTitle(r)}>
          {r.node}
          {r.inFlight > 0 ? ` (${r.inFlight})` : ''}
        </span>
      ))}
      {more > 0 && (
        <span className="badge subtle" title={all}>
          +{more}
        </span>
      )}
    </span>
  );
}
