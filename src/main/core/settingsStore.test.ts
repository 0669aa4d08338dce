import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ERROR_STATUS, LoadoutError } from '../../shared/errors';
import { defaultSettings } from '../../shared/settings';
import { createCore } from './createCore';
import { fullDiskFs } from './fsx/fullDiskFs';
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
    expect(store.warnings).toEqual([`${join(dir, 'settings.json')}: close_to_tray must be true or false (got "maybe") (ignored, kept in the file)`]);
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

describe('Trust 1: a settings file that cannot be read is kept, reported and never run weaker', () => {
  const file = () => join(dir, 'settings.json');
  const cases: [string, string][] = [
    ['a trailing comma', '{ "api_key": "sesame", "idle_timeout": 60, }'],
    ['not an object', '["api_key", "sesame"]'],
    ['an unusable api_key', '{ "api_key": "ses\\name", "idle_timeout": 60 }'],
    ['an api_enabled that is not a boolean', '{ "api_enabled": "no", "api_key": "sesame" }'],
  ];
  for (const [what, text] of cases) {
    it(`${what}: reported as the problem; a save is refused and the file stays byte for byte`, () => {
      writeFileSync(file(), text);
      const store = new SettingsStore(dir);
      expect(store.problem).toContain(file());
      expect(store.problem).toMatch(/API off/);
      expect(() => store.update({ idle_timeout: 77 })).toThrow(/Settings not saved: .*cannot be used/);
      expect(readFileSync(file(), 'utf8')).toBe(text);
      expect(store.get().idle_timeout).toBe(0);
    });
  }

  it('once the user fixes the file, the next save reads it again and keeps what it holds', () => {
    writeFileSync(file(), '{ "api_key": "sesame", }');
    const store = new SettingsStore(dir);
    expect(store.problem).not.toBeNull();
    writeFileSync(file(), '{ "api_key": "sesame" }');
    store.update({ idle_timeout: 77 });
    expect(store.problem).toBeNull();
    expect(saved()).toEqual({ api_key: 'sesame', idle_timeout: 77 });
    expect(store.get().api_key).toBe('sesame');
  });

  it('keys named like Object.prototype members are unknown settings, kept in the file; the rest applies', () => {
    writeFileSync(file(), '{ "toString": 1, "__proto__": { "api_key": "x" }, "api_key": "sesame" }');
    const store = new SettingsStore(dir);
    expect(store.problem).toBeNull();
    expect(store.get().api_key).toBe('sesame');
    expect(store.warnings.join('\n')).toContain('unknown setting "toString"');
    expect(store.warnings.join('\n')).toContain('unknown setting "__proto__"');
    store.update({ idle_timeout: 5 });
    const text = readFileSync(file(), 'utf8');
    expect(JSON.parse(text)).toMatchObject({ toString: 1, api_key: 'sesame', idle_timeout: 5 });
    expect(text).toContain('"__proto__"');
  });

  it('a value this version cannot use stays in the file (the user may fix it by hand)', () => {
    writeFileSync(file(), JSON.stringify({ close_to_tray: 'maybe', future_setting: true }));
    const store = new SettingsStore(dir);
    store.update({ idle_timeout: 5 });
    expect(saved()).toEqual({ close_to_tray: 'maybe', future_setting: true, idle_timeout: 5 });
  });

  it('a patch with a key like toString or __proto__ is refused as unknown, not a crash', () => {
    const store = new SettingsStore(dir);
    expect(() => store.update({ toString: 1 })).toThrow('Settings not saved: unknown setting "toString".');
    expect(() => store.update(JSON.parse('{"__proto__": {"api_key": "x"}}'))).toThrow('unknown setting "__proto__"');
    expect(store.get().api_key).toBe('');
  });

  it('a patch that is not an object is refused saying what to send', () => {
    const store = new SettingsStore(dir);
    for (const bad of [null, 'idle_timeout=5', [1], 7]) {
      expect(() => store.update(bad as unknown as Record<string, unknown>)).toThrow(expect.objectContaining({ code: 'invalid', message: expect.stringContaining('send an object of settings') }));
    }
  });
});

describe('Trust 3: a failed settings write changes nothing', () => {
  it('a full disk: 507 disk_space, the old file, the old value in memory, no temp file; a later save writes only its own change', () => {
    writeFileSync(join(dir, 'settings.json'), JSON.stringify({ idle_timeout: 10 }));
    const fs = fullDiskFs(5);
    const store = new SettingsStore(dir, {}, {}, fs);
    let error: unknown;
    try {
      store.update({ idle_timeout: 77 });
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LoadoutError);
    expect((error as LoadoutError).code).toBe('disk_space');
    expect(ERROR_STATUS.disk_space).toBe(507);
    expect((error as Error).message).toMatch(/full/);
    expect(store.get().idle_timeout).toBe(10);
    expect(saved()).toEqual({ idle_timeout: 10 });
    expect(readdirSync(dir)).toEqual(['settings.json']);
    // Space is back: the next change does not carry the failed one with it.
    const roomy = new SettingsStore(dir);
    roomy.update({ stall_timeout: 9 });
    expect(saved()).toEqual({ idle_timeout: 10, stall_timeout: 9 });
  });

  it('EDQUOT (over quota) is disk_space too', () => {
    const store = new SettingsStore(dir, {}, {}, fullDiskFs(0, 'EDQUOT'));
    expect(() => store.update({ idle_timeout: 1 })).toThrow(expect.objectContaining({ code: 'disk_space' }));
  });
});
