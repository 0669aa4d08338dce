/**
 * The tray icon's mechanism (issue 4, item 7): creates the tray, renders `buildTrayMenu` into it
 * when the models change, runs the menu's actions against the core and destroys the tray on quit.
 * The Electron objects arrive as small functions (createTray, buildMenu), so a fake stands in
 * for them in tests.
 */
import type { MenuItemConstructorOptions } from 'electron';
import { isLoadoutError } from '../../shared/errors';
import type { CoreEvent, ModelRow, Snapshot } from '../../shared/model';
import { systemClock } from '../core/clock';
import type { Clock } from '../core/clock';
import type { RequestOptions } from '../core/loader/loader';
import { buildTrayMenu, toElectronTemplate, trayTooltip, unloadAllTargets } from './tray';
import type { TrayAction, TrayMenuItem } from './tray';

/** What the controller uses of Electron's Tray; `M` is the native menu type. */
export interface TrayLike<M> {
  setContextMenu(menu: M | null): void;
  setToolTip(toolTip: string): void;
  on(event: 'click', listener: () => void): unknown;
  destroy(): void;
  isDestroyed(): boolean;
}

export interface TrayCommands {
  snapshot(): Snapshot;
  load(name: string, opts?: RequestOptions): Promise<ModelRow>;
  unload(name: string, opts?: { force?: boolean }): Promise<ModelRow>;
  cancelLoad(name: string): ModelRow;
}

export interface TrayControllerOptions<M> {
  createTray(): TrayLike<M>;
  /** Electron's `Menu.buildFromTemplate`. */
  buildMenu(template: MenuItemConstructorOptions[]): M;
  commands: TrayCommands;
  subscribe(listener: (event: CoreEvent) => void): () => void;
  openChat(): void;
  showWindow(): void;
  quit(): void;
  /** A failed action, told to the user (a notification or an error box): the tray has no page to show it in. */
  reportError(title: string, message: string): void;
  /** The valid chat shortcut to show beside "Open Chat", or null. */
  chatShortcut(): string | null;
  platform: NodeJS.Platform;
  clock?: Clock;
  /** Bursts of state events (a load's progress, eviction of several models) render at most once per this. */
  throttleMs?: number;
  maxModels?: number;
  log?(message: string): void;
}

/** Events that can change the menu; token streams, logs and requests never do. */
const RELEVANT: ReadonlySet<CoreEvent['type']> = new Set(['model', 'removed', 'settings']);

export class TrayController<M> {
  private readonly tray: TrayLike<M>;
  private readonly clock: Clock;
  private readonly unsubscribe: () => void;
  private timer: unknown = null;
  private lastMenu = '';
  private lastTooltip = '';
  private disposed = false;
  /** Native menus built so far (tests check that unchanged data builds none). */
  menuBuilds = 0;

  constructor(private readonly o: TrayControllerOptions<M>) {
    this.clock = o.clock ?? systemClock;
    this.tray = o.createTray();
    // Windows (and Linux hosts that send "activate") expect a left click to open the app; on
    // macOS a click opens the menu by itself.
    if (o.platform !== 'darwin') this.tray.on('click', () => this.guard('Show Window', () => o.showWindow()));
    this.render();
    this.unsubscribe = o.subscribe((event) => {
      if (RELEVANT.has(event.type)) this.schedule();
    });
  }

  /** Renders now (and cancels a pending render). Only rebuilds what changed. */
  render(): void {
    if (this.disposed) return;
    if (this.timer !== null) {
      this.clock.clearTimeout(this.timer);
      this.timer = null;
    }
    let snapshot: Snapshot;
    try {
      snapshot = this.o.commands.snapshot();
    } catch (e) {
      this.o.log?.(`tray: could not read the models: ${(e as Error).message}`);
      return;
    }
    const items = buildTrayMenu(snapshot, { maxModels: this.o.maxModels, chatShortcut: this.o.chatShortcut() });
    const key = JSON.stringify(items);
    if (key !== this.lastMenu) {
      this.lastMenu = key;
      this.menuBuilds++;
      this.tray.setContextMenu(this.o.buildMenu(toElectronTemplate(items, (action) => void this.run(action), this.o.platform)));
    }
    const tooltip = trayTooltip(snapshot);
    if (tooltip !== this.lastTooltip) {
      this.lastTooltip = tooltip;
      this.tray.setToolTip(tooltip);
    }
  }

  /** The menu data last rendered (for tests and diagnostics). */
  items(): TrayMenuItem[] {
    return this.lastMenu ? (JSON.parse(this.lastMenu) as TrayMenuItem[]) : [];
  }

  /**
   * Runs one menu action. Never rejects: a failure is reported to the user, since a tray click
   * has nobody awaiting it. A cancelled load is what the user asked for, so it is not an error.
   */
  async run(action: TrayAction): Promise<void> {
    const c = this.o.commands;
    switch (action.kind) {
      case 'load':
        return this.attempt(`Could not load ${action.model}`, () => c.load(action.model, { origin: 'user' }));
      case 'unload':
        return this.attempt(`Could not unload ${action.model}`, () => c.unload(action.model));
      case 'cancel':
        return this.attempt(`Could not cancel loading ${action.model}`, async () => c.cancelLoad(action.model));
      case 'unloadAll': {
        let names: string[];
        try {
          names = unloadAllTargets(c.snapshot());
        } catch (e) {
          this.o.reportError('Could not unload the models', (e as Error).message);
          return;
        }
        const results = await Promise.allSettled(names.map((name) => c.unload(name)));
        const failed = results.flatMap((r, i) => (r.status === 'rejected' && !cancelled(r.reason) ? [`${names[i]}: ${message(r.reason)}`] : []));
        if (failed.length > 0) this.o.reportError(failed.length === 1 ? 'Could not unload a model' : `Could not unload ${failed.length} models`, failed.join('\n'));
        return;
      }
      case 'openChat':
        return this.guard('Open Chat', () => this.o.openChat());
      case 'showWindow':
        return this.guard('Show Window', () => this.o.showWindow());
      case 'quit':
        return this.guard('Quit', () => this.o.quit());
    }
  }

  dispose(): void {
    if (this.disposed) return;
    this.disposed = true;
    this.unsubscribe();
    if (this.timer !== null) this.clock.clearTimeout(this.timer);
    this.timer = null;
    if (!this.tray.isDestroyed()) this.tray.destroy();
  }

  /** Trailing throttle: the first event of a burst starts the timer, the rest ride along. */
  private schedule(): void {
    if (this.disposed || this.timer !== null) return;
    this.timer = this.clock.setTimeout(() => {
      this.timer = null;
      this.render();
    }, this.o.throttleMs ?? 100);
  }

  private async attempt(title: string, work: () => Promise<unknown>): Promise<void> {
    try {
      await work();
    } catch (e) {
      if (!cancelled(e)) this.o.reportError(title, message(e));
    }
  }

  private guard(what: string, work: () => void): void {
    try {
      work();
    } catch (e) {
      this.o.reportError(`${what} failed`, message(e));
    }
  }
}

const cancelled = (e: unknown): boolean => isLoadoutError(e) && e.code === 'cancelled';
const message = (e: unknown): string => (e instanceof Error ? e.message : String(e));
