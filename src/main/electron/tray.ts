/**
 * The tray menu as data (issue 4, item 7): a pure function of the core's snapshot, so what the
 * tray shows for every model state is table-tested without Electron. Items carry an action as
 * data, not a closure, so two menus compare with `toEqual` and the controller can tell whether
 * anything changed before rebuilding a native menu. `toElectronTemplate` is the small adapter
 * that turns them into Electron's menu items with click handlers.
 */
import type { MenuItemConstructorOptions } from 'electron';
import { isOccupying, isResident } from '../../shared/model';
import type { ModelRow, Snapshot } from '../../shared/model';

export type TrayAction =
  | { kind: 'load'; model: string }
  | { kind: 'unload'; model: string }
  | { kind: 'cancel'; model: string }
  | { kind: 'unloadAll' }
  | { kind: 'openChat' }
  | { kind: 'showWindow' }
  | { kind: 'quit' };

export type TrayMenuItem =
  | { type: 'separator' }
  | {
      type: 'normal' | 'checkbox';
      label: string;
      enabled: boolean;
      checked?: boolean;
      action?: TrayAction;
      /** Shown next to the label (macOS); the global shortcut itself is registered elsewhere. */
      accelerator?: string;
      /** The long form of a failure; only macOS shows menu item tooltips. */
      toolTip?: string;
    };

export interface TrayMenuOptions {
  /** Most model rows listed; loaded and loading ones are always listed, beyond this cap if need be. */
  maxModels?: number;
  /** The chat shortcut to show beside "Open Chat" (only when it is valid). */
  chatShortcut?: string | null;
}

export const DEFAULT_TRAY_MODELS = 10;

/** Rows the tray lists: usable catalog entries, plus anything occupying memory whatever its status. */
function listable(row: ModelRow): boolean {
  return row.status === 'ok' || isOccupying(row.state);
}

const byName = (a: ModelRow, b: ModelRow): number => a.name.localeCompare(b.name, undefined, { sensitivity: 'base' });

/** A failure in a few words: the menu is narrow; the full message is in the tooltip and the window. */
export function shortFailure(row: Pick<ModelRow, 'failure'>): string {
  const f = row.failure;
  if (!f) return 'failed';
  switch (f.code) {
    case 'backend_crashed':
      return `crashed${f.signal ? ` (${f.signal})` : f.exitCode !== null ? ` (exit ${f.exitCode})` : ''}`;
    case 'timeout':
      return 'timed out';
    case 'memory':
      return 'not enough memory';
    case 'cooldown':
      return 'waiting to retry';
    default: {
      const sentence = f.message.split(/(?<=[.!?])\s|\n/)[0].replace(/[.!?]$/, '');
      return sentence.length > 40 ? `${sentence.slice(0, 39).trimEnd()}…` : sentence;
    }
  }
}

/**
 * One model's item. A click does what the state allows: load (unloaded, failed: a user load always
 * retries, L13), unload (ready, busy: the loader waits for running requests, unload_grace), cancel
 * (starting, loading: a big model can take minutes and a wrong click from the tray must be undoable
 * from the tray, L12). Stopping cannot be hurried from here, so it is shown but disabled.
 */
export function modelItem(row: ModelRow): TrayMenuItem {
  const item = (state: string | null, action: TrayAction | undefined, extra: { toolTip?: string } = {}): TrayMenuItem => ({
    type: 'checkbox',
    label: state ? `${row.name} — ${state}` : row.name,
    checked: isResident(row.state),
    enabled: action !== undefined,
    ...(action ? { action } : {}),
    ...extra,
  });
  switch (row.state) {
    case 'unloaded':
      return item(null, { kind: 'load', model: row.name });
    case 'starting':
      return item('starting… (click to cancel)', { kind: 'cancel', model: row.name });
    case 'loading': {
      // Whole percent: finer steps would rebuild the native menu for nothing.
      const pct = row.progress !== null ? ` ${Math.floor(Math.min(1, Math.max(0, row.progress)) * 100)}%` : '…';
      return item(`loading${pct} (click to cancel)`, { kind: 'cancel', model: row.name });
    }
    case 'ready':
      return item('ready', { kind: 'unload', model: row.name });
    case 'busy':
      return item(row.inFlight > 1 ? `busy (${row.inFlight} requests)` : 'busy', { kind: 'unload', model: row.name });
    case 'stopping':
      return item('unloading…', undefined);
    case 'failed':
      return item(`failed: ${shortFailure(row)}`, { kind: 'load', model: row.name }, row.failure ? { toolTip: row.failure.message } : {});
  }
}

export function buildTrayMenu(snapshot: Snapshot, opts: TrayMenuOptions = {}): TrayMenuItem[] {
  const max = opts.maxModels ?? DEFAULT_TRAY_MODELS;
  const rows = snapshot.models.filter(listable);
  // What holds memory comes first: that is what the tray is mostly opened for.
  const active = rows.filter((r) => isOccupying(r.state)).sort(byName);
  const others = rows.filter((r) => !isOccupying(r.state)).sort(byName);
  const shownOthers = others.slice(0, Math.max(0, max - active.length));
  const hidden = others.length - shownOthers.length;

  const items: TrayMenuItem[] = [];
  if (rows.length === 0) {
    items.push({ type: 'normal', label: 'No models yet — add some in the window…', enabled: true, action: { kind: 'showWindow' } });
  } else {
    items.push(...active.map(modelItem), ...shownOthers.map(modelItem));
    if (hidden > 0) items.push({ type: 'normal', label: `${hidden} more in the window…`, enabled: true, action: { kind: 'showWindow' } });
  }
  const unloadable = rows.some((r) => isOccupying(r.state) && r.state !== 'stopping');
  items.push(
    { type: 'separator' },
    { type: 'normal', label: 'Unload All', enabled: unloadable, action: { kind: 'unloadAll' } },
    { type: 'separator' },
    { type: 'normal', label: 'Open Chat', enabled: true, action: { kind: 'openChat' }, ...(opts.chatShortcut ? { accelerator: opts.chatShortcut } : {}) },
    { type: 'normal', label: 'Show Window', enabled: true, action: { kind: 'showWindow' } },
    { type: 'separator' },
    { type: 'normal', label: 'Quit Loadout', enabled: true, action: { kind: 'quit' } },
  );
  return items;
}

/** The models "Unload All" acts on: everything loaded or on its way (a loading one is cancelled). */
export function unloadAllTargets(snapshot: Snapshot): string[] {
  return snapshot.models.filter((r) => isOccupying(r.state) && r.state !== 'stopping').map((r) => r.name);
}

/** Memory in use by a row: measured when there is a process to measure, else the estimate. */
function rowMemory(row: ModelRow): number {
  const m = row.memory;
  if (m.rssBytes !== null) return m.rssBytes + (m.vramBytes ?? 0);
  return m.estimateBytes ?? 0;
}

export function formatMemory(bytes: number): string {
  const gb = bytes / 1024 ** 3;
  if (gb >= 1) return `${gb >= 100 ? gb.toFixed(0) : gb.toFixed(1)} GB`;
  return `${Math.max(bytes > 0 ? 1 : 0, Math.round(bytes / 1024 ** 2))} MB`;
}

export function trayTooltip(snapshot: Snapshot): string {
  const rows = snapshot.models;
  const loaded = rows.filter((r) => isResident(r.state)).length;
  const loading = rows.filter((r) => r.state === 'starting' || r.state === 'loading').length;
  const memory = rows.filter((r) => isOccupying(r.state)).reduce((sum, r) => sum + rowMemory(r), 0);
  const parts = [loaded === 0 && loading === 0 ? 'nothing loaded' : `${loaded} loaded`];
  if (loading > 0) parts.push(`${loading} loading`);
  if (memory > 0) parts.push(`${formatMemory(memory)} in use`);
  return `Loadout — ${parts.join(' · ')}`;
}

/**
 * Electron's menu items for the data above. On Windows and Linux `&` marks an Alt mnemonic, so a
 * model named "R&D" is written "R&&D" there; macOS shows labels as they are.
 */
export function toElectronTemplate(items: TrayMenuItem[], run: (action: TrayAction) => void, platform: NodeJS.Platform): MenuItemConstructorOptions[] {
  const escape = (label: string) => (platform === 'darwin' ? label : label.replace(/&/g, '&&'));
  return items.map((item): MenuItemConstructorOptions => {
    if (item.type === 'separator') return { type: 'separator' };
    const action = item.action;
    return {
      type: item.type,
      label: escape(item.label),
      enabled: item.enabled,
      ...(item.type === 'checkbox' ? { checked: item.checked ?? false } : {}),
      ...(item.accelerator ? { accelerator: item.accelerator, registerAccelerator: false } : {}),
      ...(item.toolTip ? { toolTip: item.toolTip } : {}),
      ...(action ? { click: () => run(action) } : {}),
    };
  });
}
