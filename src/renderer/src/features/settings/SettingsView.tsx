/**
 * Settings: every loader setting, rendered from SETTINGS_SCHEMA (so a new setting shows up here by
 * itself), checked with the same rules as the core before saving; and the external backends.
 */
import { useEffect, useState } from 'react';
import type { FormEvent } from 'react';
import type { Settings } from '../../../../shared/model';
import { SETTINGS_SCHEMA, SETTING_KEYS, coerceSetting } from '../../../../shared/settings';
import { api } from '../../store/connect';
import { useStore } from '../../store/store';
import { BackendsSection } from './BackendsSection';
import { autoVramBudget, label, sizeText, valueHint } from './hints';

type Key = keyof Settings;

const SECTIONS: { title: string; note?: string; keys: Key[] }[] = [
  { title: 'Loading and eviction', keys: ['max_active_models', 'idle_timeout', 'eviction_wait', 'unload_grace', 'load_failure_cooldown', 'max_queue', 'threads_budget'] },
  { title: 'Time limits', keys: ['start_timeout', 'load_timeout', 'stall_timeout'] },
  { title: 'Memory', keys: ['memory_budget', 'memory_reclaimer', 'memory_threshold'] },
  { title: 'GPU', note: 'The built-in backend runs models on the GPU it finds and fits as many layers as the VRAM allows; these settings bound what Loadout takes.', keys: ['gpu', 'vram_budget', 'vram_reserve', 'vram_reclaimer', 'vram_threshold'] },
  { title: 'Folders', keys: ['models_dir', 'data_dir'] },
  { title: 'Local API', note: 'The OpenAI-compatible API for other apps on this computer.', keys: ['api_enabled', 'api_port', 'api_lan', 'api_key', 'api_allowed_origins', 'api_body_limit', 'api_load_wait'] },
  { title: 'Desktop app', keys: ['close_to_tray', 'chat_shortcut'] },
];
const LISTED = new Set(SECTIONS.flatMap((s) => s.keys));
const OTHER = SETTING_KEYS.filter((k) => !LISTED.has(k));
if (OTHER.length > 0) SECTIONS.push({ title: 'Other', keys: OTHER });

/** Fixed where Loadout was started (it holds the settings file itself). */
const READ_ONLY: Partial<Record<Key, string>> = { data_dir: 'set with --data when starting Loadout' };

type Draft = Record<Key, string | boolean>;

function draftOf(s: Settings): Draft {
  const d = {} as Draft;
  for (const k of SETTING_KEYS) {
    const v = s[k];
    d[k] = typeof v === 'boolean' ? v : Array.isArray(v) ? v.join(', ') : SETTINGS_SCHEMA[k].kind === 'size' ? sizeText(Number(v)) : String(v);
  }
  return d;
}

function SettingsForm({ settings, flags }: { settings: Settings; flags: Key[] }) {
  const gpus = useStore((s) => s.gpus);
  const [base, setBase] = useState(() => draftOf(settings));
  const [draft, setDraft] = useState(base);
  const [errors, setErrors] = useState<Partial<Record<Key, string>>>({});
  const [message, setMessage] = useState<{ kind: 'ok' | 'error'; text: string } | null>(null);
  const [saving, setSaving] = useState(false);
  const changed = SETTING_KEYS.filter((k) => draft[k] !== base[k]);
  // An edited field's old error no longer describes what it holds.
  const edit = (k: Key, value: Draft[Key]) => {
    setDraft({ ...draft, [k]: value });
    if (errors[k]) setErrors({ ...errors, [k]: undefined });
  };

  // Saved elsewhere (another window, the API, a flag): follow unless the user is editing.
  const incoming = JSON.stringify(draftOf(settings));
  useEffect(() => {
    if (changed.length === 0) {
      const next = draftOf(settings);
      setBase(next);
      setDraft(next);
    }
  }, [incoming]);

  async function submit(e: FormEvent) {
    e.preventDefault();
    const patch: Record<string, unknown> = {};
    const bad: Partial<Record<Key, string>> = {};
    for (const k of changed) {
      const r = coerceSetting(k, draft[k]);
      if (r.ok) patch[k] = r.value;
      else bad[k] = r.error;
    }
    setErrors(bad);
    if (Object.keys(bad).length > 0) {
      setMessage({ kind: 'error', text: 'Some values are not valid; nothing was saved. See the marked fields.' });
      return;
    }
    setSaving(true);
    const r = await api().invoke('updateSettings', patch as Partial<Settings>);
    setSaving(false);
    if (!r.ok) {
      // The core names the setting first ("max_active_models must be..."): mark that field too.
      const key = SETTING_KEYS.find((k) => r.error.message.startsWith(k));
      if (key) setErrors({ [key]: r.error.message });
      setMessage({ kind: 'error', text: r.error.message });
      return;
    }
    const next = draftOf(r.value);
    setBase(next);
    setDraft(next);
    setMessage({ kind: 'ok', text: `Saved ${changed.length} setting${changed.length === 1 ? '' : 's'}. They apply now.` });
  }

  return (
    <form className="settings-form" onSubmit={(e) => void submit(e)} aria-label="Loader settings">
      {SECTIONS.map((section) => (
        <fieldset key={section.title}>
          <legend>{section.title}</legend>
          {section.note && <p className="muted">{section.note}</p>}
          {section.keys.map((k) => {
            const field = SETTINGS_SCHEMA[k];
            const id = `setting-${k}`;
            const err = errors[k];
            const readOnly = READ_ONLY[k];
            const value = draft[k];
            // Not what settings.json holds: a flag set it for this run only.
            const flagged = flags.includes(k) && !readOnly;
            return (
              <div key={k} className={`setting${err ? ' invalid' : ''}${value !== base[k] ? ' changed' : ''}`}>
                {field.kind === 'bool' ? (
                  <label className="check" htmlFor={id}>
                    <input id={id} name={k} type="checkbox" checked={value === true} onChange={(e) => edit(k, e.target.checked)} />
                    <span>{label(k)}</span>
                  </label>
                ) : (
                  <label htmlFor={id}>{label(k)}</label>
                )}
                {field.kind === 'choice' && (
                  <select id={id} name={k} value={String(value)} aria-invalid={!!err} aria-describedby={`${id}-help`} onChange={(e) => edit(k, e.target.value)}>
                    {field.choices?.map((c) => (
                      <option key={c} value={c}>
                        {c}
                      </option>
                    ))}
                  </select>
                )}
                {field.kind !== 'bool' && field.kind !== 'choice' && (
                  <input
                    id={id}
                    name={k}
                    type={k === 'api_key' ? 'password' : 'text'}
                    inputMode={field.kind === 'int' || field.kind === 'duration' || field.kind === 'fraction' || field.kind === 'port' ? 'decimal' : undefined}
                    value={String(value)}
                    readOnly={!!readOnly}
                    aria-invalid={!!err}
                    aria-describedby={`${id}-help`}
                    onChange={(e) => edit(k, e.target.value)}
                  />
                )}
                {flagged && (
                  <small className="flag-note" data-testid={`flag-${k}`}>
                    set by --{k.replace(/_/g, '-')} for this run (not saved; saving a value here replaces the flag)
                  </small>
                )}
                <small id={`${id}-help`}>
                  {field.help}
                  {readOnly ? ` (${readOnly})` : ''}
                  {valueHint(k, value)}
                  {k === 'vram_budget' ? autoVramBudget(gpus, value, draft.vram_reserve) : ''}
                  {field.kind === 'strings' ? ' (comma-separated)' : ''}
                </small>
                {err && (
                  <small className="error" role="alert">
                    {err.startsWith(k) ? `${label(k)}${err.slice(k.length)}` : err}
                  </small>
                )}
              </div>
            );
          })}
        </fieldset>
      ))}
      <div className="form-actions sticky">
        <button type="submit" className="primary" disabled={saving || changed.length === 0}>
          {saving ? 'Saving…' : changed.length > 0 ? `Save ${changed.length} change${changed.length === 1 ? '' : 's'}` : 'Save'}
        </button>
        <button type="button" disabled={saving || changed.length === 0} onClick={() => { setDraft(base); setErrors({}); setMessage(null); }}>
          Revert
        </button>
        {message && (
          <span className={message.kind === 'error' ? 'error' : 'ok'} role={message.kind === 'error' ? 'alert' : 'status'}>
            {message.text}
          </span>
        )}
      </div>
    </form>
  );
}

export function SettingsView() {
  const settings = useStore((s) => s.settings);
  const flags = useStore((s) => s.flags);
  return (
    <section className="view settings-view" aria-labelledby="settings-title">
      <header className="view-head">
        <h1 id="settings-title">Settings</h1>
        <p className="muted">Saved to settings.json in the data folder. Flags given to “npm run serve” win over saved values for that run.</p>
      </header>
      {settings ? <SettingsForm settings={settings} flags={flags} /> : <p className="muted">Reading the settings…</p>}
      <BackendsSection />
    </section>
  );
}
