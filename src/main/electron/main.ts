/**
 * Electron main: glue only. Every decision lives in a small module beside this one that takes
 * the Electron API it needs as a parameter (and is unit-tested with a fake of it); this file
 * hands them the real one. It builds the core (plain Node), opens the window, bridges the
 * contract over IPC, runs the local API, shows the tray, the chat window and its global
 * shortcut, and stops every backend on quit (U4).
 */
import { BrowserWindow, Menu, Notification, Tray, app, dialog, globalShortcut, ipcMain, nativeImage, screen, session, shell } from 'electron';
import { existsSync } from 'node:fs';
import { dirname, join } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { createCore } from '../core/createCore';
import type { Core } from '../core/createCore';
import { contractHandlers } from '../core/handlers';
import { defaultDataDir } from '../core/paths';
import { startHttpServer } from '../core/server/httpServer';
import { ApiServerController } from './apiServer';
import { electronBackendCommand } from './backendCommand';
import { ChatWindowController, chatWindowStatePath } from './chatWindow';
import { CloseToTray, OnceMarker, TRAY_HINT, desktopSettingsDefaults } from './closeToTray';
import { forwardEvents, registerIpc, trustedSender } from './ipc';
import { launchMode, runCliLaunch } from './cliMode';
import { dataDirFromLaunch } from './launchOptions';
import { buildMenuTemplate } from './menu';
import { chooseModelsFolder, openFolder } from './modelsFolder';
import { createNotifier } from './notify';
import { installQuitHandler } from './quit';
import { ChatShortcut } from './shortcut';
import { claimSingleInstance } from './singleInstance';
import { TrayController } from './trayController';
import { makeTrayImage } from './trayIcon';
import { contentSecurityPolicy, hardenWebContents, installCsp, isOwnPage, mainWindowOptions } from './window';
import { readWindowState, trackWindowState, windowStatePath } from './windowState';

const mainFile = fileURLToPath(import.meta.url);
const here = dirname(mainFile);
/** Set by `electron-vite dev`; a build loads its page from disk. */
const devServerUrl = process.env.ELECTRON_RENDERER_URL ?? null;
const pageUrl = devServerUrl ?? pathToFileURL(join(here, '../renderer/index.html')).href;
const preload = join(here, '../preload/index.cjs');
const own = (url: string): boolean => isOwnPage(url, pageUrl);
const log = (message: string): void => console.error(`[loadout] ${message}`);
const showError = (title: string, message: string): void => dialog.showErrorBox(title, message);

// The data folder comes first: Electron's single-instance lock and Chromium's profile live
// under userData, so another data folder (tests, a second profile) is another instance.
const dataDir = dataDirFromLaunch(process.argv, process.env) ?? defaultDataDir();
app.setPath('userData', dataDir);
// Chromium's caches go to a subfolder, away from settings, models and logs.
app.setPath('sessionData', join(dataDir, 'session'));
// Windows groups taskbar entries and notifications by this id; it must match the installer's.
if (process.platform === 'win32') app.setAppUserModelId('dev.loadout.app');

let win: BrowserWindow | null = null;
let core: Core | null = null;
let api: ApiServerController | null = null;
let tray: TrayController<Menu> | null = null;
let shortcut: ChatShortcut | null = null;
let closer: CloseToTray | null = null;
const notify = createNotifier({ Notification, dialog, log, icon: windowIcon() });

async function start(): Promise<void> {
  let c: Core;
  try {
    c = await createCore({
      dataDir,
      // close_to_tray: on for macOS and Windows, off on Linux (some desktops show no tray).
      defaults: desktopSettingsDefaults(process.platform),
      builtinCommand: () => electronBackendCommand(process.execPath, mainFile),
      onNotice: (notice) => log(`note: ${notice}`),
    });
  } catch (e) {
    showError('Loadout cannot start', (e as Error).message);
    app.exit(1);
    return;
  }
  core = c;
  for (const notice of c.notices) log(`note: ${notice}`);

  registerIpc(ipcMain, contractHandlers(c), trustedSender(own));
  forwardEvents((listener) => c.events.on(listener), () => win?.webContents ?? null);
  installCsp(session.defaultSession, own, contentSecurityPolicy(devServerUrl));

  const chatWindow = new ChatWindowController<BrowserWindow>({
    createWindow: (options) => new BrowserWindow(options),
    prepare: (w) => hardenWebContents(w.webContents, own, (url) => void shell.openExternal(url)),
    preload,
    pageUrl,
    stateFile: chatWindowStatePath(dataDir),
    screen,
    icon: windowIcon(),
    // The tray and the shortcut open it while another app is in front.
    activateApp: process.platform === 'darwin' ? () => app.focus({ steal: true }) : undefined,
    log,
  });
  forwardEvents((listener) => c.events.on(listener), () => chatWindow.window?.webContents ?? null);
  const openChat = (): void => void chatWindow.open();

  let menuShortcut: string | null = null;
  const setMenu = (chatShortcut: string): void => {
    menuShortcut = chatShortcut;
    Menu.setApplicationMenu(
      Menu.buildFromTemplate(
        buildMenuTemplate({
          platform: process.platform,
          dev: !app.isPackaged,
          chatShortcut,
          actions: {
            openModelsFolder: () => void openFolder(shell, c.commands.settings().models_dir, showError),
            chooseModelsFolder: () =>
              void chooseModelsFolder({ dialog, window: win, current: c.commands.settings().models_dir, update: (patch) => c.commands.updateSettings(patch), showError }),
            openDataFolder: () => void openFolder(shell, c.dataDir, showError),
            openChat,
          },
        }),
      ),
    );
  };
  setMenu(c.commands.settings().chat_shortcut);

  const chatShortcut = new ChatShortcut({ globalShortcut, onPress: openChat, report: (message) => notify('The chat shortcut does not work', message, 'error') });
  shortcut = chatShortcut;
  chatShortcut.apply(c.commands.settings().chat_shortcut);

  try {
    tray = new TrayController<Menu>({
      createTray: () => new Tray(makeTrayImage(nativeImage, process.platform)),
      buildMenu: (template) => Menu.buildFromTemplate(template),
      commands: c.commands,
      subscribe: (listener) => c.events.on(listener),
      openChat,
      showWindow,
      quit: () => app.quit(),
      reportError: (title, message) => notify(title, message, 'error'),
      chatShortcut: () => chatShortcut.registered,
      platform: process.platform,
      log,
    });
  } catch (e) {
    // No tray: the app works from its window, and closing it quits (close to tray needs a tray).
    log(`no tray icon: ${(e as Error).message}`);
  }
  closer = new CloseToTray({
    app,
    closeToTray: () => c.commands.settings().close_to_tray,
    trayShown: () => tray !== null,
    marker: OnceMarker.trayHint(dataDir),
    explain: () => notify(TRAY_HINT.title, TRAY_HINT.body),
    log,
  });

  const server = new ApiServerController({
    start: async ({ port, host }) => {
      const handle = await startHttpServer(c, { port, host, ui: false });
      return { port: handle.port, close: () => handle.close() };
    },
    setStatus: (status) => c.commands.setServerStatus(status),
    blockedBy: () => c.commands.settingsProblem(),
  });
  api = server;
  c.events.on((event) => {
    if (event.type !== 'settings') return;
    void server.apply(event.settings);
    chatShortcut.apply(event.settings.chat_shortcut);
    if (event.settings.chat_shortcut !== menuShortcut) setMenu(event.settings.chat_shortcut);
  });
  void server.apply(c.commands.settings());

  await createWindow();
}

async function createWindow(): Promise<void> {
  const stateFile = windowStatePath(dataDir);
  const state = readWindowState(stateFile, screen);
  const w = new BrowserWindow(mainWindowOptions(preload, state.bounds, windowIcon()));
  win = w;
  trackWindowState(w, stateFile, log);
  closer?.attach(w);
  hardenWebContents(w.webContents, own, (url) => void shell.openExternal(url));
  w.once('ready-to-show', () => {
    if (state.maximized) w.maximize();
    w.show();
  });
  w.on('closed', () => {
    if (win === w) win = null;
  });
  try {
    await w.loadURL(pageUrl);
  } catch (e) {
    log(`could not load ${pageUrl}: ${(e as Error).message}`);
  }
}

/** Brings the main window back (from the tray, the dock), or opens a new one if it was closed. */
function showWindow(): void {
  if (!win || win.isDestroyed()) {
    if (core) void createWindow();
    return;
  }
  if (process.platform === 'darwin') app.focus({ steal: true });
  if (win.isMinimized()) win.restore();
  win.show();
  win.focus();
}

/** The window icon on Linux/Windows (macOS takes the bundle's): packaged, then in a checkout. */
function windowIcon(): string | undefined {
  if (process.platform === 'darwin') return undefined;
  const appPath = app.getAppPath();
  return [join(appPath, 'icons', '256x256.png'), join(appPath, 'build', 'icons', '256x256.png')].find((p) => existsSync(p));
}

// `loadout worker ...` / `loadout serve ...`: the headless entry, never the GUI (cliMode.ts).
const launch = launchMode(process.argv, app);
if (launch.kind === 'cli') {
  void runCliLaunch(launch.argv, { app, cli: () => import('../cli'), log });
} else if (claimSingleInstance(app, () => win)) {
  installQuitHandler(
    app,
    async () => {
      // The tray and the shortcut go first, so nothing starts a load while backends stop.
      shortcut?.dispose();
      tray?.dispose();
      tray = null;
      await api?.dispose();
      await core?.dispose();
    },
    { signals: process, onError: log },
  );
  // macOS apps stay open without windows; the dock icon brings the window back. With close to
  // tray on, the main window is only hidden, so this never fires while it exists.
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (core) showWindow();
  });
  void app.whenReady().then(start);
}
