/**
 * The conversation's settings: system prompt and sampling. An empty field means the model's own
 * default (its config, C2), and says so. Saved with updateConversation, by its Save button or by
 * the next send: what the panel shows is what the answer uses. Closing it drops unsaved changes.
 */
import { useEffect } from 'react';
import type { ChatParams } from '../../../../shared/chat';
import { useStore } from '../../store/store';
import { saveParamsEdit } from './actions';
import { useChat } from './chatStore';
import { FIELDS, NO_EDIT, toDraft } from './paramsDraft';
import type { Draft } from './paramsDraft';

/** What an empty field means, with the value: "model default (0.7)". */
function defaultText(value: number | null | undefined, none: string): string {
  if (value === undefined) return 'model default';
  return `model default (${value === null ? none : value})`;
}

export function ParamsPanel({ conversationId, model, params, onClose }: { conversationId: string; model: string | null; params: ChatParams; onClose: () => void }) {
  const defaults = useStore((s) => (model ? s.models[model]?.sampling : undefined));
  const edit = useChat((s) => s.paramsEdits[conversationId]) ?? NO_EDIT;
  // Unchanged fields show the saved settings, also when they change elsewhere (the other window).
  const draft = edit.draft ?? toDraft(params);
  const dirty = edit.draft !== null;

  useEffect(() => () => useChat.getState().setParamsEdit(conversationId, null), [conversationId]);

  const set = (key: keyof Draft, value: string) => {
    const s = useChat.getState();
    const current = s.paramsEdits[conversationId]?.draft ?? toDraft(s.summaries[conversationId]?.params ?? params);
    s.setParamsEdit(conversationId, { draft: { ...current, [key]: value }, error: null, saved: false });
  };

  return (
    <form
      className="params"
      aria-label="Conversation settings"
      onSubmit={(e) => {
        e.preventDefault();
        void saveParamsEdit(conversationId);
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
              placeholder={defaultText(defaults?.[f.key], f.key === 'seed' ? 'random' : 'no limit')}
              aria-invalid={edit.field === f.key ? true : undefined}
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
        {edit.error && (
          <span className="error" role="alert">
            {edit.error}
          </span>
        )}
        {edit.saved && !dirty && (
          <span className="ok" role="status">
            Saved.
          </span>
        )}
      </div>
    </form>
  );
}
