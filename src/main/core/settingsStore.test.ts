import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultSettings } from '../../shared/settings';
import { createCore } from './createCore';
import { SettingsStore } from './settingsStore';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'loadout-settings-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const saved = (): Record<string, unknown> => JSON.parse(readFileSync(join(dir, 'settings.json'), 'utf8'));

describe('settings layers: schema defaults < host defaults < saved file < flags', () => {
  it('host defaults replace the schema default', () => {
    expect(defaultSettings().close_to_tray).toBe(false);
    expect(new SettingsStore(dir, {}, { close_to_tray: true }).get().close_to_tray).toBe(true);
    expect(new SettingsStore(dir).get().close_to_tray).toBe(false);
  });

  it('a saved value wins over the host default; a flag wins over both', () => {
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ close_to_tray: false }));
    expect(new SettingsStore(dir, {}, { close_to_tray: true }).get().close_to_tray).toBe(false);
    expect(new SettingsStore(dir, { close_to_tray: true }, { close_to_tray: false }).get().close_to_tray).toBe(true);
  });

  it('host defaults are never written to the file (they follow the platform, not the user)', () => {
    const store = new SettingsStore(dir, {}, { close_to_tray: true });
    store.update({ max_active_models: 2 });
    expect(saved()).toEqual({ max_active_models: 2 });
    store.update({ close_to_tray: false });
    expect(saved()).toEqual({ max_active_models: 2, close_to_tray: false });
    expect(new SettingsStore(dir, {}, { close_to_tray: true }).get().close_to_tray).toBe(false);
  });

  it('a bad value in the file falls back to the host default, with a warning', () => {
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ close_to_tray: 'maybe' }));
    const store = new SettingsStore(dir, {}, { close_to_tray: true });
    expect(store.get().close_to_tray).toBe(true);
    expect(store.warnings).toEqual([`${join(dir, 'settings.json')}: close_to_tray must be true or false (got "maybe") (ignored)`]);
  });

  it('an invalid host default is a programming error and fails at once', () => {
    expect(() => new SettingsStore(dir, {}, { close_to_tray: 'yes' as unknown as boolean })).toThrow('invalid default settings: close_to_tray must be true or false (got "yes")');
  });

  it('createCore passes its `defaults` option to the store', async () => {
    const core = await createCore({ dataDir: dir, defaults: { close_to_tray: true }, overrides: { warm_standby: false }, demoModel: false });
    try {
      expect(core.commands.settings().close_to_tray).toBe(true);
    } finally {
      await core.dispose();
    }
  });
});
