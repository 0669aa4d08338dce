/** One model in the list: what it is, its state and memory, and its actions. Selects only its own row. */
import { memo } from 'react';
import { useShallow } from 'zustand/react/shallow';
import type { ModelRow } from '../../../../shared/model';
import { isResident } from '../../../../shared/model';
import { isPartialOffload, placementLabel, placementWords, vramFigure } from '../../../../shared/gpu';
import { routeHref } from '../../router';
import { problemOf } from '../../store/selectors';
import { useStore } from '../../store/store';
import { formatAgo, formatBytes, formatCount } from '../../ui/format';
import { StateBadge } from '../../ui/StateBadge';
import { useNow } from '../../ui/useNow';
import { downloadModel, pauseModel } from '../downloads/actions';
import { ReplicaBadges } from '../nodes/ReplicaBadges';
import { downloadLabel, modelJobs, summarize } from '../downloads/logic';
import type { ModelDownload } from '../downloads/logic';
import { canLoad, cancelLoad, requestLoad, setPinned, unload } from './actions';
import { clusterPolicyText } from './ModelDetails';

const NO_JOBS: never[] = [];

/** A not-downloaded model's download in its state cell: progress while it runs, else where it stands. */
function DownloadState({ dl }: { dl: ModelDownload | null }) {
  const pct = dl?.totalBytes ? Math.floor((dl.receivedBytes / dl.totalBytes) * 100) : null;
  if (!dl) return <span className="badge state-not-downloaded" data-testid="state">Not downloaded</span>;
  return (
    <span className="state">
      <span className={`badge ${dl.state === 'failed' ? 'state-failed' : dl.state === 'running' ? 'state-loading' : 'state-stopping'}`} data-testid="state">
        {dl.state === 'running' ? 'Downloading' : dl.state === 'paused' ? 'Paused' : 'Download failed'}
      </span>
      {(dl.state === 'running' || dl.receivedBytes > 0) && (
        <span className="load-progress" data-testid="download-progress">
          <progress max={100} value={pct ?? (dl.state === 'running' ? undefined : 0)} aria-label="Download progress" />
          {pct !== null && <span>{pct}%</span>}
        </span>
      )}
    </span>
  );
}

export const ROW_HEIGHT = 64;

function LastUsed({ iso }: { iso: string | null }) {
  const now = useNow();
  return <span title={iso ?? undefined}>{formatAgo(iso, now)}</span>;
}

/**
 * When the watchdog will unload it for idleness (W1, as `ollama ps` says): ready with nothing
 * running, not pinned, its own ttl or the idle_timeout setting counted from its last use.
 */
export function idleUnloadAt(row: ModelRow, idleTimeout: number): number | null {
  const ttl = row.ttl ?? idleTimeout;
  if (row.state !== 'ready' || row.pinned || row.inFlight > 0 || ttl <= 0 || !row.lastUsed) return null;
  return Date.parse(row.lastUsed) + ttl * 1000;
}

function UnloadsIn({ at }: { at: number }) {
  const now = useNow();
  const s = Math.max(0, Math.ceil((at - now) / 1000));
  return (
    <span className="muted" data-testid="unloads-in" title={`Unloaded for idleness at ${new Date(at).toLocaleTimeString()} unless it is used before`}>
      {' '}
      · unloads in {s < 60 ? `${s} s` : `${Math.ceil(s / 60)} min`}
    </span>
  );
}

function meta(row: ModelRow): string {
  const parts = [row.backend, formatBytes(row.sizeBytes)];
  if (row.gguf?.quantization) parts.push(row.gguf.quantization);
  if (row.gguf?.parameterCount) parts.push(`${formatCount(row.gguf.parameterCount)} params`);
  const ctx = row.contextSize ?? row.gguf?.contextLength;
  if (ctx) parts.push(`ctx ${formatCount(ctx)}`);
  return parts.filter((p) => p && p !== '-').join(' · ');
}

/** VRAM (measured, or the estimate before a load) and where the loaded instance runs (V12). */
function VramCell({ row }: { row: ModelRow }) {
  const vram = vramFigure(row.memory);
  const where = placementLabel(row.placement);
  const p = row.placement;
  const partial = isPartialOffload(p);
  const whereTitle = p ? `Runs on ${placementWords(p)}${partial ? '. Unload other GPU models to fit it whole.' : ''}` : undefined;
  return (
    <div className="cell vram-cell" data-testid="vram">
      {vram ? (
        <span title={vram.measured ? 'VRAM it uses (measured)' : 'VRAM it needs when loaded (estimate)'}>
          {vram.text}
          {vram.measured ? '' : <span className="muted"> est.</span>}
        </span>
      ) : (
        <span className="muted">-</span>
      )}
      {where && (
        <span className={`placement${partial ? ' partial' : ''}`} title={whereTitle} data-testid="placement">
          {where}
        </span>
      )}
    </div>
  );
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
  const idleTimeout = useStore((s) => s.settings?.idle_timeout ?? 0);
  const online = useStore((s) => s.connection.status === 'open');
  const jobs = useStore(useShallow((s) => (s.models[name]?.status === 'not_downloaded' ? modelJobs(s.downloads, name) : NO_JOBS)));
  if (!row) return null;
  const notDownloaded = row.status === 'not_downloaded';
  const dl = notDownloaded ? summarize(jobs) : null;
  const dlFailure = dl?.state === 'failed' ? (dl.jobs.find((j) => j.error)?.error?.message ?? null) : null;
  const problem = row.status !== 'ok' && row.status !== 'disabled' ? problemOf(row) : null;
  const failure = failureText(row);
  const resident = isResident(row.state);
  const starting = row.state === 'starting' || row.state === 'loading';
  // While an action runs its button refuses clicks but is not `disabled`: a disabled button drops
  // the keyboard focus to the page, and the user pressing Enter on Load would lose their place.
  const whenIdle = (act: () => void) => () => {
    if (!busy) act();
  };
  const busyAttr = busy ? true : undefined;
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
          {clusterPolicyText(row) && (
            <span className="badge subtle" data-testid="cluster-policy" title="Its cluster settings (min-max replicas, node selector)">
              {clusterPolicyText(row)}
            </span>
          )}
          {row.onNodes && (
            <span className="badge subtle" data-testid="on-nodes" title={`Only in the catalog of ${row.onNodes.join(', ')}: it runs there, not on this machine`}>
              on {row.onNodes.join(', ')}
            </span>
          )}
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
        ) : dlFailure ? (
          <div className="row-message error" title={dlFailure} data-testid="problem">
            Download failed: {dlFailure}
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
        {notDownloaded && online ? <DownloadState dl={dl} /> : <StateBadge row={row} />}
        {row.replicas && row.replicas.length > 0 && <ReplicaBadges replicas={row.replicas} />}
      </div>
      <div className="cell mem-cell">
        {row.memory.estimateBytes !== null && <span title="Estimated memory (weights + context)">{formatBytes(row.memory.estimateBytes)}</span>}
        {row.memory.estimateBytes !== null && row.memory.rssBytes !== null && <span className="muted"> / </span>}
        {row.memory.rssBytes !== null && <span className="muted" title="Measured memory of its backend process">{formatBytes(row.memory.rssBytes)} used</span>}
        {row.memory.estimateBytes === null && row.memory.rssBytes === null && <span className="muted">-</span>}
      </div>
      <VramCell row={row} />
      <div className="cell used-cell">
        <LastUsed iso={row.lastUsed} />
        {online && idleUnloadAt(row, idleTimeout) !== null && <UnloadsIn at={idleUnloadAt(row, idleTimeout)!} />}
        {(row.inFlight > 0 || row.queued > 0) && (
          <span className="muted" title="Requests running / waiting">
            {' '}
            · {row.inFlight} running{row.queued > 0 ? `, ${row.queued} waiting` : ''}
          </span>
        )}
      </div>
      <div className="cell actions-cell">
        {notDownloaded && dl?.state === 'running' ? (
          <button type="button" onClick={() => void pauseModel(row.name)} title="Pause the download; Download continues it">
            Pause
          </button>
        ) : notDownloaded ? (
          <button type="button" className="primary" onClick={whenIdle(() => void downloadModel(row.name))} aria-disabled={busyAttr} title={`Download ${row.name}'s model file into the models folder`}>
            {busy ?? downloadLabel(dl?.totalBytes ?? row.sizeBytes)}
          </button>
        ) : starting ? (
          <button type="button" onClick={whenIdle(() => void cancelLoad(row.name))} aria-disabled={busyAttr}>
            Cancel
          </button>
        ) : resident ? (
          <button type="button" onClick={whenIdle(() => void unload(row.name))} aria-disabled={busyAttr}>
            {busy ?? 'Unload'}
          </button>
        ) : row.state === 'stopping' ? (
          <button type="button" className="danger" onClick={whenIdle(() => void unload(row.name, true))} aria-disabled={busyAttr} title="Stop its process now, without waiting for running requests">
            Force unload
          </button>
        ) : (
          <button type="button" className="primary" onClick={whenIdle(() => void requestLoad(row.name))} aria-disabled={busyAttr} disabled={!canLoad(row)} title={disabledWhy}>
            {busy ?? 'Load'}
          </button>
        )}
        {resident && row.inFlight > 0 && (
          <button type="button" className="danger" onClick={whenIdle(() => void unload(row.name, true))} aria-disabled={busyAttr} title="Stop it now: running requests end with an error">
            Force
          </button>
        )}
        <button type="button" aria-pressed={row.pinned} onClick={whenIdle(() => void setPinned(row.name, !row.pinned))} aria-disabled={busyAttr} disabled={row.status === 'error' || !!row.onNodes} title={row.onNodes ? `Pinned or not is set in its YAML on ${row.onNodes.join(', ')}` : row.pinned ? 'Allow unloading it to make room' : 'Never unload it to make room'}>
          {row.pinned ? 'Unpin' : 'Pin'}
        </button>
        <a className="button" href={routeHref('logs', row.name)} title={`Backend output of ${row.name}`}>
          Log
        </a>
      </div>
    </div>
  );
});
