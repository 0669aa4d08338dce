/**
 * API: the local OpenAI-compatible server as a user needs it to connect another app: is it up,
 * its URL (copyable), the API key, the LAN warning, a first request to try, and the live request
 * log (newest first, errors with their message).
 */
import { useEffect, useRef, useState } from 'react';
import type { RequestLogEntry, ServerStatus, Settings } from '../../../../shared/model';
import { routeHref } from '../../router';
import { useStore } from '../../store/store';
import { copyText } from '../../ui/clipboard';
import { EmptyState } from '../../ui/EmptyState';
import { formatClock, formatCount, formatDuration } from '../../ui/format';

/** "http://127.0.0.1:8765/v1", or null while the server has not said where it listens. */
export function baseUrlOf(server: ServerStatus | null): string | null {
  return server?.url ? `${server.url.replace(/\/+$/, '')}/v1` : null;
}

/** A button that copies `text` and says "Copied" for a moment (announced to screen readers). */
function CopyButton({ text, label }: { text: string; label: string }) {
  const [said, setSaid] = useState<string | null>(null);
  const timer = useRef<ReturnType<typeof setTimeout>>(undefined);
  useEffect(() => () => clearTimeout(timer.current), []);
  const copy = () => {
    clearTimeout(timer.current);
    copyText(text).then(
      () => setSaid('Copied'),
      (e: Error) => setSaid(`Could not copy: ${e.message}`),
    );
    timer.current = setTimeout(() => setSaid(null), 2500);
  };
  return (
    <>
      <button type="button" onClick={copy} aria-label={label}>
        Copy
      </button>
      <span role="status" className={said?.startsWith('Could') ? 'error' : 'ok'}>
        {said}
      </span>
    </>
  );
}

function StatusLine({ server, settings }: { server: ServerStatus | null; settings: Settings | null }) {
  if (!server) return <p className="muted">Waiting for the API server to report its status…</p>;
  const lan = server.host !== '127.0.0.1' && server.host !== 'localhost' && server.host !== '::1';
  return (
    <div className="api-status" data-testid="api-status">
      {server.listening ? (
        <p>
          <span className="dot on" aria-hidden="true" /> Listening on <code>{`${server.host}:${server.port ?? '?'}`}</code>{' '}
          <span className={`badge ${lan ? 'warn' : 'subtle'}`}>{lan ? 'whole network' : 'this computer only'}</span>
        </p>
      ) : (
        <p className="error" role="alert">
          <span className="dot off" aria-hidden="true" /> Not listening{server.error ? `: ${server.error}` : '.'}
        </p>
      )}
      {server.listening && server.error && <p className="warn">{server.error}</p>}
      {settings && !settings.api_enabled && (
        <p className="warn">
          The API is turned off: every request is refused. Turn on “API enabled” in <a href={routeHref('settings')}>Settings</a>.
        </p>
      )}
    </div>
  );
}

function KeyLine({ apiKey }: { apiKey: string }) {
  const [shown, setShown] = useState(false);
  if (!apiKey) {
    return (
      <p>
        <span className="muted">No API key is set:</span> any program on this computer can call the API without one (web pages still cannot, unless their
        origin is allowed). <a href={routeHref('settings')}>Set an API key in Settings</a>
      </p>
    );
  }
  return (
    <div className="copy-line">
      <code className="api-key" data-testid="api-key">
        {shown ? apiKey : '•'.repeat(Math.min(apiKey.length, 24))}
      </code>
      <button type="button" aria-pressed={shown} onClick={() => setShown(!shown)}>
        {shown ? 'Hide' : 'Show'}
      </button>
      <CopyButton text={apiKey} label="Copy the API key" />
      <a href={routeHref('settings')}>Change in Settings</a>
    </div>
  );
}

function LanWarning({ settings, server }: { settings: Settings; server: ServerStatus | null }) {
  if (!settings.api_lan) return null;
  // The headless server picks its address at start; the desktop app restarts it and reports again.
  const stillLocal = settings.api_key !== '' && server?.listening && server.host === '127.0.0.1';
  return (
    <div className="banner warn api-lan" role="alert" data-testid="lan-warning">
      <strong>The API is open to your network (API LAN is on).</strong> Every device on the same network can reach it, so every request must carry the API key.
      {settings.api_key ? '' : ' No key is set yet, so Loadout keeps listening on this computer only until you set one.'}
      {stillLocal ? ' It still listens on this computer only; restart Loadout to open it to the network.' : ''}{' '}
      <a href={routeHref('settings')}>Change in Settings</a>
    </div>
  );
}

function curlExample(base: string, model: string, withKey: boolean): string {
  const auth = withKey ? ` \\\n  -H "Authorization: Bearer $LOADOUT_API_KEY"` : '';
  return `curl ${base}/chat/completions${auth} \\
  -H "Content-Type: application/json" \\
  -d '{"model": "${model}", "messages": [{"role": "user", "content": "Hello!"}]}'`;
}

const statusClass = (r: RequestLogEntry) => (r.status >= 500 || (r.status >= 400 && r.status !== 499) ? 'failed' : r.status === 499 ? 'gone' : 'ok');

function duration(ms: number): string {
  return ms < 1000 ? `${Math.round(ms)} ms` : formatDuration(ms);
}

function RequestLog({ base }: { base: string | null }) {
  const requests = useStore((s) => s.requests);
  if (requests.length === 0) {
    return (
      <EmptyState title="No API requests yet">
        <p>
          Every request to the API shows up here as it ends. Try the example above, or list the models with <code>curl {base ?? 'http://127.0.0.1:8765/v1'}/models</code>.
        </p>
      </EmptyState>
    );
  }
  return (
    <table className="requests" data-testid="request-log" aria-label="API requests, newest first">
      <thead>
        <tr>
          <th scope="col">Time</th>
          <th scope="col">Client</th>
          <th scope="col">Request</th>
          <th scope="col">Model</th>
          <th scope="col">Tokens</th>
          <th scope="col">Duration</th>
          <th scope="col">Status</th>
        </tr>
      </thead>
      <tbody>
        {requests
          .map((r, i) => ({ r, i }))
          .reverse()
          .map(({ r, i }) => (
            <tr key={i} className={`req-${statusClass(r)}`} data-status={r.status} data-model={r.model ?? ''}>
              <td className="nowrap" title={r.at}>
                {formatClock(r.at)}
              </td>
              <td className="client">{r.client}</td>
              <td>
                <code>
                  {r.method} {r.path}
                </code>
                {r.error && <div className="req-message">{r.error}</div>}
              </td>
              <td>{r.model ?? <span className="muted">-</span>}</td>
              <td className="num">{r.tokens === null ? <span className="muted">-</span> : formatCount(r.tokens)}</td>
              <td className="num nowrap">{duration(r.durationMs)}</td>
              <td>
                <span className={`badge status-${statusClass(r)}`}>{r.status}</span>
              </td>
            </tr>
          ))}
      </tbody>
    </table>
  );
}

export function ApiView() {
  const server = useStore((s) => s.server);
  const settings = useStore((s) => s.settings);
  // A model a request could load: not one with a config error or a missing file.
  const sampleModel = useStore((s) => s.names.find((n) => s.models[n]?.status === 'ok') ?? null);
  const base = baseUrlOf(server);
  const apiKey = settings?.api_key ?? '';
  return (
    <section className="view api-view" aria-labelledby="api-title">
      <header className="view-head">
        <h1 id="api-title">API</h1>
        <p className="muted">The OpenAI-compatible API other apps use to reach your models. Loadout loads a model when a request names it.</p>
      </header>
      {settings && <LanWarning settings={settings} server={server} />}
      <div className="api-grid">
        <section className="panel" aria-labelledby="api-server">
          <h2 id="api-server">Server</h2>
          <StatusLine server={server} settings={settings} />
          <h3>Base URL</h3>
          {base ? (
            <div className="copy-line">
              <code data-testid="api-url">{base}</code>
              <CopyButton text={base} label="Copy the base URL" />
            </div>
          ) : (
            <p className="muted">Not known yet.</p>
          )}
          <h3>API key</h3>
          <KeyLine apiKey={apiKey} />
        </section>
        <section className="panel" aria-labelledby="api-howto">
          <h2 id="api-howto">How to use</h2>
          <p className="muted">
            In an OpenAI client, set the base URL{apiKey ? ' and the API key' : ' (any API key works)'}; the model is a name from <a href={routeHref('models')}>Models</a>.
          </p>
          {base && (
            <div className="snippet-box">
              <pre className="snippet" data-testid="api-sample">{curlExample(base, sampleModel ?? 'MODEL', apiKey !== '')}</pre>
              <CopyButton text={curlExample(base, sampleModel ?? 'MODEL', apiKey !== '')} label="Copy the example request" />
            </div>
          )}
        </section>
      </div>
      <h2 className="requests-title">Requests</h2>
      <RequestLog base={base} />
    </section>
  );
}
