/**
 * Electron main: glue only. Every decision lives in a small module beside this one that takes
 * the Electron API it needs as a parameter (and is unit-tested with a fake of it); this file
 * hands them the real one. It builds the core (plain Node), opens the window, bridges the
 * contract over IPC, runs the local API and stops every backend on quit (U4).
 */
import { BrowserWindow, Menu, app, dialog, ipcMain, screen, session, shell } from 'electron';
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
import { forwardEvents, registerIpc, trustedSender } from './ipc';
import { dataDirFromLaunch } from './launchOptions';
import { buildMenuTemplate } from './menu';
import { chooseModelsFolder, openFolder } from './modelsFolder';
import { installQuitHandler } from './quit';
import { claimSingleInstance } from './singleInstance';
import { contentSecurityPolicy, hardenWebContents, installCsp, isOwnPage, mainWindowOptions } from './window';
import { readWindowState, trackWindowState, windowStatePath } from './windowState';

const mainFile = fileURLToPath(import.meta.url);
const here = dirname(mainFile);
/** Set by `electron-vite dev`; a build loads its page from disk. */
const devServerUrl = process.env.ELECTRON_RENDERER_URL ?? null;
const pageUrl = devServerUrl ?? pathToFileURL(join(here, '../renderer/index.html')).href;
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

async function start(): Promise<void> {
  let c: Core;
  try {
    c = await createCore({ dataDir, builtinCommand: () => electronBackendCommand(process.execPath, mainFile) });
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
  Menu.setApplicationMenu(
    Menu.buildFromTemplate(
      buildMenuTemplate({
        platform: process.platform,
        dev: !app.isPackaged,
        actions: {
          openModelsFolder: () => void openFolder(shell, c.commands.settings().models_dir, showError),
          chooseModelsFolder: () =>
            void chooseModelsFolder({ dialog, window: win, current: c.commands.settings().models_dir, update: (patch) => c.commands.updateSettings(patch), showError }),
          openDataFolder: () => void openFolder(shell, c.dataDir, showError),
        },
      }),
    ),
  );

  const server = new ApiServerController({
    start: async ({ port, host }) => {
      const handle = await startHttpServer(c, { port, host, ui: false });
      return { port: handle.port, close: () => handle.close() };
    },
    setStatus: (status) => c.commands.setServerStatus(status),
  });
  api = server;
  c.events.on((event) => {
    if (event.type === 'settings') void server.apply(event.settings);
  });
  void server.apply(c.commands.settings());

  await createWindow();
}

async function createWindow(): Promise<void> {
  const stateFile = windowStatePath(dataDir);
  const state = readWindowState(stateFile, screen);
  const w = new BrowserWindow(mainWindowOptions(join(here, '../preload/index.cjs'), state.bounds, windowIcon()));
  win = w;
  trackWindowState(w, stateFile, log);
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

/** The window icon on Linux/Windows (macOS takes the bundle's): packaged, then in a checkout. */
function windowIcon(): string | undefined {
  if (process.platform === 'darwin') return undefined;
  const appPath = app.getAppPath();
  return [join(appPath, 'icons', '256x256.png'), join(appPath, 'build', 'icons', '256x256.png')].find((p) => existsSync(p));
}

if (claimSingleInstance(app, () => win)) {
  installQuitHandler(
    app,
    async () => {
      await api?.dispose();
      await core?.dispose();
    },
    { signals: process, onError: log },
  );
  // macOS apps stay open without windows; the dock icon brings the window back.
  app.on('window-all-closed', () => {
    if (process.platform !== 'darwin') app.quit();
  });
  app.on('activate', () => {
    if (core && !win) void createWindow();
  });
  void app.whenReady().then(start);
}
