/**
 * The conversation's settings: system prompt and sampling. An empty field means the model's own
 * default (its config, C2), and says so. Saved with updateConversation.
 */
import { useEffect, useState } from 'react';
import type { ChatParams } from '../../../../shared/chat';
import { saveParams } from './actions';

type Field = 'temperature' | 'top_p' | 'max_tokens' | 'seed';

interface Draft {
  system_prompt: string;
  temperature: string;
  top_p: string;
  max_tokens: string;
  seed: string;
}

const toDraft = (p: ChatParams): Draft => ({
  system_prompt: p.system_prompt,
  temperature: p.temperature === null ? '' : String(p.temperature),
  top_p: p.top_p === null ? '' : String(p.top_p),
  max_tokens: p.max_tokens === null ? '' : String(p.max_tokens),
  seed: p.seed === null ? '' : String(p.seed),
});

const FIELDS: { key: Field; label: string; hint: string; step: string; min?: number; max?: number; integer: boolean }[] = [
  { key: 'temperature', label: 'Temperature', hint: '0 = always the likeliest word; higher = more varied (up to 2)', step: '0.05', min: 0, max: 2, integer: false },
  { key: 'top_p', label: 'Top-p', hint: 'Sample from the likeliest words that add up to this share (0-1)', step: '0.05', min: 0, max: 1, integer: false },
  { key: 'max_tokens', label: 'Max tokens', hint: 'Longest answer, in tokens', step: '1', min: 1, integer: true },
  { key: 'seed', label: 'Seed', hint: 'The same seed and settings give the same answer', step: '1', integer: true },
];

/** The params a draft stands for, or the first field's error. Exported for tests. */
export function parseDraft(d: Draft): { params: ChatParams } | { error: string; field: Field } {
  const params: ChatParams = { system_prompt: d.system_prompt, temperature: null, top_p: null, max_tokens: null, seed: null };
  for (const f of FIELDS) {
    const raw = d[f.key].trim();
    if (raw === '') continue;
    const v = Number(raw);
    if (!Number.isFinite(v) || (f.integer && !Number.isInteger(v))) return { error: `${f.label} must be ${f.integer ? 'a whole number' : 'a number'}, or empty for the model's default.`, field: f.key };
    if ((f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max)) {
      return { error: `${f.label} must be ${f.max !== undefined ? `between ${f.min} and ${f.max}` : `at least ${f.min}`}, or empty for the model's default.`, field: f.key };
    }
    params[f.key] = v;
  }
  return { params };
}

export function ParamsPanel({ conversationId, params, onClose }: { conversationId: string; params: ChatParams; onClose: () => void }) {
  const [draft, setDraft] = useState<Draft>(() => toDraft(params));
  const [dirty, setDirty] = useState(false);
  const [status, setStatus] = useState<{ error: string | null; field?: Field; saved: boolean }>({ error: null, saved: false });

  // Changed elsewhere (the other window): shown unless the user is editing here.
  useEffect(() => {
    if (!dirty) setDraft(toDraft(params));
  }, [params, dirty]);

  const set = (key: keyof Draft, value: string) => {
    setDraft((d) => ({ ...d, [key]: value }));
    setDirty(true);
    setStatus({ error: null, saved: false });
  };

  const save = async () => {
    const parsed = parseDraft(draft);
    if ('error' in parsed) {
      setStatus({ error: parsed.error, field: parsed.field, saved: false });
      return;
    }
    const error = await saveParams(conversationId, parsed.params);
    if (error) setStatus({ error, saved: false });
    else {
      setDirty(false);
      setStatus({ error: null, saved: true });
    }
  };

  return (
    <form
      className="params"
      aria-label="Conversation settings"
      onSubmit={(e) => {
        e.preventDefault();
        void save();
      }}
      onKeyDown={(e) => {
        if (e.key === 'Escape') {
          e.preventDefault();
          onClose();
        }
      }}
    >
      <label className="params-system">
        System prompt
        <textarea value={draft.system_prompt} placeholder="None" rows={3} onChange={(e) => set('system_prompt', e.target.value)} />
        <small>Always sent first; never left out when the conversation outgrows the model's context.</small>
      </label>
      <div className="params-grid">
        {FIELDS.map((f) => (
          <label key={f.key}>
            {f.label}
            <input
              type="number"
              inputMode={f.integer ? 'numeric' : 'decimal'}
              step={f.step}
              min={f.min}
              max={f.max}
              value={draft[f.key]}
              placeholder="model default"
              aria-invalid={status.field === f.key ? true : undefined}
              onChange={(e) => set(f.key, e.target.value)}
            />
            <small>{f.hint}</small>
          </label>
        ))}
      </div>
      <div className="form-actions">
        <button type="submit" className="primary" disabled={!dirty}>
          Save settings
        </button>
        <button type="button" onClick={onClose}>
          Close
        </button>
        {status.error && (
          <span className="error" role="alert">
            {status.error}
          </span>
        )}
        {status.saved && !dirty && (
          <span className="ok" role="status">
            Saved.
          </span>
        )}
      </div>
    </form>
  );
}
