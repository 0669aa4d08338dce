/**
 * What the model buttons do. Every outcome is looked at: a failure is shown on the model's row in
 * the core's words (written for the user), never dropped.
 */
import type { ModelConfigPatch } from '../../../../shared/contract';
import type { ModelRow } from '../../../../shared/model';
import { api } from '../../store/connect';
import { useStore } from '../../store/store';

const ui = () => useStore.getState();

/** Runs a model command with the row marked busy; its error (if any) goes on the row. */
async function onRow<T>(model: string, busy: string, run: () => Promise<{ ok: true; value: T } | { ok: false; error: { message: string; code: string } }>): Promise<T | null> {
  ui().setRowError(model, null);
  ui().setRowBusy(model, busy);
  try {
    const r = await run();
    if (!r.ok) {
      // A load the user cancelled is not an error to show.
      if (r.error.code !== 'cancelled') ui().setRowError(model, r.error.message);
      return null;
    }
    return r.value;
  } finally {
    ui().setRowBusy(model, null);
  }
}

/**
 * Load, after the dry run: loads at once when nothing would unload; otherwise the plan dialog
 * asks first (or says why the load is blocked) and nothing happens until the user confirms.
 */
export async function requestLoad(model: string): Promise<void> {
  const plan = await onRow(model, 'Checking…', () => api().invoke('plan', model));
  if (!plan) return;
  if (!plan.ok || plan.unloads.length > 0) {
    ui().openPlan({ model, plan });
    return;
  }
  await load(model);
}

export async function load(model: string): Promise<void> {
  ui().setRowError(model, null);
  // Not marked busy: the row's own state (starting, loading) shows progress and offers Cancel.
  const r = await api().invoke('load', model);
  if (!r.ok && r.error.code !== 'cancelled') ui().setRowError(model, r.error.message);
}

export const unload = (model: string, force = false) => onRow(model, force ? 'Force unloading…' : 'Unloading…', () => api().invoke('unload', model, { force }));

export const cancelLoad = (model: string) => onRow(model, 'Cancelling…', () => api().invoke('cancelLoad', model));

export const setPinned = (model: string, pinned: boolean) => onRow(model, pinned ? 'Pinning…' : 'Unpinning…', () => api().invoke('pin', model, pinned));

/** Saves the edit form; returns the error message for the form, or null when saved. */
export async function saveModel(model: string, patch: ModelConfigPatch): Promise<string | null> {
  const r = await api().invoke('updateModel', model, patch);
  return r.ok ? null : r.error.message;
}

export function canLoad(row: ModelRow): boolean {
  return row.status === 'ok' && (row.state === 'unloaded' || row.state === 'failed');
}
