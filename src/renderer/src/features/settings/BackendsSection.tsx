/** External backends (L8): a LocalAI backend program, or a host:port of a backend elsewhere, with a connection test. */
import { useCallback, useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import type { BackendEntry, EngineBuildStatus, LlamaServerStatus } from '../../../../shared/model';
import { api } from '../../store/connect';

export function BackendsSection() {
  const [list, setList] = useState<BackendEntry[] | null>(null);
  const [error, setError] = useState<string | null>(null);
  const [name, setName] = useState('');
  const [target, setTarget] = useState('');
  const [test, setTest] = useState<{ ok: boolean; message: string } | null>(null);
  const [working, setWorking] = useState<string | null>(null);

  const refresh = useCallback(async () => {
    const r = await api().invoke('backends');
    if (r.ok) setList(r.value);
    else setError(r.error.message);
  }, []);
  useEffect(() => void refresh(), [refresh]);

  async function runTest() {
    setWorking('test');
    setTest(null);
    const r = await api().invoke('testBackend', target.trim());
    setWorking(null);
    setTest(r.ok ? r.value : { ok: false, message: r.error.message });
  }

  async function add(e: FormEvent) {
    e.preventDefault();
    setWorking('add');
    setError(null);
    const r = await api().invoke('addBackend', { name: name.trim(), target: target.trim() });
    setWorking(null);
    if (!r.ok) {
      setError(r.error.message);
      return;
    }
    setName('');
    setTarget('');
    setTest(null);
    await refresh();
  }

  async function remove(n: string) {
    setError(null);
    const r = await api().invoke('removeBackend', n);
    if (!r.ok) setError(r.error.message);
    await refresh();
  }

  return (
    <fieldset className="backends" aria-labelledby="backends-title">
      <legend id="backends-title">Backends</legend>
      <p className="muted">
        Programs that run models. Add a LocalAI backend binary (started as <code>program --addr 127.0.0.1:port</code>) or the <code>host:port</code> of a backend running
        elsewhere; a model uses it with <code>backend: name</code> in its YAML.
      </p>
      <LlamaServerNote />
      <EngineBuildPanel />
      {list && (
        <table className="backend-table">
          <thead>
            <tr>
              <th scope="col">Name</th>
              <th scope="col">Program or address</th>
              <th scope="col">Kind</th>
              <th />
            </tr>
          </thead>
          <tbody>
            {list.map((b) => (
              <tr key={b.name} data-backend={b.name}>
                <td>{b.name}</td>
                <td className="mono">{b.target}</td>
                <td>{b.builtin ? 'built-in' : b.kind === 'remote' ? 'remote' : 'program'}</td>
                <td>
                  {!b.builtin && (
                    <button type="button" onClick={() => void remove(b.name)} aria-label={`Remove backend ${b.name}`}>
                      Remove
                    </button>
                  )}
                </td>
              </tr>
            ))}
          </tbody>
        </table>
      )}
      <form className="add-backend" onSubmit={(e) => void add(e)} aria-label="Add a backend">
        <label>
          <span>Name</span>
          <input name="backend-name" value={name} onChange={(e) => setName(e.target.value)} placeholder="e.g. gpu-box" required />
        </label>
        <label className="grow">
          <span>Program path or host:port</span>
          <input
            name="backend-target"
            value={target}
            onChange={(e) => {
              setTarget(e.target.value);
              setTest(null);
            }}
            placeholder="/opt/localai/backends/llama-cpp/grpc-server or 192.168.1.20:50051"
            required
          />
        </label>
        <button type="button" onClick={() => void runTest()} disabled={!target.trim() || working !== null}>
          {working === 'test' ? 'Testing…' : 'Test connection'}
        </button>
        <button type="submit" className="primary" disabled={!name.trim() || !target.trim() || working !== null}>
          Add backend
        </button>
      </form>
      {test && (
        <p className={test.ok ? 'ok' : 'error'} role="status" data-testid="backend-test">
          {test.ok ? '✓ ' : '✗ '}
          {test.message}
        </p>
      )}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </fieldset>
  );
}

/** Engine 1: the llama-server a model with `backend: llama-server` would run, with its --version. */
function LlamaServerNote() {
  const [status, setStatus] = useState<LlamaServerStatus | null>(null);
  useEffect(() => {
    void api()
      .invoke('llamaServer')
      .then((r) => r.ok && setStatus(r.value));
  }, []);
  if (!status) return null;
  if (!status.path) {
    return (
      <p className="muted" data-testid="llama-server-note">
        llama-server (llama.cpp's own server): not found. {status.why}.
      </p>
    );
  }
  const where = status.source === 'built' ? 'built by npm run build-llama-server' : status.source === 'path' ? 'on PATH' : 'from the llama_server_path setting';
  return (
    <p className="muted" data-testid="llama-server-note">
      llama-server (llama.cpp's own server) is available: <code>{status.version ?? 'did not run'}</code> at <code>{status.path}</code> ({where};{' '}
      {status.devices.length > 0 ? status.devices.join(', ') : 'CPU only'}). A model uses it with <code>backend: llama-server</code> in its YAML
      {status.faster ? '; it is the faster option on this machine.' : '.'}
      {status.why ? ` ${status.why}` : ''}
    </p>
  );
}

/**
 * Engine 2, "optimize for this machine": a local build of the built-in engine's llama.cpp binding.
 * Polled once a second while it builds (a rare, minutes-long job: no event stream for it).
 */
function EngineBuildPanel() {
  const [status, setStatus] = useState<EngineBuildStatus | null>(null);
  const [error, setError] = useState<string | null>(null);
  const apply = (r: { ok: true; value: EngineBuildStatus } | { ok: false; error: { message: string } }) => {
    if (r.ok) {
      setStatus(r.value);
      setError(null);
    } else setError(r.error.message);
  };
  useEffect(() => {
    void api().invoke('engineBuild').then(apply);
  }, []);
  const building = status?.state === 'building';
  useEffect(() => {
    if (!building) return;
    const timer = setInterval(() => void api().invoke('engineBuild').then(apply), 1000);
    return () => clearInterval(timer);
  }, [building]);
  if (!status) return null;
  return (
    <div className="engine-build" data-testid="engine-build">
      <h4>Optimize for this machine</h4>
      {!status.offered && !status.active ? (
        <p className="muted">Not offered here: {status.reason}</p>
      ) : building ? (
        <p role="status">
          Building the built-in engine for this machine{status.compiler ? ` with ${status.compiler}` : ''}:{' '}
          {status.steps > 0 ? `step ${status.step} of ${status.steps}` : 'preparing'}
          <progress max={status.steps || 1} value={status.step} aria-label="build progress" />
        </p>
      ) : status.active ? (
        <p>
          The built-in engine uses a build for this machine{status.state === 'done' ? ' (just built)' : ''}. Models loaded from now on use it; loaded ones
          switch when loaded again.{' '}
          <button type="button" onClick={() => void api().invoke('removeEngineBuild').then(apply)}>
            Use the prebuilt engine again
          </button>
        </p>
      ) : (
        <p>
          Builds the built-in engine's llama.cpp with this machine's compiler, offline, CPU only (about 10 minutes on 2 cores). Measured here: the first token
          of a long prompt on F32 models came 1.7x sooner; K-quant models (Q4_K_M) ran the same.{' '}
          <button type="button" onClick={() => void api().invoke('startEngineBuild').then(apply)}>
            {status.state === 'failed' ? 'Try again' : 'Optimize for this machine'}
          </button>
        </p>
      )}
      {status.state === 'failed' && status.error && <pre className="error">{status.error}</pre>}
      {error && (
        <p className="error" role="alert">
          {error}
        </p>
      )}
    </div>
  );
}
