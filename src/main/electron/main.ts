/**
 * Electron main: glue only. It builds the core (plain Node), opens the window, bridges the
 * contract over IPC and stops every backend on quit (U4).
 */
import { BrowserWindow, Menu, app, ipcMain, shell } from 'electron';
import { join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { IPC_EVENT } from '../../shared/contract';
import { createCore } from '../core/createCore';
import type { Core } from '../core/createCore';
import { contractHandlers } from '../core/handlers';
import { defaultDataDir } from '../core/paths';
import { registerIpc } from './ipc';
import { claimSingleInstance } from './singleInstance';
import { hardenWebContents, mainWindowOptions } from './window';

const here = fileURLToPath(new URL('.', import.meta.url));
let win: BrowserWindow | null = null;
let core: Core | null = null;

function rendererUrl(): string {
  return process.env.ELECTRON_RENDERER_URL ?? `file://${join(here, '../renderer/index.html')}`;
}

async function start(): Promise<void> {
  app.setPath('userData', defaultDataDir());
  try {
    core = await createCore({ dataDir: app.getPath('userData') });
  } catch (e) {
    const { dialog } = await import('electron');
    dialog.showErrorBox('Loadout cannot start', (e as Error).message);
    app.exit(1);
    return;
  }
  const own = (url: string) => url.startsWith(rendererUrl().split('?')[0].replace(/index\.html$/, ''));
  registerIpc(ipcMain, contractHandlers(core), (event) => !!event.senderFrame && own(event.senderFrame.url));
  core.events.on((event) => win?.webContents.send(IPC_EVENT, event));

  win = new BrowserWindow(mainWindowOptions(join(here, '../preload/index.cjs'), null));
  hardenWebContents(win.webContents, own, (url) => void shell.openExternal(url));
  win.once('ready-to-show', () => win?.show());
  win.on('closed', () => (win = null));
  await win.loadURL(rendererUrl());
}

if (claimSingleInstance(app, () => win)) {
  Menu.setApplicationMenu(null);
  app.whenReady().then(start);
  let quitting = false;
  app.on('before-quit', (event) => {
    if (quitting || !core) return;
    // Backends must be gone before the process exits (I4).
    event.preventDefault();
    quitting = true;
    void core.dispose().finally(() => app.quit());
  });
  app.on('window-all-closed', () => app.quit());
}
