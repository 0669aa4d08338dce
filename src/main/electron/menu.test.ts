import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import { buildMenuTemplate } from './menu';

function build(platform: NodeJS.Platform, dev: boolean, chatShortcut = 'CommandOrControl+Shift+L') {
  const calls: string[] = [];
  const template = buildMenuTemplate({
    platform,
    dev,
    chatShortcut,
    actions: {
      openModelsFolder: () => calls.push('open'),
      chooseModelsFolder: () => calls.push('choose'),
      openDataFolder: () => calls.push('data'),
      openChat: () => calls.push('chat'),
    },
  });
  return { template, calls };
}

const items = (menu: MenuItemConstructorOptions | undefined): MenuItemConstructorOptions[] => (menu?.submenu ?? []) as MenuItemConstructorOptions[];
const byLabel = (template: MenuItemConstructorOptions[], label: string) => template.find((m) => m.label?.replace('&', '') === label);
const roles = (menu: MenuItemConstructorOptions | undefined) => items(menu).map((i) => i.role ?? i.type ?? i.label);
const click = (item: MenuItemConstructorOptions | undefined) => (item!.click as () => void)();

describe('application menu', () => {
  it('Windows/Linux: File, Edit, View, Window, Help with Alt mnemonics; Quit in File', () => {
    const { template } = build('linux', false);
    expect(template.map((m) => m.label ?? m.role)).toEqual(['&File', 'editMenu', '&View', 'windowMenu', 'help']);
    const file = items(byLabel(template, 'File'));
    expect(file.at(-1)).toEqual({ role: 'quit', accelerator: 'CommandOrControl+Q' });
    expect(roles(template.at(-1))).toEqual(['Open Data Folder (settings, logs)', 'separator', 'about']);
  });

  it('macOS: the app menu comes first, File ends with Close, no Alt mnemonics, About lives in the app menu', () => {
    const { template } = build('darwin', false);
    expect(template.map((m) => m.label ?? m.role)).toEqual(['appMenu', 'File', 'editMenu', 'View', 'windowMenu', 'help']);
    expect(items(byLabel(template, 'File')).at(-1)).toEqual({ role: 'close' });
    expect(roles(template.at(-1))).toEqual(['Open Data Folder (settings, logs)']);
  });

  it('File: open and choose the models folder, with shortcuts, call their actions', () => {
    const { template, calls } = build('win32', false);
    const [, , open, choose] = items(byLabel(template, 'File'));
    expect(open).toMatchObject({ label: 'Open Models Folder', accelerator: 'CommandOrControl+Shift+O' });
    expect(choose).toMatchObject({ label: 'Choose Models Folder...', accelerator: 'CommandOrControl+O' });
    click(open);
    click(choose);
    click(items(template.at(-1))[0]);
    expect(calls).toEqual(['open', 'choose', 'data']);
  });

  it('File starts with Open Chat, showing the chat shortcut from the settings', () => {
    for (const platform of ['linux', 'darwin', 'win32'] as const) {
      const { template, calls } = build(platform, false);
      const file = items(byLabel(template, 'File'));
      expect(roles(byLabel(template, 'File')).slice(0, 2)).toEqual(['Open Chat', 'separator']);
      expect(file[0]).toMatchObject({ label: 'Open Chat', accelerator: 'CommandOrControl+Shift+L' });
      click(file[0]);
      expect(calls).toEqual(['chat']);
    }
  });

  it('Open Chat leaves out a shortcut that is off, invalid, or one of the menu\'s own', () => {
    for (const shortcut of ['', 'Ctrl+Shft+L', 'L', 'CmdOrCtrl+O', 'commandorcontrol+q']) {
      const chat = items(byLabel(build('linux', false, shortcut).template, 'File'))[0];
      expect(chat.label).toBe('Open Chat');
      expect(chat).not.toHaveProperty('accelerator');
    }
    expect(items(byLabel(build('linux', false, ' Alt+Space ').template, 'File'))[0]).toMatchObject({ accelerator: 'Alt+Space' });
  });

  it('View: zoom and full screen always; reload and developer tools only in development', () => {
    expect(roles(byLabel(build('linux', false).template, 'View'))).toEqual(['resetZoom', 'zoomIn', 'zoomOut', 'separator', 'togglefullscreen']);
    expect(roles(byLabel(build('linux', true).template, 'View'))).toEqual([
      'reload',
      'forceReload',
      'toggleDevTools',
      'separator',
      'resetZoom',
      'zoomIn',
      'zoomOut',
      'separator',
      'togglefullscreen',
    ]);
  });

  it('no two items share a shortcut', () => {
    for (const platform of ['linux', 'darwin', 'win32'] as const) {
      const accelerators = build(platform, true).template.flatMap((m) => items(m).map((i) => i.accelerator).filter(Boolean));
      expect(new Set(accelerators).size).toBe(accelerators.length);
    }
  });
});
