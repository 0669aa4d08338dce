/** One model in the list: what it is, its state and memory, and its actions. Selects only its own row. */
import { memo } from 'react';
import type { ModelRow } from '../../../../shared/model';
import { isResident } from '../../../../shared/model';
import { routeHref } from '../../router';
import { problemOf } from '../../store/selectors';
import { useStore } from '../../store/store';
import { formatAgo, formatBytes, formatCount } from '../../ui/format';
import { StateBadge } from '../../ui/StateBadge';
import { useNow } from '../../ui/useNow';
import { canLoad, cancelLoad, requestLoad, setPinned, unload } from './actions';

export const ROW_HEIGHT = 64;

function LastUsed({ iso }: { iso: string | null }) {
  const now = useNow();
  return <span title={iso ?? undefined}>{formatAgo(iso, now)}</span>;
}

function meta(row: ModelRow): string {
  const parts = [row.backend, formatBytes(row.sizeBytes)];
  if (row.gguf?.quantization) parts.push(row.gguf.quantization);
  if (row.gguf?.parameterCount) parts.push(`${formatCount(row.gguf.parameterCount)} params`);
  const ctx = row.contextSize ?? row.gguf?.contextLength;
  if (ctx) parts.push(`ctx ${formatCount(ctx)}`);
  return parts.filter((p) => p && p !== '-').join(' · ');
}

function failureText(row: ModelRow): string | null {
  const f = row.failure;
  if (row.state !== 'failed' || !f) return null;
  const stderr = f.stderr && !f.message.includes(f.stderr) ? ` - stderr: ${f.stderr}` : '';
  return `${f.message}${stderr}`;
}

export const ModelRowView = memo(function ModelRowView({ name }: { name: string }) {
  const row = useStore((s) => s.models[name]);
  const rowError = useStore((s) => s.rowErrors[name]);
  const busy = useStore((s) => s.rowBusy[name]);
  const dismiss = useStore((s) => s.setRowError);
  if (!row) return null;
  const problem = row.status !== 'ok' && row.status !== 'disabled' ? problemOf(row) : null;
  const failure = failureText(row);
  const resident = isResident(row.state);
  const starting = row.state === 'starting' || row.state === 'loading';
  const disabledWhy = row.status === 'error' ? 'This model has a config error (see the row)' : row.status === 'not_downloaded' ? 'The model file is not downloaded yet' : row.status === 'disabled' ? 'Disabled in its config' : undefined;

  return (
    <div className={`model-row${problem || failure ? ' has-problem' : ''}`} data-model={row.name} data-state={row.state} data-pinned={row.pinned ? 'true' : 'false'} data-status={row.status}>
      <div className="cell name-cell">
        <div className="name-line">
          <a className="model-name" href={routeHref('models', row.name)} title={`Details and settings of ${row.name}`}>
            {row.name}
          </a>
          {row.pinned && <span className="badge pin" title="Pinned: never unloaded to make room">pinned</span>}
          {row.remote && <span className="badge subtle" title={row.address ?? undefined}>remote</span>}
          {row.status === 'disabled' && <span className="badge subtle">disabled</span>}
          {row.reloadPending && <span className="badge warn" title="Its load settings changed: unload and load again to apply">reload to apply</span>}
        </div>
        {rowError ? (
          <div className="row-message error" role="alert">
            <span className="clip" title={rowError}>{rowError}</span>
            <button type="button" className="link" onClick={() => dismiss(row.name, null)} aria-label={`Dismiss the error of ${row.name}`}>
              dismiss
            </button>
          </div>
        ) : problem ? (
          <div className={`row-message ${row.status === 'not_downloaded' ? 'warn' : 'error'}`} title={problem} data-testid="problem">
            {row.status === 'not_downloaded' ? 'Not downloaded: ' : 'Config error: '}
            {problem}
          </div>
        ) : failure ? (
          <div className="row-message error" title={failure} data-testid="failure">
            {failure}
          </div>
        ) : (
          <div className="row-meta" title={row.file ?? undefined}>
            {meta(row)}
          </div>
        )}
      </div>
      <div className="cell groups-cell">
        {row.groups.length === 0 ? <span className="muted">-</span> : row.groups.map((g) => <span key={g} className="chip">{g}</span>)}
      </div>
      <div className="cell state-cell">
        <StateBadge row={row} />
      </div>
      <div className="cell mem-cell">
        {row.memory.estimateBytes !== null && <span title="Estimated memory (weights + context)">{formatBytes(row.memory.estimateBytes)}</span>}
        {row.memory.estimateBytes !== null && row.memory.rssBytes !== null && <span className="muted"> / </span>}
        {row.memory.rssBytes !== null && <span className="muted" title="Measured memory of its backend process">{formatBytes(row.memory.rssBytes)} used</span>}
        {row.memory.estimateBytes === null && row.memory.rssBytes === null && <span className="muted">-</span>}
      </div>
      <div className="cell used-cell">
        <LastUsed iso={row.lastUsed} />
        {(row.inFlight > 0 || row.queued > 0) && (
          <span className="muted" title="Requests running / waiting">
            {' '}
            · {row.inFlight} running{row.queued > 0 ? `, ${row.queued} waiting` : ''}
          </span>
        )}
      </div>
      <div className="cell actions-cell">
        {starting ? (
          <button type="button" onClick={() => void cancelLoad(row.name)} disabled={!!busy}>
            Cancel
          </button>
        ) : resident ? (
          <button type="button" onClick={() => void unload(row.name)} disabled={!!busy}>
            {busy ?? 'Unload'}
          </button>
        ) : row.state === 'stopping' ? (
          <button type="button" className="danger" onClick={() => void unload(row.name, true)} disabled={!!busy} title="Stop its process now, without waiting for running requests">
            Force unload
          </button>
        ) : (
          <button type="button" className="primary" onClick={() => void requestLoad(row.name)} disabled={!!busy || !canLoad(row)} title={disabledWhy}>
            {busy ?? 'Load'}
          </button>
        )}
        {resident && row.inFlight > 0 && (
          <button type="button" className="danger" onClick={() => void unload(row.name, true)} disabled={!!busy} title="Stop it now: running requests end with an error">
            Force
          </button>
        )}
        <button type="button" aria-pressed={row.pinned} onClick={() => void setPinned(row.name, !row.pinned)} disabled={!!busy || row.status === 'error'} title={row.pinned ? 'Allow unloading it to make room' : 'Never unload it to make room'}>
          {row.pinned ? 'Unpin' : 'Pin'}
        </button>
        <a className="button" href={routeHref('logs', row.name)} title={`Backend output of ${row.name}`}>
          Log
        </a>
      </div>
    </div>
  );
});
