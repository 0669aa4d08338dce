import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../shared/settings';
import { FakeGlobalShortcut } from './fakes';
import { ChatShortcut, parseAccelerator, sameAccelerator } from './shortcut';

function setup() {
  const gs = new FakeGlobalShortcut();
  const reports: string[] = [];
  let presses = 0;
  let onPress: () => void = () => void presses++;
  const shortcut = new ChatShortcut({ globalShortcut: gs, onPress: () => onPress(), report: (m) => void reports.push(m) });
  return { gs, reports, shortcut, presses: () => presses, setOnPress: (f: () => void) => (onPress = f) };
}

describe('accelerators', () => {
  it.each([
    ['CommandOrControl+Shift+L', 'CommandOrControl+Shift+L'],
    ['cmdorctrl+shift+l', 'CommandOrControl+Shift+L'],
    ['Shift+CmdOrCtrl+L', 'CommandOrControl+Shift+L'],
    [' Ctrl + Alt + Space ', 'Alt+Control+Space'],
    ['Option+Cmd+F1', 'Alt+Command+F1'],
    ['Super+Enter', 'Super+Return'],
    ['Ctrl+Plus', 'Control+Plus'],
    ['Alt+/', 'Alt+/'],
    ['F13', 'F13'],
    ['Shift+F12', 'Shift+F12'],
    ['MediaPlayPause', 'MediaPlayPause'],
    ['Ctrl+num5', 'Control+num5'],
  ])('%j is valid (%s)', (text, normalized) => {
    expect(parseAccelerator(text)).toEqual({ ok: true, normalized });
  });

  it.each([
    ['', 'it is empty'],
    ['Ctrl+Shft+L', '"Shft" is not a key or modifier Electron knows'],
    ['Ctrl++', 'it has an empty part (write the + key as "Plus")'],
    ['Ctrl+Shift', 'it has modifiers but no key'],
    ['Ctrl+A+B', 'it names two keys ("A" and "B"); a shortcut has one key and any modifiers'],
    ['L+Ctrl', 'the modifier "Ctrl" must come before the key'],
    ['L', 'it needs Ctrl, Alt or Cmd: without one it would take a key away from everything you type'],
    ['Shift+L', 'it needs Ctrl, Alt or Cmd: without one it would take a key away from everything you type'],
    ['Space', 'it needs Ctrl, Alt or Cmd: without one it would take a key away from everything you type'],
  ])('%j is refused: %s', (text, error) => {
    expect(parseAccelerator(text)).toEqual({ ok: false, error });
  });

  it('compares spellings of the same shortcut', () => {
    expect(sameAccelerator('CmdOrCtrl+O', 'commandorcontrol+o')).toBe(true);
    expect(sameAccelerator('Ctrl+O', 'CmdOrCtrl+O')).toBe(false);
    expect(sameAccelerator('nonsense', 'nonsense')).toBe(false);
  });

  it("the setting's default is valid", () => {
    expect(parseAccelerator(defaultSettings().chat_shortcut).ok).toBe(true);
  });
});

describe('the chat shortcut', () => {
  it('registers the setting at start; pressing it opens the chat', () => {
    const t = setup();
    t.shortcut.apply('CommandOrControl+Shift+L');
    expect([...t.gs.registered.keys()]).toEqual(['CommandOrControl+Shift+L']);
    expect(t.shortcut.registered).toBe('CommandOrControl+Shift+L');
    t.gs.press('CommandOrControl+Shift+L');
    expect(t.presses()).toBe(1);
    expect(t.reports).toEqual([]);
  });

  it('a changed setting replaces the old shortcut; the same value again changes nothing', () => {
    const t = setup();
    t.shortcut.apply('CommandOrControl+Shift+L');
    t.shortcut.apply('CommandOrControl+Shift+L');
    t.shortcut.apply('Alt+Space');
    expect([...t.gs.registered.keys()]).toEqual(['Alt+Space']);
    t.shortcut.apply('');
    expect([...t.gs.registered.keys()]).toEqual([]);
    expect(t.shortcut.registered).toBeNull();
    expect(t.reports).toEqual([]);
  });

  it('an invalid shortcut is reported once, in a sentence that says what to do, and registers nothing', () => {
    const t = setup();
    t.shortcut.apply('CommandOrControl+Shift+L');
    t.shortcut.apply('Ctrl+Shft+L');
    t.shortcut.apply('Ctrl+Shft+L');
    expect(t.gs.registered.size).toBe(0);
    expect(t.reports).toEqual([
      'The chat shortcut "Ctrl+Shft+L" cannot be used: "Shft" is not a key or modifier Electron knows. Change it in Settings (chat_shortcut), for example to CommandOrControl+Shift+L, or clear it to turn the shortcut off.',
    ]);
  });

  it('a shortcut another app holds is reported; fixing the setting registers the new one', () => {
    const t = setup();
    t.gs.taken.add('Control+Alt+T');
    t.shortcut.apply('Control+Alt+T');
    expect(t.shortcut.registered).toBeNull();
    expect(t.reports).toEqual([
      'The chat shortcut Control+Alt+T is already used by another app or by the system, so it does nothing in Loadout. Change it in Settings (chat_shortcut), for example to CommandOrControl+Shift+L, or clear it to turn the shortcut off.',
    ]);
    t.shortcut.apply('Control+Alt+Y');
    expect(t.shortcut.registered).toBe('Control+Alt+Y');
  });

  it('if Electron itself throws on the accelerator, that is reported too, never a crash', () => {
    const t = setup();
    t.gs.invalid.add('Ctrl+num9');
    expect(() => t.shortcut.apply('Ctrl+num9')).not.toThrow();
    expect(t.reports).toHaveLength(1);
    expect(t.reports[0]).toMatch(/^The chat shortcut "Ctrl\+num9" cannot be used: Error processing argument at index 0/);
  });

  it('a press whose action throws is reported, not thrown into Electron', () => {
    const t = setup();
    t.setOnPress(() => {
      throw new Error('the chat window could not be created');
    });
    t.shortcut.apply('Alt+Space');
    expect(() => t.gs.press('Alt+Space')).not.toThrow();
    expect(t.reports).toEqual(['The chat shortcut could not open the chat window: the chat window could not be created']);
  });

  it('is unregistered on quit', () => {
    const t = setup();
    t.shortcut.apply('Alt+Space');
    t.shortcut.dispose();
    expect(t.gs.registered.size).toBe(0);
    t.shortcut.dispose();
  });
});
