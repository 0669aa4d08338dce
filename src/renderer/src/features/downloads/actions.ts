/** What the download buttons do; a failure is shown where the user clicked (the row) or as a notice. */
import { api } from '../../store/connect';
import { useStore } from '../../store/store';
import { modelDownload } from './logic';

const ui = () => useStore.getState();

/**
 * A not-downloaded row's Download button: continues the model's paused or failed download, or
 * starts one for the file its config names.
 */
export async function downloadModel(model: string): Promise<void> {
  ui().setRowError(model, null);
  ui().setRowBusy(model, 'Starting…');
  try {
    const current = modelDownload(ui().downloads, model);
    const outcomes = current
      ? await Promise.all(current.jobs.filter((j) => j.state === 'paused' || j.state === 'failed').map((j) => api().invoke('resumeDownload', j.id)))
      : [await api().invoke('startDownload', { model })];
    const failed = outcomes.find((o) => !o.ok);
    if (failed && !failed.ok) ui().setRowError(model, failed.error.message);
  } finally {
    ui().setRowBusy(model, null);
  }
}

/** Pause, Resume (also Retry: a failed job continues, or starts over after a checksum failure) and Cancel of one job. */
export async function jobAction(action: 'pauseDownload' | 'resumeDownload' | 'cancelDownload', id: string): Promise<void> {
  const r = await api().invoke(action, id);
  if (!r.ok) ui().notify(r.error.message);
}

/** Pauses every unfinished file of a model (a row's Pause). */
export async function pauseModel(model: string): Promise<void> {
  const current = modelDownload(ui().downloads, model);
  for (const j of current?.jobs ?? []) if (j.state !== 'done' && j.state !== 'paused' && j.state !== 'failed') await jobAction('pauseDownload', j.id);
}
