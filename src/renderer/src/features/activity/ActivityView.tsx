/** Activity: the eviction journal (E2), newest first, each unload with its reason; filterable by model. */
import { useMemo } from 'react';
import type { UnloadReason } from '../../../../shared/model';
import { navigate, routeHref } from '../../router';
import { useStore } from '../../store/store';
import { EmptyState } from '../../ui/EmptyState';
import { formatClock } from '../../ui/format';

const REASON_LABEL: Record<UnloadReason, string> = {
  lru: 'least recently used',
  group: 'group conflict',
  memory: 'memory',
  idle: 'idle',
  stalled: 'stuck',
  reclaimer: 'system memory',
  vram_pressure: 'GPU memory',
  crashed: 'crashed',
  settings: 'settings changed',
  user: 'by you',
  shutdown: 'shutdown',
  scale_down: 'fewer replicas',
  node_lost: 'node lost',
  drain: 'node drained',
};

export function ActivityView({ model }: { model: string | null }) {
  const journal = useStore((s) => s.journal);
  const names = useStore((s) => s.names);
  // Every catalog model, and any model the journal still names that has since been removed.
  const models = useMemo(() => [...new Set([...names, ...journal.flatMap((e) => (e.by ? [e.model, e.by] : [e.model]))])].sort(), [names, journal]);
  const shown = useMemo(() => journal.filter((e) => !model || e.model === model || e.by === model).reverse(), [journal, model]);
  return (
    <section className="view" aria-labelledby="activity-title">
      <header className="view-head row-between">
        <div>
          <h1 id="activity-title">Activity</h1>
          <p className="muted">Every unload, with why it happened. Newest first.</p>
        </div>
        <label className="inline">
          <span>Model</span>
          <select value={model ?? ''} onChange={(e) => navigate('activity', e.target.value || null)} aria-label="Show the activity of one model">
            <option value="">All models</option>
            {model && !models.includes(model) && <option value={model}>{model}</option>}
            {models.map((m) => (
              <option key={m} value={m}>
                {m}
              </option>
            ))}
          </select>
        </label>
      </header>
      {shown.length === 0 ? (
        <EmptyState title={model ? `Nothing has happened to ${model} yet` : 'Nothing has been unloaded yet'}>
          <p>
            When Loadout unloads a model, to make room, because of a group, because it sat idle or crashed, or because you asked, it is listed here with the reason. Load
            models from <a href={routeHref('models')}>Models</a> to see it work.
          </p>
        </EmptyState>
      ) : (
        <table className="journal" data-testid="journal">
          <thead>
            <tr>
              <th scope="col">Time</th>
              <th scope="col">Model</th>
              <th scope="col">Reason</th>
              <th scope="col">What happened</th>
            </tr>
          </thead>
          <tbody>
            {shown.map((e, i) => (
              <tr key={`${e.at}-${e.model}-${i}`} data-model={e.model} data-reason={e.reason}>
                <td className="nowrap" title={e.at}>{formatClock(e.at)}</td>
                <td>
                  <a href={routeHref('activity', e.model)}>{e.model}</a>
                  {e.node ? (
                    <>
                      {' '}
                      <span className="badge pin node-badge" data-testid="node" title={`On node ${e.node}`}>
                        {e.node}
                      </span>
                    </>
                  ) : null}
                </td>
                <td>
                  <span className={`badge reason reason-${e.reason}`}>{REASON_LABEL[e.reason] ?? e.reason}</span>
                </td>
                <td>
                  {e.sentence}
                  {e.by ? <span className="muted"> (for {e.by})</span> : null}
                  {e.frontend ? (
                    <span className="muted" data-testid="frontend">
                      {' '}
                      · decided by {e.frontend}
                    </span>
                  ) : null}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
    </section>
  );
}
