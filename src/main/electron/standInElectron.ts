/**
 * A stand-in for the `electron` module, enough of it for main.ts to boot in plain Node (no
 * Electron binary can run here): the app's life cycle, windows, menus, the tray, the global
 * shortcut, notifications, dialogs and ipcMain, all recording what was done to them. Tests
 * import the built main bundle with `vi.mock('electron', ...)` returning `module`, then drive it
 * through `state`. It checks the glue's wiring, not how any OS renders it.
 */
import { EventEmitter } from 'node:events';
import type { MenuItemConstructorOptions, NotificationConstructorOptions } from 'electron';
import { FakeEmitter, FakeGlobalShortcut, FakeTray, FakeWindow, fakeEvent } from './fakes';

export interface StandInMenu {
  template: MenuItemConstructorOptions[];
}

export function createStandInElectron(appPath: string) {
  const changes = new EventEmitter();
  const changed = () => changes.emit('change');
  const state = {
    windows: [] as StandInWindow[],
    trays: [] as StandInTray[],
    notifications: [] as NotificationConstructorOptions[],
    errorBoxes: [] as { title: string; content: string }[],
    appMenu: null as StandInMenu | null,
    ipcHandlers: new Map<string, (...args: any[]) => unknown>(),
    globalShortcut: new FakeGlobalShortcut(),
    quitted: false,
    exitCode: null as number | null,
    /** Resolves when `predicate` holds, re-checked after every recorded change. */
    until(predicate: () => boolean, what: string, timeoutMs = 20_000): Promise<void> {
      if (predicate()) return Promise.resolve();
      return new Promise((resolve, reject) => {
        const check = () => {
          if (!predicate()) return;
          clearTimeout(timer);
          changes.off('change', check);
          resolve();
        };
        const timer = setTimeout(() => {
          changes.off('change', check);
          reject(new Error(`timed out waiting for ${what}`));
        }, timeoutMs);
        changes.on('change', check);
      });
    },
  };

  class StandInApp extends FakeEmitter {
    isPackaged = true;
    readonly paths = new Map<string, string>();
    setPath(name: string, path: string) {
      this.paths.set(name, path);
    }
    getPath(name: string) {
      return this.paths.get(name) ?? appPath;
    }
    getAppPath() {
      return appPath;
    }
    requestSingleInstanceLock() {
      return true;
    }
    whenReady() {
      return Promise.resolve();
    }
    setAppUserModelId() {}
    focus() {}
    exit(code: number) {
      state.exitCode = code;
      changed();
    }
    /** Like Electron: before-quit (preventable), then every window closes, then the app is gone. */
    quit() {
      const event = fakeEvent();
      this.emit('before-quit', event);
      if (event.defaultPrevented) return;
      for (const w of state.windows) if (!w.destroyed) w.close();
      if (state.windows.every((w) => w.destroyed)) {
        state.quitted = true;
        this.emit('will-quit', fakeEvent());
      }
      changed();
    }
  }
  const app = new StandInApp();

  class StandInWindow extends FakeWindow {
    readonly sent: unknown[][] = [];
    readonly webContents = Object.assign(new FakeEmitter(), {
      setWindowOpenHandler: () => {},
      session: { setPermissionRequestHandler: () => {}, setPermissionCheckHandler: () => {} },
      send: (...args: unknown[]) => void this.sent.push(args),
      isDestroyed: () => this.destroyed,
    });
    constructor(options: Record<string, unknown>) {
      super(options);
      state.windows.push(this);
      changed();
    }
    override async loadURL(url: string): Promise<void> {
      await super.loadURL(url);
      this.emit('ready-to-show');
      changed();
    }
    override hide(): void {
      super.hide();
      changed();
    }
    override close(): void {
      super.close();
      changed();
    }
  }

  class StandInTray extends FakeTray<StandInMenu> {
    constructor(readonly image: unknown) {
      super();
      state.trays.push(this);
      changed();
    }
    override setContextMenu(menu: StandInMenu | null): void {
      super.setContextMenu(menu);
      changed();
    }
    override destroy(): void {
      super.destroy();
      changed();
    }
  }

  class StandInImage {
    reps: { scaleFactor?: number; width?: number }[] = [];
    template = false;
    addRepresentation(r: { scaleFactor?: number; width?: number }) {
      this.reps.push(r);
    }
    setTemplateImage(on: boolean) {
      this.template = on;
    }
  }

  class StandInNotification extends FakeEmitter {
    static isSupported() {
      return true;
    }
    constructor(private readonly options: NotificationConstructorOptions) {
      super();
    }
    show() {
      state.notifications.push(this.options);
      changed();
    }
  }

  const display = { workArea: { x: 0, y: 0, width: 1920, height: 1040 } };
  const module = {
    app,
    BrowserWindow: StandInWindow,
    Tray: StandInTray,
    Notification: StandInNotification,
    Menu: {
      buildFromTemplate: (template: MenuItemConstructorOptions[]): StandInMenu => ({ template }),
      setApplicationMenu: (menu: StandInMenu | null) => {
        state.appMenu = menu;
        changed();
      },
    },
    nativeImage: { createEmpty: () => new StandInImage() },
    globalShortcut: state.globalShortcut,
    dialog: {
      showErrorBox: (title: string, content: string) => {
        state.errorBoxes.push({ title, content });
        changed();
      },
      showMessageBox: async () => ({ response: 0, checkboxChecked: false }),
      showOpenDialog: async () => ({ canceled: true, filePaths: [] }),
    },
    ipcMain: {
      handle: (channel: string, fn: (...args: any[]) => unknown) => void state.ipcHandlers.set(channel, fn),
      removeHandler: (channel: string) => void state.ipcHandlers.delete(channel),
    },
    screen: { getAllDisplays: () => [display], getPrimaryDisplay: () => display },
    session: { defaultSession: { webRequest: { onHeadersReceived: () => {} } } },
    shell: { openExternal: async () => {}, openPath: async () => '' },
  };
  return { module, state, app };
}

export type StandInElectron = ReturnType<typeof createStandInElectron>;
export type StandInWindow = InstanceType<StandInElectron['module']['BrowserWindow']>;
export type StandInTray = InstanceType<StandInElectron['module']['Tray']>;
