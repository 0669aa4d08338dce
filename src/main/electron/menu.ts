/** The application menu as pure data: the usual roles and shortcuts, plus Loadout's folder actions. */
import type { MenuItemConstructorOptions } from 'electron';

export interface MenuActions {
  openModelsFolder(): void;
  chooseModelsFolder(): void;
  openDataFolder(): void;
}

export interface MenuOptions {
  platform: NodeJS.Platform;
  /** Reload and developer tools only while developing (unpackaged). */
  dev: boolean;
  actions: MenuActions;
}

export function buildMenuTemplate({ platform, dev, actions }: MenuOptions): MenuItemConstructorOptions[] {
  const mac = platform === 'darwin';
  // Alt-key mnemonics are a Windows/Linux convention; macOS menus show the label as written.
  const label = (text: string) => (mac ? text.replace('&', '') : text);
  const file: MenuItemConstructorOptions = {
    label: label('&File'),
    submenu: [
      { label: 'Open Models Folder', accelerator: 'CommandOrControl+Shift+O', click: () => actions.openModelsFolder() },
      { label: 'Choose Models Folder...', accelerator: 'CommandOrControl+O', click: () => actions.chooseModelsFolder() },
      { type: 'separator' },
      // On macOS Quit lives in the app menu and File ends with Close Window.
      mac ? { role: 'close' } : { role: 'quit', accelerator: 'CommandOrControl+Q' },
    ],
  };
  const view: MenuItemConstructorOptions = {
    label: label('&View'),
    submenu: [
      ...(dev ? ([{ role: 'reload' }, { role: 'forceReload' }, { role: 'toggleDevTools' }, { type: 'separator' }] as MenuItemConstructorOptions[]) : []),
      { role: 'resetZoom' },
      { role: 'zoomIn' },
      { role: 'zoomOut' },
      { type: 'separator' },
      { role: 'togglefullscreen' },
    ],
  };
  const help: MenuItemConstructorOptions = {
    role: 'help',
    submenu: [
      { label: 'Open Data Folder (settings, logs)', click: () => actions.openDataFolder() },
      ...(mac ? [] : ([{ type: 'separator' }, { role: 'about' }] as MenuItemConstructorOptions[])),
    ],
  };
  return [
    ...(mac ? [{ role: 'appMenu' } as MenuItemConstructorOptions] : []),
    file,
    { role: 'editMenu' },
    view,
    { role: 'windowMenu' },
    help,
  ];
}
