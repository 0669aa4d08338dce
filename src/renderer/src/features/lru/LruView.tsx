/**
 * LRU: the loaded models from least to most recently used, how many slots are taken, and which
 * one the next load beyond the cap unloads.
 */
import { useShallow } from 'zustand/react/shallow';
import { routeHref } from '../../router';
import { slotInfo } from '../../store/selectors';
import { useStore } from '../../store/store';
import { EmptyState } from '../../ui/EmptyState';
import { formatAgo, formatBytes } from '../../ui/format';
import { StateBadge } from '../../ui/StateBadge';
import { useNow } from '../../ui/useNow';
import { placementLabel, vramFigure } from '../../../../shared/gpu';
import { GpuPanel } from '../gpu/GpuPanel';
import { ClusterLru } from './ClusterLru';

function LruItem({ name, position, next }: { name: string; position: number; next: boolean }) {
  const row = useStore((s) => s.models[name]);
  const now = useNow();
  if (!row) return null;
  const vram = vramFigure(row.memory);
  const where = placementLabel(row.placement);
  return (
    <li className={`lru-item${next ? ' next' : ''}`} data-model={name}>
      <span className="lru-pos" aria-label={`position ${position}`}>{position}</span>
      <div className="lru-main">
        <div className="name-line">
          <a className="model-name" href={routeHref('models', name)}>{name}</a>
          {row.pinned && <span className="badge pin">pinned: stays</span>}
          {row.remote && <span className="badge subtle">remote: no slot</span>}
          {next && <span className="badge warn" data-testid="next">goes next</span>}
        </div>
        <div className="muted">
          used {formatAgo(row.lastUsed, now)}
          {row.loadedAt ? ` · loaded ${formatAgo(row.loadedAt, now)}` : ''}
          {row.memory.rssBytes !== null ? ` · ${formatBytes(row.memory.rssBytes)}` : row.memory.estimateBytes !== null ? ` · ~${formatBytes(row.memory.estimateBytes)}` : ''}
          {vram ? ` · ${vram.text} VRAM` : ''}
          {where ? ` · ${where}` : ''}
        </div>
      </div>
      <StateBadge row={row} />
    </li>
  );
}

/** The backend process started ahead of time: it holds no slot, and the next load of a built-in model skips start-up. */
function Standby() {
  const standby = useStore((s) => s.standby);
  if (!standby) return null;
  return (
    <p className="muted" data-testid="standby">
      Ready ahead of time: a {standby.backend} backend process (pid {standby.pid}, no model, ~100 MB), so the next load skips start-up. It holds no slot. Turn it off with “warm standby” in <a href={routeHref('settings')}>Settings</a>.
    </p>
  );
}

export function LruView() {
  const inCluster = useStore((s) => s.cluster !== null);
  return inCluster ? <ClusterLru /> : <LocalLru />;
}

function LocalLru() {
  const lru = useStore((s) => s.lru);
  const slots = useStore(useShallow((s) => slotInfo(s.models, s.names, s.lru, s.settings)));
  // Starting, loading and stopping models hold a slot too, though they are not in the LRU order yet (or any more).
  const transient = useStore(useShallow((s) => s.names.filter((n) => !s.models[n].remote && ['starting', 'loading', 'stopping'].includes(s.models[n].state)).map((n) => `${n} (${s.models[n].state})`)));
  const full = slots.cap > 0 && slots.used >= slots.cap;
  return (
    <section className="view" aria-labelledby="lru-title">
      <header className="view-head">
        <h1 id="lru-title">Loaded models, least recently used first</h1>
        <p className="slots" data-testid="slots">
          {slots.cap > 0 ? (
            <>
              <strong>{slots.used} of {slots.cap} slots</strong> in use
              {full ? ' - the next load unloads one' : ''}
            </>
          ) : (
            <>
              <strong>{slots.used} loaded</strong>, no cap on loaded models (set “max active models” in <a href={routeHref('settings')}>Settings</a>)
            </>
          )}
        </p>
      </header>
      <GpuPanel />
      {transient.length > 0 && (
        <p className="muted" data-testid="transient">
          Also holding a slot: {transient.join(', ')}
        </p>
      )}
      <Standby />
      {lru.length === 0 ? (
        <EmptyState title="Nothing is loaded">
          <p>
            Load a model from <a href={routeHref('models')}>Models</a>. Loaded models appear here in the order they would be unloaded to make room: the least recently used first.
          </p>
        </EmptyState>
      ) : (
        <>
          <ol className="lru-list" data-testid="lru-list">
            {lru.map((name, i) => (
              <LruItem key={name} name={name} position={i + 1} next={slots.cap > 0 && name === slots.next} />
            ))}
          </ol>
          <p className="muted">
            {slots.cap > 0 && slots.next
              ? `When all ${slots.cap} slots are taken, loading another model unloads ${slots.next} first. Pinned models are never unloaded to make room; using a model moves it to the end.`
              : 'Using a model moves it to the end of this list. Pinned models are never unloaded to make room.'}
          </p>
        </>
      )}
    </section>
  );
}
