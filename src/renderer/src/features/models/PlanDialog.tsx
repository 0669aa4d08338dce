/**
 * The dry run before a load (E3): what it would unload and why, with a confirm button only when
 * something would unload; a blocked load says why and offers no way to force it.
 */
import type { Plan, UnloadReason } from '../../../../shared/model';
import { formatVram } from '../../../../shared/gpu';
import { useStore } from '../../store/store';
import { Dialog } from '../../ui/Dialog';
import { load } from './actions';

const REASON: Partial<Record<UnloadReason, string>> = {
  group: 'shares a group',
  lru: 'least recently used',
  memory: 'memory budget',
  vram_pressure: 'GPU memory',
};

/** Whether the core's sentence already names VRAM (V7), so the dialog does not say it twice. */
const namesVram = (sentence: string) => /\bVRAM\b/i.test(sentence);

/** What an unload gives back on the GPU, when its sentence does not say. */
function FreesVram({ name, sentence }: { name: string; sentence: string }) {
  const vram = useStore((s) => s.models[name]?.memory.vramBytes ?? null);
  if (!vram || namesVram(sentence)) return null;
  return <div className="muted">frees {formatVram(vram)} of VRAM</div>;
}

/** The VRAM the model to load needs, before it loads (V4's estimate). */
function NeedsVram({ model, plan }: { model: string; plan: Plan }) {
  const need = useStore((s) => s.models[model]?.memory.vramEstimateBytes ?? null);
  // A load refused for VRAM (507) already names its need, the budget and what is free.
  if (!need || namesVram(plan.failure?.message ?? '')) return null;
  return (
    <p className="muted" data-testid="plan-vram">
      {model} needs about {formatVram(need)} of VRAM (estimate).
    </p>
  );
}

/** The core words it as the journal will ("unloaded b: ..."); before the fact, the reason alone reads right. */
const whyOf = (sentence: string) => sentence.replace(/^unloaded [^:]+: /, '');

export function PlanDialog() {
  const dialog = useStore((s) => s.dialog);
  const close = useStore((s) => s.openPlan);
  if (!dialog) return null;
  const { model, plan } = dialog;
  const onClose = () => close(null);

  if (!plan.ok) {
    return (
      <Dialog
        title={`${model} can't be loaded now`}
        tone="danger"
        onClose={onClose}
        actions={
          <button type="button" autoFocus onClick={onClose}>
            Close
          </button>
        }
      >
        <p className="plan-failure" data-testid="plan-failure">
          {plan.failure?.message ?? 'The load is blocked.'}
        </p>
        <NeedsVram model={model} plan={plan} />
        <p className="muted">Nothing was changed.{plan.failure?.code === 'pinned_conflict' || plan.failure?.code === 'slots_pinned' ? ' Unpin a model, or unload one yourself, to make room.' : ''}</p>
      </Dialog>
    );
  }

  const n = plan.unloads.length;
  return (
    <Dialog
      title={`Load ${model}?`}
      onClose={onClose}
      actions={
        <>
          <button type="button" onClick={onClose}>
            Cancel
          </button>
          <button
            type="button"
            className="primary"
            autoFocus
            onClick={() => {
              onClose();
              void load(model);
            }}
          >
            Unload {n} and load
          </button>
        </>
      }
    >
      <p>
        Loading <strong>{model}</strong> will unload {n === 1 ? 'this model' : `these ${n} models`} first:
      </p>
      <ul className="plan-list" data-testid="plan-unloads">
        {plan.unloads.map((u) => (
          <li key={u.name} data-unload={u.name}>
            <strong>{u.name}</strong> <span className={`badge reason reason-${u.reason}`}>{REASON[u.reason] ?? u.reason}</span>
            <div className="muted">{whyOf(u.sentence)}</div>
            <FreesVram name={u.name} sentence={u.sentence} />
          </li>
        ))}
      </ul>
      <NeedsVram model={model} plan={plan} />
    </Dialog>
  );
}
