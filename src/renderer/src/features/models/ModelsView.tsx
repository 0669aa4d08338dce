/**
 * Models: every catalog model, searchable and filterable, in a virtualised list; a model's
 * details and edit form open beside it. Keyboard: "/" searches, arrows move, Enter opens, L loads,
 * U unloads, P pins.
 */
import { useCallback, useEffect, useRef, useState } from 'react';
import type { KeyboardEvent } from 'react';
import { useShallow } from 'zustand/react/shallow';
import { isResident } from '../../../../shared/model';
import { navigate, routeHref } from '../../router';
import { filterNames, modelCounts } from '../../store/selectors';
import type { ModelFilter } from '../../store/store';
import { useStore } from '../../store/store';
import { EmptyState } from '../../ui/EmptyState';
import { VirtualList } from '../../ui/VirtualList';
import type { VirtualListHandle } from '../../ui/VirtualList';
import { canLoad, requestLoad, setPinned, unload } from './actions';
import { ModelDetails } from './ModelDetails';
import { ModelRowView, ROW_HEIGHT } from './ModelRowView';
import { GpuPanel } from '../gpu/GpuPanel';

const FILTERS: { id: ModelFilter; label: string }[] = [
  { id: 'all', label: 'All' },
  { id: 'loaded', label: 'Loaded' },
  { id: 'problems', label: 'Problems' },
  { id: 'pinned', label: 'Pinned' },
];

function FilterCounts() {
  const filter = useStore((s) => s.filter);
  const setFilter = useStore((s) => s.setFilter);
  const counts = useStore((s) => modelCounts(s.models, s.names));
  // Offline, how many are loaded is not known.
  const online = useStore((s) => s.connection.status === 'open');
  return (
    <div className="segmented" role="group" aria-label="Show">
      {FILTERS.map((f) => (
        <button key={f.id} type="button" aria-pressed={filter === f.id} onClick={() => setFilter(f.id)}>
          {f.label} <span className="count">{online || f.id !== 'loaded' ? counts[f.id] : '?'}</span>
        </button>
      ))}
    </div>
  );
}

/** First run: only the demo model is there. Say what it is and what to do. */
function GettingStarted() {
  const onlyDemo = useStore((s) => s.names.length === 1 && s.names[0] === 'demo');
  const modelsDir = useStore((s) => s.settings?.models_dir ?? '');
  if (!onlyDemo) return null;
  return (
    <div className="callout" role="note">
      <strong>Welcome to Loadout.</strong> The <em>demo</em> model below is tiny and has random weights (its answers are gibberish): click{' '}
      <strong>Load</strong> to try it. To add your own models, put <code>.gguf</code> files (or LocalAI model YAMLs) in <code>{modelsDir}</code>; they appear here at once.
      Set how many stay loaded in <a href={routeHref('settings')}>Settings</a>.
    </div>
  );
}

export function ModelsView({ selected }: { selected: string | null }) {
  const ready = useStore((s) => s.ready);
  const total = useStore((s) => s.names.length);
  const query = useStore((s) => s.query);
  const filter = useStore((s) => s.filter);
  const setQuery = useStore((s) => s.setQuery);
  const modelsDir = useStore((s) => s.settings?.models_dir ?? '');
  const openAddModel = useStore((s) => s.openAddModel);
  // A new array only when the visible names change, so a state event re-renders one row, not the list.
  const names = useStore(useShallow((s) => filterNames(s.models, s.names, s.query, s.filter)));
  // The VRAM column shows once the core has named a GPU.
  const hasGpu = useStore((s) => (s.gpus?.length ?? 0) > 0);
  const list = useRef<VirtualListHandle>(null);
  const search = useRef<HTMLInputElement>(null);
  const [active, setActive] = useState(-1);

  useEffect(() => {
    const onKey = (e: globalThis.KeyboardEvent) => {
      const typing = e.target instanceof HTMLInputElement || e.target instanceof HTMLTextAreaElement || e.target instanceof HTMLSelectElement;
      if (e.key === '/' && !typing && !e.ctrlKey && !e.metaKey) {
        e.preventDefault();
        search.current?.focus();
      }
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  const onListKey = useCallback(
    (e: KeyboardEvent<HTMLDivElement>) => {
      if (e.target !== e.currentTarget) return; // keys inside a row's buttons are theirs
      const move = (i: number) => {
        const next = Math.max(0, Math.min(names.length - 1, i));
        setActive(next);
        list.current?.scrollToIndex(next);
        e.preventDefault();
      };
      const name = names[active];
      const row = name ? useStore.getState().models[name] : undefined;
      switch (e.key) {
        case 'ArrowDown':
          return move(active + 1);
        case 'ArrowUp':
          return move(active - 1);
        case 'Home':
          return move(0);
        case 'End':
          return move(names.length - 1);
        case 'PageDown':
          return move(active + 10);
        case 'PageUp':
          return move(active - 10);
      }
      if (!row) return;
      if (e.key === 'Enter') navigate('models', row.name);
      else if (e.key === 'l' && canLoad(row)) void requestLoad(row.name);
      else if (e.key === 'u' && isResident(row.state)) void unload(row.name);
      else if (e.key === 'p') void setPinned(row.name, !row.pinned);
      else return;
      e.preventDefault();
    },
    [names, active],
  );

  const renderRow = useCallback((name: string) => <ModelRowView name={name} />, []);

  if (ready && total === 0) {
    return (
      <EmptyState title="No models yet">
        <p>
          Put <code>.gguf</code> model files, or LocalAI model YAML files, in <code>{modelsDir}</code>. They show up here at once, no restart needed.
        </p>
        <p>
          Or pick another folder in <a href={routeHref('settings')}>Settings</a>, or download one from Hugging Face:
        </p>
        <p>
          <button type="button" className="primary" onClick={() => openAddModel(true)}>
            Add model
          </button>
        </p>
      </EmptyState>
    );
  }

  return (
    <div className={`models-view${selected ? ' with-drawer' : ''}${hasGpu ? ' has-gpu' : ''}`}>
      <div className="models-main">
        <GettingStarted />
        <GpuPanel />
        <div className="toolbar">
          <input
            ref={search}
            type="search"
            className="search"
            value={query}
            onChange={(e) => setQuery(e.target.value)}
            onKeyDown={(e) => {
              if (e.key === 'ArrowDown') {
                e.preventDefault();
                setActive(0);
                list.current?.focus();
              }
            }}
            placeholder="Search name, backend, group, quantization  ( / )"
            aria-label="Search models"
          />
          <FilterCounts />
          <span className="muted shown">{names.length === total ? `${total} model${total === 1 ? '' : 's'}` : `${names.length} of ${total} shown`}</span>
          <button type="button" className="primary" onClick={() => openAddModel(true)}>
            Add model
          </button>
        </div>
        <div className="list-head" aria-hidden="true">
          <span>Model</span>
          <span className="col-groups">Groups</span>
          <span>State</span>
          <span className="col-mem">Memory est. / used</span>
          <span className="col-vram">VRAM</span>
          <span className="col-used">Last used</span>
          <span>Actions</span>
        </div>
        {!ready ? (
          <p className="muted pad">Reading the models…</p>
        ) : names.length === 0 ? (
          <EmptyState title="No model matches">
            <p>Clear the search or pick “All”.</p>
          </EmptyState>
        ) : (
          <VirtualList ref={list} items={names} rowHeight={ROW_HEIGHT} renderRow={renderRow} label="Models" activeIndex={active} onKeyDown={onListKey} className="models-list" />
        )}
      </div>
      {selected && <ModelDetails name={selected} />}
    </div>
  );
}
