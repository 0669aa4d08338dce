/** A model's state in a word and a colour, with load progress and elapsed time while it starts. */
import type { ModelRow } from '../../../shared/model';
import { useStore } from '../store/store';
import { formatDuration } from './format';
import { useNow } from './useNow';

const LABEL: Record<ModelRow['state'], string> = {
  unloaded: 'Not loaded',
  starting: 'Starting',
  loading: 'Loading',
  ready: 'Loaded',
  busy: 'Busy',
  stopping: 'Stopping',
  failed: 'Failed',
};

function Elapsed({ since }: { since: string }) {
  const now = useNow();
  return <span className="elapsed">{formatDuration(now - Date.parse(since))}</span>;
}

export function StateBadge({ row }: { row: Pick<ModelRow, 'state' | 'progress' | 'loadStartedAt' | 'inFlight'> }) {
  const offline = useStore((s) => s.connection.status !== 'open');
  const starting = row.state === 'starting' || row.state === 'loading';
  // What the page last heard may no longer be true: nothing is claimed until Loadout is back.
  if (offline) {
    return (
      <span className="state">
        <span className="badge state-unknown" data-testid="state" title="Disconnected from Loadout: the state is known again once it reconnects">
          Unknown
        </span>
      </span>
    );
  }
  return (
    <span className="state">
      <span className={`badge state-${row.state}`} data-testid="state">
        {LABEL[row.state]}
        {row.state === 'busy' && row.inFlight > 0 ? ` (${row.inFlight})` : ''}
      </span>
      {starting && (
        <span className="load-progress">
          {row.progress !== null && <progress max={1} value={row.progress} aria-label="Load progress" />}
          {row.progress !== null && <span>{Math.round(row.progress * 100)}%</span>}
          {row.loadStartedAt && <Elapsed since={row.loadStartedAt} />}
        </span>
      )}
    </span>
  );
}

export function stateLabel(state: ModelRow['state']): string {
  return LABEL[state];
}
