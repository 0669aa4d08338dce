/** Logs: live backend output of one model (U5), stderr marked, copyable and clearable. */
import { useEffect, useLayoutEffect, useRef, useState } from 'react';
import { navigate, routeHref } from '../../router';
import { api } from '../../store/connect';
import { useStore } from '../../store/store';
import { EmptyState } from '../../ui/EmptyState';
import { copyText } from '../../ui/clipboard';
import { formatClock } from '../../ui/format';
import { isProblemLine } from './problemLine';

function LogLines({ model }: { model: string }) {
  const lines = useStore((s) => s.logs[model]);
  const receiveLogs = useStore((s) => s.receiveLogs);
  const [error, setError] = useState<string | null>(null);
  const [status, setStatus] = useState<string | null>(null);
  const box = useRef<HTMLPreElement>(null);
  const stick = useRef(true);

  useEffect(() => {
    setError(null);
    void api()
      .invoke('logs', model)
      .then((r) => (r.ok ? receiveLogs(model, r.value) : setError(r.error.message)));
  }, [model, receiveLogs]);

  // Follow new output while the view is scrolled to the bottom.
  useLayoutEffect(() => {
    const el = box.current;
    if (el && stick.current) el.scrollTop = el.scrollHeight;
  }, [lines]);

  const text = (lines ?? []).map((l) => `${l.at} ${l.stream === 'stdout' ? '' : `[${l.stream}] `}${l.text}`).join('\n');
  return (
    <>
      <div className="toolbar">
        <button
          type="button"
          onClick={() =>
            void copyText(text).then(
              () => setStatus(`Copied ${lines?.length ?? 0} lines.`),
              (e: Error) => setStatus(`Could not copy: ${e.message}`),
            )
          }
          disabled={!lines || lines.length === 0}
        >
          Copy all
        </button>
        <button
          type="button"
          onClick={() =>
            void api()
              .invoke('clearLogs', model)
              .then((r) => (r.ok ? receiveLogs(model, []) : setError(r.error.message)))
          }
          disabled={!lines || lines.length === 0}
        >
          Clear
        </button>
        <a href={routeHref('activity', model)}>Activity of {model}</a>
        <span className="muted" role="status">{status}</span>
      </div>
      {error && <p className="error" role="alert">{error}</p>}
      {lines && lines.length === 0 ? (
        <EmptyState title={`No output from ${model} yet`}>
          <p>Its backend's output appears here live while it loads and runs, and stays after it stops.</p>
        </EmptyState>
      ) : (
        <pre
          ref={box}
          className="log"
          tabIndex={0}
          aria-label={`Output of ${model}`}
          data-testid="log"
          onScroll={(e) => {
            const el = e.currentTarget;
            stick.current = el.scrollTop + el.clientHeight >= el.scrollHeight - 8;
          }}
        >
          {(lines ?? []).map((l, i) => (
            <div key={i} className={`log-line ${l.stream}${l.stream === 'stderr' && isProblemLine(l.text) ? ' problem' : ''}`}>
              <span className="log-time">{formatClock(l.at)}</span> {l.text}
            </div>
          ))}
        </pre>
      )}
    </>
  );
}

export function LogsView({ model }: { model: string | null }) {
  const names = useStore((s) => s.names);
  const selected = model ?? null;
  return (
    <section className="view logs-view" aria-labelledby="logs-title">
      <header className="view-head row-between">
        <div>
          <h1 id="logs-title">Logs</h1>
          <p className="muted">What each model's backend process printed, live.</p>
        </div>
        <label className="inline">
          <span>Model</span>
          <select value={selected ?? ''} onChange={(e) => navigate('logs', e.target.value || null)} aria-label="Model whose log to show">
            <option value="">Pick a model…</option>
            {names.map((n) => (
              <option key={n} value={n}>
                {n}
              </option>
            ))}
          </select>
        </label>
      </header>
      {selected ? (
        <LogLines key={selected} model={selected} />
      ) : (
        <EmptyState title="Pick a model">
          <p>Choose a model above, or click “Log” on a model in <a href={routeHref('models')}>Models</a>. A backend that fails to start says why here.</p>
        </EmptyState>
      )}
    </section>
  );
}
