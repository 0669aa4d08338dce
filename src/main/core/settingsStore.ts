/**
 * Settings: defaults < saved file (`<data>/settings.json`) < flags for this run (never saved).
 * The defaults are the schema's, with the host's own on top (the desktop app's differ per
 * platform, e.g. `close_to_tray`); like the schema's, they are never written to the file.
 * Changes from the GUI/API are validated, applied at once and saved.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LoadoutError } from '../../shared/errors';
import type { Settings } from '../../shared/model';
import { defaultSettings, mergeSettings } from '../../shared/settings';
import { writeFileAtomicSync } from './fsx/writeFileAtomic';

export class SettingsStore {
  private saved: Partial<Settings> = {};
  private current: Settings;
  readonly file: string;
  /** Problems found in the saved file (shown to the user; the app still starts). */
  readonly warnings: string[] = [];

  /** The host's defaults, validated. */
  private readonly defaults: Partial<Settings> = {};

  constructor(readonly dataDir: string, private readonly overrides: Partial<Settings> = {}, defaults: Partial<Settings> = {}) {
    this.file = join(dataDir, 'settings.json');
    const base = mergeSettings(defaultSettings(), defaults);
    // A bad host default is a programming error, not the user's: fail loudly at start.
    if (base.errors.length > 0) throw new Error(`invalid default settings: ${base.errors.join('; ')}`);
    for (const k of Object.keys(defaults) as (keyof Settings)[]) (this.defaults as Record<string, unknown>)[k] = base.settings[k];
    try {
      const parsed: unknown = JSON.parse(readFileSync(this.file, 'utf8'));
      if (parsed && typeof parsed === 'object' && !Array.isArray(parsed)) {
        const { settings, errors } = mergeSettings(this.defaultSettings(), parsed as Record<string, unknown>);
        for (const e of errors) this.warnings.push(`${this.file}: ${e} (ignored)`);
        const known = Object.keys(parsed as object).filter((k) => k in settings) as (keyof Settings)[];
        for (const k of known) (this.saved as Record<string, unknown>)[k] = settings[k];
      } else {
        this.warnings.push(`${this.file} is not a JSON object; using defaults`);
      }
    } catch (e) {
      const code = (e as NodeJS.ErrnoException).code;
      if (code !== 'ENOENT') this.warnings.push(`${this.file} could not be read (${(e as Error).message}); using defaults`);
    }
    this.current = this.compute();
  }

  private defaultSettings(): Settings {
    return { ...defaultSettings(), ...this.defaults };
  }

  private compute(): Settings {
    const s = { ...this.defaultSettings(), ...this.saved, ...this.overrides, data_dir: this.dataDir };
    s.models_dir = s.models_dir ? resolve(s.models_dir) : join(this.dataDir, 'models');
    return s;
  }

  get(): Settings {
    return this.current;
  }

  /** Merges a partial update (PUT /api/settings semantics); throws `invalid` listing every bad key. */
  update(patch: Record<string, unknown>): Settings {
    if ('data_dir' in patch && patch.data_dir !== this.dataDir) {
      throw new LoadoutError('invalid', 'data_dir cannot change while Loadout runs; start it with --data <folder> instead.');
    }
    const { data_dir: _ignored, ...rest } = patch;
    const { settings, errors } = mergeSettings(this.current, rest);
    if (errors.length > 0) throw new LoadoutError('invalid', `Settings not saved: ${errors.join('; ')}.`);
    for (const key of Object.keys(rest) as (keyof Settings)[]) {
      (this.saved as Record<string, unknown>)[key] = settings[key];
      // A value set now wins over this run's flag.
      delete (this.overrides as Record<string, unknown>)[key];
    }
    this.save();
    this.current = this.compute();
    return this.current;
  }

  private save(): void {
    writeFileAtomicSync(this.file, `${JSON.stringify(this.saved, null, 2)}\n`);
  }
}
