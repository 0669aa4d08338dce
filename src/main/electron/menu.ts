/** The application menu as pure data: the usual roles and shortcuts, plus Loadout's folder actions and the chat window. */
import type { MenuItemConstructorOptions } from 'electron';
import { parseAccelerator, sameAccelerator } from './shortcut';

export interface MenuActions {
  openModelsFolder(): void;
  chooseModelsFolder(): void;
  openDataFolder(): void;
  openChat(): void;
}

export interface MenuOptions {
  platform: NodeJS.Platform;
  /** Reload and developer tools only while developing (unpackaged). */
  dev: boolean;
  actions: MenuActions;
  /** The `chat_shortcut` setting, shown beside Open Chat (and working while the app has focus, even if another app holds it globally). */
  chatShortcut?: string;
}

/** The File menu's own shortcuts, which a chat shortcut must not shadow. */
const FILE_SHORTCUTS = ['CommandOrControl+Shift+O', 'CommandOrControl+O', 'CommandOrControl+Q'];

export function buildMenuTemplate({ platform, dev, actions, chatShortcut = '' }: MenuOptions): MenuItemConstructorOptions[] {
  const mac = platform === 'darwin';
  // Alt-key mnemonics are a Windows/Linux convention; macOS menus show the label as written.
  const label = (text: string) => (mac ? text.replace('&', '') : text);
  // An invalid or clashing shortcut is left off the item (the shortcut module tells the user why).
  const chatAccelerator = parseAccelerator(chatShortcut).ok && !FILE_SHORTCUTS.some((s) => sameAccelerator(s, chatShortcut)) ? chatShortcut.trim() : undefined;
  const file: MenuItemConstructorOptions = {
    label: label('&File'),
    submenu: [
      { label: 'Open Chat', ...(chatAccelerator ? { accelerator: chatAccelerator } : {}), click: () => actions.openChat() },
      { type: 'separator' },
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
