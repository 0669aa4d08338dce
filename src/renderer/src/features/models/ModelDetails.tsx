/**
 * A model's details and its edit form: groups, pinned, ttl, context size and parallel slots,
 * written to its YAML by the core (C6: comments and unknown keys kept; a bare GGUF gets a YAML).
 */
import { useEffect, useState } from 'react';
import type { FormEvent, ReactNode } from 'react';
import type { ModelConfigPatch } from '../../../../shared/contract';
import type { ModelRow } from '../../../../shared/model';
import { formatVram, placementWords } from '../../../../shared/gpu';
import { navigate, routeHref } from '../../router';
import { conflictsOf } from '../../store/selectors';
import { useStore } from '../../store/store';
import { formatBytes, formatClock, formatCount } from '../../ui/format';
import { StateBadge } from '../../ui/StateBadge';
import { ReplicaBadges } from '../nodes/ReplicaBadges';
import { saveModel } from './actions';

interface FormValues {
  groups: string;
  pinned: boolean;
  ttl: string;
  context: string;
  parallel: string;
  minReplicas: string;
  maxReplicas: string;
  selector: string;
}

/** D35: a node selector as the form shows it, `k=v` pairs separated by commas. */
export function selectorText(selector: Record<string, string> | undefined): string {
  return Object.entries(selector ?? {})
    .map(([k, v]) => `${k}=${v}`)
    .join(', ');
}

/** The form's selector text as labels, or an error sentence (the keys and values `--labels` takes). */
export function parseSelector(text: string): Record<string, string> | string {
  const out: Record<string, string> = {};
  for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9_.\-/]{1,63})\s*=\s*([A-Za-z0-9_.\-]{0,63})$/.exec(pair);
    if (!m) return `Node selector: "${pair}" is not a label=value pair (letters, digits, _ . - and / in the label); separate pairs with commas.`;
    out[m[1]] = m[2];
  }
  return out;
}

const valuesOf = (row: ModelRow): FormValues => ({
  groups: row.groups.join(', '),
  pinned: row.pinned,
  ttl: row.ttl === null ? '' : String(row.ttl),
  context: row.contextSize === null ? '' : String(row.contextSize),
  parallel: String(row.parallel),
  minReplicas: row.cluster?.min_replicas === undefined ? '' : String(row.cluster.min_replicas),
  maxReplicas: row.cluster?.max_replicas === undefined ? '' : String(row.cluster.max_replicas),
  selector: selectorText(row.cluster?.node_selector),
});

/** The changed fields as a patch, or an error sentence for a bad value. */
export function patchOf(before: FormValues, now: FormValues): { patch: ModelConfigPatch } | { error: string } {
  const patch: ModelConfigPatch = {};
  const num = (text: string, what: string, min: number): number | null | string => {
    if (text.trim() === '') return null;
    const n = Number(text);
    return Number.isInteger(n) && n >= min ? n : `${what} must be a whole number of at least ${min}, or empty`;
  };
  if (now.groups !== before.groups) {
    const groups = now.groups.split(',').map((g) => g.trim()).filter(Boolean);
    const bad = groups.find((g) => !/^[\w.-]+$/.test(g));
    if (bad) return { error: `Group "${bad}" may only use letters, digits, ".", "_" and "-"; separate groups with commas.` };
    patch.concurrency_groups = [...new Set(groups)];
  }
  if (now.pinned !== before.pinned) patch.pinned = now.pinned;
  if (now.ttl !== before.ttl) {
    const v = num(now.ttl, 'Unload after idle (ttl)', 0);
    if (typeof v === 'string') return { error: v };
    patch.ttl = v;
  }
  if (now.context !== before.context) {
    const v = num(now.context, 'Context size', 1);
    if (typeof v === 'string') return { error: v };
    patch.context_size = v;
  }
  if (now.parallel !== before.parallel) {
    const v = num(now.parallel, 'Parallel slots', 1);
    if (typeof v === 'string') return { error: v };
    patch.parallel = v;
  }
  // D35: the cluster block is written whole when any of its fields changed.
  if (now.minReplicas !== before.minReplicas || now.maxReplicas !== before.maxReplicas || now.selector !== before.selector) {
    const min = num(now.minReplicas, 'Minimum replicas', 0);
    if (typeof min === 'string') return { error: min };
    const max = num(now.maxReplicas, 'Maximum replicas', 0);
    if (typeof max === 'string') return { error: max };
    if (min !== null && max !== null && min > max) return { error: `Minimum replicas (${min}) cannot be more than maximum replicas (${max}).` };
    const selector = parseSelector(now.selector);
    if (typeof selector === 'string') return { error: selector };
    const empty = min === null && max === null && Object.keys(selector).length === 0;
    patch.cluster = empty ? null : { min_replicas: min, max_replicas: max, node_selector: Object.keys(selector).length > 0 ? selector : null };
  }
  return { patch };
}

/** D35: the row's replica policy in a few words ("replicas 1-3 · gpu=cuda"), or null without one. */
export function clusterPolicyText(row: Pick<ModelRow, 'cluster'>): string | null {
  const c = row.cluster;
  if (!c) return null;
  const parts: string[] = [];
  if (c.min_replicas !== undefined || c.max_replicas !== undefined) {
    const min = c.min_replicas ?? 0;
    const max = c.max_replicas ?? Math.max(1, min);
    parts.push(min === max ? `replicas ${min}` : `replicas ${min}-${max}`);
  }
  const sel = selectorText(c.node_selector);
  if (sel) parts.push(`on ${sel}`);
  return parts.length > 0 ? parts.join(' · ') : null;
}

function EditForm({ row }: { row: ModelRow }) {
  const inCluster = useStore((s) => s.cluster !== null);
  const [values, setValues] = useState(() => valuesOf(row));
  const [base, setBase] = useState(() => valuesOf(row));
  const [message, setMessage] = useState<{ kind: 'error' | 'ok'; text: string } | null>(null);
  const [saving, setSaving] = useState(false);
  const current = valuesOf(row);
  const dirty = JSON.stringify(values) !== JSON.stringify(base);

  // The YAML changed on disk (or another window saved): follow it unless the user is mid-edit.
  const currentKey = JSON.stringify(current);
  useEffect(() => {
    if (!dirty) {
      setValues(current);
      setBase(current);
    }
  }, [currentKey]);

  const set = <K extends keyof FormValues>(k: K, v: FormValues[K]) => {
    setValues((old) => ({ ...old, [k]: v }));
    setMessage(null);
  };

  async function submit(e: FormEvent) {
    e.preventDefault();
    const r = patchOf(base, values);
    if ('error' in r) {
      setMessage({ kind: 'error', text: r.error });
      return;
    }
    if (Object.keys(r.patch).length === 0) {
      setMessage({ kind: 'ok', text: 'Nothing changed.' });
      return;
    }
    setSaving(true);
    const error = await saveModel(row.name, r.patch);
    setSaving(false);
    if (error) {
      setMessage({ kind: 'error', text: error });
      return;
    }
    setBase(values);
    setMessage({ kind: 'ok', text: `Saved to ${row.configPath ?? 'its YAML file'}.` });
  }

  return (
    <form className="edit-form" onSubmit={(e) => void submit(e)} aria-label={`Settings of ${row.name}`}>
      <label>
        <span>Concurrency groups</span>
        <input name="groups" value={values.groups} onChange={(e) => set('groups', e.target.value)} placeholder="e.g. gpu-heavy, big" />
        <small>Models sharing a group are never loaded together. Comma-separated.</small>
      </label>
      <label className="check">
        <input type="checkbox" name="pinned" checked={values.pinned} onChange={(e) => set('pinned', e.target.checked)} />
        <span>Pinned: never unloaded to make room</span>
      </label>
      <label>
        <span>Unload after idle (ttl, seconds)</span>
        <input name="ttl" inputMode="numeric" value={values.ttl} onChange={(e) => set('ttl', e.target.value)} placeholder="empty: the global idle timeout" />
      </label>
      <label>
        <span>Context size (tokens)</span>
        <input name="context_size" inputMode="numeric" value={values.context} onChange={(e) => set('context', e.target.value)} placeholder={`empty: from the model file${row.gguf?.contextLength ? ` (${row.gguf.contextLength})` : ''}`} />
      </label>
      <label>
        <span>Parallel slots</span>
        <input name="parallel" inputMode="numeric" value={values.parallel} onChange={(e) => set('parallel', e.target.value)} />
        <small>Requests it answers at the same time.</small>
      </label>
      <details className="cluster-fields" open={inCluster || !!row.cluster}>
        <summary>Cluster replicas</summary>
        <label>
          <span>Minimum replicas</span>
          <input name="min_replicas" inputMode="numeric" value={values.minReplicas} onChange={(e) => set('minReplicas', e.target.value)} placeholder="empty: 0 (loaded on demand)" />
          <small>Kept loaded on this many nodes, without waiting for a request.</small>
        </label>
        <label>
          <span>Maximum replicas</span>
          <input name="max_replicas" inputMode="numeric" value={values.maxReplicas} onChange={(e) => set('maxReplicas', e.target.value)} placeholder="empty: 1, or the minimum if higher" />
          <small>More are added while every replica is busy, up to this many.</small>
        </label>
        <label>
          <span>Node selector</span>
          <input name="node_selector" value={values.selector} onChange={(e) => set('selector', e.target.value)} placeholder="e.g. gpu=cuda, zone=lab" />
          <small>Only nodes with all these labels run it (a worker's --labels).</small>
        </label>
      </details>
      {message && (
        <p className={message.kind === 'error' ? 'error' : 'ok'} role={message.kind === 'error' ? 'alert' : 'status'}>
          {message.text}
        </p>
      )}
      <div className="form-actions">
        <button type="submit" className="primary" disabled={saving || !dirty}>
          {saving ? 'Saving…' : 'Save'}
        </button>
        <button type="button" disabled={saving || !dirty} onClick={() => { setValues(base); setMessage(null); }}>
          Revert
        </button>
      </div>
      {row.reloadPending && <p className="warn">Its load settings changed: unload and load it again to apply them.</p>}
    </form>
  );
}

function Fact({ label, children }: { label: string; children: ReactNode }) {
  return (
    <>
      <dt>{label}</dt>
      <dd>{children}</dd>
    </>
  );
}

export function ModelDetails({ name }: { name: string }) {
  const row = useStore((s) => s.models[name]);
  const conflicts = useStore((s) => conflictsOf(s.models, s.groups, name).join(', '));
  const close = () => navigate('models');
  useEffect(() => {
    const onKey = (e: KeyboardEvent) => {
      if (e.key === 'Escape' && !document.querySelector('dialog[open]')) close();
    };
    window.addEventListener('keydown', onKey);
    return () => window.removeEventListener('keydown', onKey);
  }, []);

  if (!row) {
    return (
      <aside className="drawer" aria-label="Model details">
        <p>There is no model named “{name}” (it may have been removed from the models folder).</p>
        <button type="button" onClick={close}>Close</button>
      </aside>
    );
  }
  const g = row.gguf;
  return (
    <aside className="drawer" aria-label={`Details of ${row.name}`}>
      <header className="drawer-head">
        <h2>{row.name}</h2>
        <button type="button" className="link" onClick={close} aria-label="Close details">
          Close ✕
        </button>
      </header>
      <StateBadge row={row} />
      {row.status === 'error' && <p className="error">Config error: {row.error}</p>}
      {row.status === 'not_downloaded' && <p className="warn">Not downloaded: {row.error}</p>}
      {row.failure && row.state === 'failed' && (
        <div className="failure-box" role="alert">
          <strong>{row.failure.message}</strong>
          {row.failure.stderr && <pre>{row.failure.stderr}</pre>}
          <small>
            {row.failure.code}
            {row.failure.exitCode !== null ? ` · exit code ${row.failure.exitCode}` : ''}
            {row.failure.signal ? ` · ${row.failure.signal}` : ''} · <a href={routeHref('logs', row.name)}>open its log</a>
          </small>
        </div>
      )}
      {row.templateWarning && <p className="warn">{row.templateWarning}</p>}
      {row.warnings?.map((w) => (
        <p key={w} className="warn" data-testid="config-warning">
          {w}
        </p>
      ))}
      {row.onNodes ? (
        <p className="muted" data-testid="on-nodes-note">Only {row.onNodes.join(', ')} {row.onNodes.length === 1 ? 'has' : 'have'} this model: its settings are edited in its YAML there.</p>
      ) : (
        row.status !== 'error' && <EditForm key={row.name} row={row} />
      )}
      <dl className="facts">
        <Fact label="Backend">{row.backend}{row.remote ? ` (remote ${row.address ?? ''})` : ''}</Fact>
        <Fact label="File">{row.file ?? '-'}</Fact>
        <Fact label="Config">{row.configPath ?? 'none (a bare GGUF; saving writes one next to it)'}</Fact>
        <Fact label="Size">{formatBytes(row.sizeBytes)}</Fact>
        {row.cluster && <Fact label="Cluster">{clusterPolicyText(row) ?? 'an empty cluster block'}</Fact>}
        {g && <Fact label="Architecture">{g.architecture ?? '-'}</Fact>}
        {g && <Fact label="Parameters">{formatCount(g.parameterCount)}</Fact>}
        {g && <Fact label="Quantization">{g.quantization ?? '-'}</Fact>}
        {g && <Fact label="Trained context">{formatCount(g.contextLength)}</Fact>}
        <Fact label="Memory">
          {row.memory.estimateBytes !== null ? `${formatBytes(row.memory.estimateBytes)} estimated` : 'no estimate (no local model file)'}
          {row.memory.rssBytes !== null ? `, ${formatBytes(row.memory.rssBytes)} measured` : ''}
        </Fact>
        {(row.memory.vramBytes !== null || row.memory.vramEstimateBytes !== null) && (
          <Fact label="VRAM">
            {[
              row.memory.vramEstimateBytes !== null ? `${formatVram(row.memory.vramEstimateBytes)} estimated` : null,
              row.memory.vramBytes !== null ? `${formatVram(row.memory.vramBytes)} measured` : null,
            ]
              .filter(Boolean)
              .join(', ')}
          </Fact>
        )}
        {row.replicas && (
          <Fact label="Replicas">
            {row.replicas.length === 0 ? 'none loaded in the cluster' : <ReplicaBadges replicas={row.replicas} max={Infinity} />}
          </Fact>
        )}
        {row.placement && <Fact label="Runs on">{placementWords(row.placement)}</Fact>}
        <Fact label="Never loaded with">{conflicts || 'no other model (no shared groups)'}</Fact>
        {row.pid !== null && <Fact label="Process">pid <span data-testid="pid">{row.pid}</span>{row.address ? ` on ${row.address}` : ''}</Fact>}
        {row.loadedAt && <Fact label="Loaded at">{formatClock(row.loadedAt)}</Fact>}
      </dl>
    </aside>
  );
}
