/**
 * Nodes (distributed-spec 4): the message bus and the leader in a banner, then a card per node with
 * its state, heartbeat age, memory, labels, GPUs and replicas; drain a node, unload a replica.
 * One clock for the whole view: the cards get `now` from it, none runs a timer of its own.
 */
import { memo, useMemo, useState } from 'react';
import type { ClusterNode, ClusterReplica } from '../../../../shared/cluster';
import { routeHref } from '../../router';
import { useStore } from '../../store/store';
import { Dialog } from '../../ui/Dialog';
import { EmptyState } from '../../ui/EmptyState';
import { formatAgo, formatBytes } from '../../ui/format';
import { stateLabel } from '../../ui/StateBadge';
import { useNow } from '../../ui/useNow';
import { GpuEntry } from '../gpu/GpuPanel';
import { drainNode, unloadReplica } from './actions';
import { NODE_STATE_LABEL, formatHeartbeat, heartbeatAgeNow, leaderLine, memorySplit, memoryWords, natsLine, orderNodes } from './words';

function percent(part: number, total: number): number {
  return total > 0 ? (part / total) * 100 : 0;
}

function MemoryBar({ memory }: { memory: ClusterNode['memory'] }) {
  const s = memorySplit(memory);
  const words = memoryWords(s);
  const parts = [
    { key: 'loadout', label: 'models', bytes: s.models },
    { key: 'other', label: 'other', bytes: s.other },
    { key: 'free', label: 'free', bytes: s.free },
  ];
  return (
    <div className="node-memory">
      <div className="vram-bar node-bar" role="img" aria-label={`Memory: ${words}`} title={words} data-testid="memory-bar">
        {parts.map((p) => (
          <span key={p.key} className={`vram-${p.key}`} style={{ width: `${percent(p.bytes, s.total)}%` }} />
        ))}
        {s.budget > 0 && s.budget < s.total && <i className="budget-mark" style={{ left: `${percent(s.budget, s.total)}%` }} />}
      </div>
      <div className="vram-legend" aria-hidden="true">
        {parts.map((p) => (
          <span key={p.key}>
            <i className={`swatch vram-${p.key}`} />
            {p.label} <strong>{formatBytes(p.bytes)}</strong>
          </span>
        ))}
        <span>of {formatBytes(s.total)}</span>
        <span>
          {s.budget > 0 ? (
            <>
              <i className="swatch budget-swatch" />
              budget <strong>{formatBytes(s.budget)}</strong>
            </>
          ) : (
            'no budget'
          )}
        </span>
      </div>
    </div>
  );
}

function ReplicaRow({ node, replica, now }: { node: string; replica: ClusterReplica; now: number }) {
  const [busy, setBusy] = useState(false);
  const gone = replica.state === 'unloaded' || replica.state === 'stopping';
  return (
    <tr data-model={replica.model} data-state={replica.state}>
      <td>
        <a className="model-name" href={routeHref('models', replica.model)}>
          {replica.model}
        </a>
      </td>
      <td>
        <span className={`badge state-${replica.state}`}>{stateLabel(replica.state)}</span>
      </td>
      <td className="num" title="Requests running / waiting">
        {replica.inFlight}
        {replica.queued > 0 ? <span className="muted"> +{replica.queued} waiting</span> : null}
      </td>
      <td className="muted nowrap" title={replica.lastUsed ?? undefined}>
        {formatAgo(replica.lastUsed, now)}
      </td>
      <td className="num">
        {!gone && (
          <button
            type="button"
            className="small"
            aria-disabled={busy || undefined}
            onClick={() => {
              if (busy) return;
              setBusy(true);
              void unloadReplica(node, replica.model).finally(() => setBusy(false));
            }}
            title={`Unload ${replica.model} on ${node} only; its other replicas keep serving`}
          >
            {busy ? 'Unloading…' : 'Unload'}
          </button>
        )}
      </td>
    </tr>
  );
}

const NodeCard = memo(function NodeCard({ node, receivedAt, now, onDrain }: { node: ClusterNode; receivedAt: number; now: number; onDrain: (name: string) => void }) {
  const age = heartbeatAgeNow(node.heartbeatAgeMs, receivedAt, now);
  const labels = Object.entries(node.labels).sort(([a], [b]) => a.localeCompare(b));
  const replicas = [...node.replicas].sort((a, b) => a.model.localeCompare(b.model));
  const canDrain = node.state === 'live' || node.state === 'suspect';
  return (
    <article className={`node-card node-${node.state}`} data-node={node.name} data-state={node.state} aria-labelledby={`node-${node.name}`}>
      <header className="node-head">
        <h2 id={`node-${node.name}`}>{node.name}</h2>
        {node.local && <span className="badge subtle" title="The node on this machine">this machine</span>}
        <span className={`badge node-state-${node.state}`} data-testid="node-state">
          {NODE_STATE_LABEL[node.state]}
        </span>
        <span className="muted heartbeat" data-testid="heartbeat" title="Time since its last heartbeat reached this frontend">
          {age === null ? 'no heartbeat yet' : `heartbeat ${formatHeartbeat(age)}`}
        </span>
      </header>
      {node.reason && node.state !== 'live' && (
        <p className={`node-reason ${node.state === 'draining' ? 'warn' : 'error'}`} data-testid="node-reason">
          {node.reason}
        </p>
      )}
      <p className="node-meta muted">
        version <strong>{node.version}</strong> · protocol {node.protocol} · <span data-testid="in-flight">{node.inFlight} in flight</span>
      </p>
      {labels.length > 0 && (
        <div className="node-labels" aria-label="Labels">
          {labels.map(([k, v]) => (
            <span key={k} className="chip">
              {k}={v}
            </span>
          ))}
        </div>
      )}
      <MemoryBar memory={node.memory} />
      {node.gpus.map((d) => (
        <GpuEntry key={d.type} device={d} />
      ))}
      {replicas.length === 0 ? (
        <p className="muted node-empty">No models loaded on this node.</p>
      ) : (
        <table className="replicas" aria-label={`Models on ${node.name}`}>
          <thead>
            <tr>
              <th scope="col">Model</th>
              <th scope="col">State</th>
              <th scope="col" className="num">In flight</th>
              <th scope="col">Last used</th>
              <th scope="col" className="num"><span className="sr-only">Actions</span></th>
            </tr>
          </thead>
          <tbody>
            {replicas.map((r) => (
              <ReplicaRow key={r.model} node={node.name} replica={r} now={now} />
            ))}
          </tbody>
        </table>
      )}
      <footer className="node-actions">
        <button type="button" onClick={() => onDrain(node.name)} disabled={!canDrain} title={canDrain ? 'Move its models elsewhere and place nothing new on it' : `It is ${NODE_STATE_LABEL[node.state].toLowerCase()}: nothing to drain`}>
          Drain…
        </button>
      </footer>
    </article>
  );
});

function DrainDialog({ node, onClose }: { node: ClusterNode; onClose: () => void }) {
  const [busy, setBusy] = useState(false);
  const n = node.replicas.length;
  return (
    <Dialog
      title={`Drain ${node.name}?`}
      onClose={onClose}
      tone="danger"
      actions={
        <>
          <button type="button" onClick={onClose} autoFocus>
            Cancel
          </button>
          <button
            type="button"
            className="danger"
            disabled={busy}
            onClick={() => {
              setBusy(true);
              void drainNode(node.name).finally(onClose);
            }}
          >
            {busy ? 'Draining…' : `Drain ${node.name}`}
          </button>
        </>
      }
    >
      <p>
        Nothing new is placed on {node.name}.{' '}
        {n > 0
          ? `Its ${n === 1 ? 'model' : `${n} models`} finish their running requests, then unload; each is loaded on another node where the cluster needs it.`
          : 'It holds no models now.'}
      </p>
    </Dialog>
  );
}

function ClusterBanner() {
  const nats = useStore((s) => s.cluster?.nats ?? 'disconnected');
  const natsError = useStore((s) => s.cluster?.natsError ?? null);
  const leader = useStore((s) => s.cluster?.leader ?? null);
  const frontend = useStore((s) => s.cluster?.frontend ?? '');
  const line = natsLine({ nats, natsError });
  return (
    <div className={`cluster-banner tone-${line.tone}`} role={line.tone === 'ok' ? 'status' : 'alert'} data-testid="cluster-banner">
      <span className={`dot ${line.tone === 'ok' ? 'on' : 'off'}`} aria-hidden="true" />
      <span data-testid="nats">{line.text}</span>
      <span className="muted" data-testid="leader">
        {leaderLine({ leader, frontend })}
      </span>
    </div>
  );
}

export function NodesView() {
  const cluster = useStore((s) => s.cluster);
  const now = useNow();
  // The ages in the snapshot were true when it arrived; the view counts on from there.
  const receivedAt = useMemo(() => Date.now(), [cluster]);
  const nodes = useMemo(() => orderNodes(cluster?.nodes ?? []), [cluster]);
  const [draining, setDraining] = useState<string | null>(null);
  const drainTarget = nodes.find((n) => n.name === draining) ?? null;
  if (!cluster) {
    return (
      <section className="view" aria-labelledby="nodes-title">
        <h1 id="nodes-title">Nodes</h1>
        <EmptyState title="Not in a cluster">
          <p>
            This Loadout runs on its own. To spread models over several machines, set “Cluster NATS URL” in <a href={routeHref('settings')}>Settings</a> (or start with{' '}
            <code>--cluster-nats-url nats://host:4222</code>).
          </p>
        </EmptyState>
      </section>
    );
  }
  const counts = nodes.reduce<Record<string, number>>((acc, n) => ({ ...acc, [n.state]: (acc[n.state] ?? 0) + 1 }), {});
  return (
    <section className="view" aria-labelledby="nodes-title">
      <header className="view-head">
        <h1 id="nodes-title">Nodes</h1>
        <p className="muted" data-testid="node-counts">
          {nodes.length === 0
            ? 'No node has joined yet.'
            : Object.entries(NODE_STATE_LABEL)
                .filter(([state]) => counts[state])
                .map(([state, label]) => `${counts[state]} ${label.toLowerCase()}`)
                .join(' · ')}{' '}
          · this frontend is <strong>{cluster.frontend}</strong>
        </p>
      </header>
      <ClusterBanner />
      {nodes.length === 0 ? (
        <EmptyState title="No nodes yet">
          <p>Start Loadout on a worker machine with the same cluster NATS URL; it appears here within a heartbeat.</p>
        </EmptyState>
      ) : (
        <div className="node-grid" data-testid="nodes">
          {nodes.map((n) => (
            <NodeCard key={n.name} node={n} receivedAt={receivedAt} now={now} onDrain={setDraining} />
          ))}
        </div>
      )}
      {drainTarget && <DrainDialog node={drainTarget} onClose={() => setDraining(null)} />}
    </section>
  );
}
