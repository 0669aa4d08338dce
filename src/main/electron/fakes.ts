/**
 * Test fakes of the few Electron objects the glue modules take. Each fake records what was done
 * to it and can fire its events; tests cast it to the `Pick<...>` type the module asks for, since
 * Electron's typings overload `on` per event name. Nothing here imports electron at run time.
 */

import type { ModelRow, ModelState, Snapshot } from '../../shared/model';
import { samplingDefaults } from '../../shared/model';
import { defaultSettings } from '../../shared/settings';

type Listener = (...args: any[]) => unknown;

/** An event emitter with `on`/`once`/`removeListener`, and `emit` for the test to fire events. */
export class FakeEmitter {
  private listeners = new Map<string, Listener[]>();

  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  once(event: string, listener: Listener): this {
    const wrapped: Listener = (...args) => {
      this.removeListener(event, wrapped);
      return listener(...args);
    };
    return this.on(event, wrapped);
  }

  removeListener(event: string, listener: Listener): this {
    this.listeners.set(
      event,
      (this.listeners.get(event) ?? []).filter((l) => l !== listener),
    );
    return this;
  }

  listenerCount(event: string): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  emit(event: string, ...args: unknown[]): void {
    for (const l of [...(this.listeners.get(event) ?? [])]) l(...args);
  }
}

/** An Electron-style event: `preventDefault()` is remembered. */
export function fakeEvent<T extends object>(fields: T = {} as T): T & { preventDefault(): void; defaultPrevented: boolean } {
  const event = {
    ...fields,
    defaultPrevented: false,
    preventDefault() {
      event.defaultPrevented = true;
    },
  };
  return event;
}

/** Electron's Tray: remembers its menu and tooltip, can be clicked and destroyed. */
export class FakeTray<M = unknown> extends FakeEmitter {
  menu: M | null = null;
  toolTip = '';
  menusSet = 0;
  destroyed = false;

  setContextMenu(menu: M | null): void {
    this.menu = menu;
    this.menusSet++;
  }

  setToolTip(toolTip: string): void {
    this.toolTip = toolTip;
  }

  destroy(): void {
    this.destroyed = true;
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }
}

/**
 * Electron's globalShortcut: `taken` holds accelerators another app owns (register returns false
 * for them, as Electron does); `invalid` ones make register throw, like Electron's conversion error.
 */
export class FakeGlobalShortcut {
  readonly registered = new Map<string, () => void>();
  readonly taken = new Set<string>();
  readonly invalid = new Set<string>();

  register(accelerator: string, callback: () => void): boolean {
    if (this.invalid.has(accelerator)) throw new TypeError('Error processing argument at index 0, conversion failure from ' + accelerator);
    if (this.taken.has(accelerator) || this.registered.has(accelerator)) return false;
    this.registered.set(accelerator, callback);
    return true;
  }

  unregister(accelerator: string): void {
    this.registered.delete(accelerator);
  }

  /** The user presses the shortcut. */
  press(accelerator: string): void {
    this.registered.get(accelerator)?.();
  }
}

/**
 * A BrowserWindow's life: shown/hidden/minimized/focused flags, bounds, `loadURL`, and `close()`
 * that fires 'close' (preventable) and then 'closed', as Electron does.
 */
export class FakeWindow extends FakeEmitter {
  visible = false;
  minimized = false;
  maximized = false;
  focused = false;
  destroyed = false;
  loaded: string[] = [];
  bounds = { x: 40, y: 50, width: 500, height: 700 };
  loadError: Error | null = null;
  calls: string[] = [];

  constructor(readonly options: Record<string, unknown> = {}) {
    super();
  }

  isDestroyed(): boolean {
    return this.destroyed;
  }
  isVisible(): boolean {
    return this.visible;
  }
  isMinimized(): boolean {
    return this.minimized;
  }
  isMaximized(): boolean {
    return this.maximized;
  }
  isFullScreen(): boolean {
    return false;
  }
  getNormalBounds() {
    return { ...this.bounds };
  }
  show(): void {
    this.calls.push('show');
    this.visible = true;
    this.minimized = false;
  }
  hide(): void {
    this.calls.push('hide');
    this.visible = false;
  }
  focus(): void {
    this.calls.push('focus');
    this.focused = true;
  }
  restore(): void {
    this.calls.push('restore');
    this.minimized = false;
  }
  maximize(): void {
    this.calls.push('maximize');
    this.maximized = true;
  }
  async loadURL(url: string): Promise<void> {
    this.loaded.push(url);
    if (this.loadError) throw this.loadError;
  }
  /** Like BrowserWindow.close(): 'close' may be prevented; otherwise the window is gone. */
  close(): void {
    const event = fakeEvent();
    this.emit('close', event);
    if (event.defaultPrevented) return;
    this.visible = false;
    this.destroyed = true;
    this.emit('closed');
  }
}

/** A model row as the core reports it, unloaded unless said otherwise. */
export function fakeRow(name: string, state: ModelState = 'unloaded', extra: Partial<ModelRow> = {}): ModelRow {
  return {
    name,
    status: 'ok',
    error: null,
    backend: 'llama-cpp',
    file: `/models/${name}.gguf`,
    sizeBytes: 1024 ** 3,
    groups: [],
    pinned: false,
    state,
    failure: null,
    pid: null,
    address: null,
    loadedAt: null,
    loadStartedAt: null,
    lastUsed: null,
    inFlight: 0,
    queued: 0,
    progress: null,
    memory: { estimateBytes: null, rssBytes: null, vramBytes: null, vramEstimateBytes: null },
    ttl: null,
    contextSize: null,
    parallel: 1,
    configPath: null,
    gguf: null,
    reloadPending: false,
    templateWarning: null,
    warnings: [],
    sampling: samplingDefaults(undefined),
    remote: false,
    placement: null,
    ...extra,
  };
}

export function fakeSnapshot(models: ModelRow[]): Snapshot {
  return { models, lru: [], groups: {}, pending: [], settings: defaultSettings(), standby: null };
}
