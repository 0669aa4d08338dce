/**
 * A minimal status view over the contract: the model list with load/unload. The full model
 * manager GUI (React + zustand) replaces it; it talks through the same bridge.
 */
import type { LoadoutBridge } from '../../shared/contract';
import type { ModelRow } from '../../shared/model';

declare global {
  interface Window {
    loadout?: LoadoutBridge;
  }
}

const bridge = window.loadout;
const rows = new Map<string, ModelRow>();
const tbody = document.getElementById('models')!;
const summary = document.getElementById('summary')!;
const message = document.getElementById('message')!;

function size(bytes: number | null): string {
  return bytes === null ? '' : `${(bytes / 1024 ** 2).toFixed(1)} MB`;
}

function render(): void {
  tbody.replaceChildren(
    ...[...rows.values()].map((m) => {
      const tr = document.createElement('tr');
      const cells = [m.name, m.failure ? `${m.state}: ${m.failure.message}` : m.error ? `${m.status}: ${m.error}` : m.state, m.groups.join(', '), size(m.sizeBytes), m.lastUsed ?? ''];
      for (const text of cells) {
        const td = document.createElement('td');
        td.textContent = text;
        tr.append(td);
      }
      const td = document.createElement('td');
      const button = document.createElement('button');
      const resident = m.state === 'ready' || m.state === 'busy';
      button.textContent = resident ? 'Unload' : 'Load';
      button.disabled = m.status !== 'ok' || m.state === 'stopping';
      button.onclick = () => void run(resident ? 'unload' : 'load', m.name);
      td.append(button);
      tr.append(td);
      return tr;
    }),
  );
  const loaded = [...rows.values()].filter((m) => m.state === 'ready' || m.state === 'busy').length;
  summary.textContent = `${rows.size} models, ${loaded} loaded`;
}

async function run(name: 'load' | 'unload', model: string): Promise<void> {
  message.textContent = '';
  const outcome = await bridge!.invoke(name, model);
  if (!outcome.ok) message.textContent = outcome.error.message;
}

async function start(): Promise<void> {
  if (!bridge) {
    summary.textContent = 'This page must be opened from Loadout.';
    return;
  }
  bridge.onEvent((event) => {
    if (event.type === 'model') rows.set(event.row.name, event.row);
    else if (event.type === 'removed') rows.delete(event.name);
    else return;
    render();
  });
  const snap = await bridge.invoke('snapshot');
  if (!snap.ok) {
    message.textContent = snap.error.message;
    return;
  }
  for (const m of snap.value.models) rows.set(m.name, m);
  render();
}

void start();
