/**
 * Settings: defaults < saved file (`<data>/settings.json`) < flags for this run (never saved).
 * The defaults are the schema's, with the host's own on top (the desktop app's differ per
 * platform, e.g. `close_to_tray`); like the schema's, they are never written to the file.
 * Changes from the GUI/API are validated, saved, and applied once saved.
 *
 * The file is the user's: a file that cannot be read (bad JSON, not an object, an unusable
 * `api_key`) is never overwritten. It is reported as `problem`, saves are refused until the user
 * fixes or removes it, and the hosts keep the API off meanwhile, so Loadout never runs with
 * weaker security than the user saved. Keys this version does not know, and values it cannot
 * use, stay in the file as they were.
 */
import { readFileSync } from 'node:fs';
import { join, resolve } from 'node:path';
import { LoadoutError } from '../../shared/errors';
import type { Settings } from '../../shared/model';
import { defaultSettings, mergeSettings } from '../../shared/settings';
import { storageError } from './fsx/storageError';
import { writeFileAtomicSync, type AtomicFs } from './fsx/writeFileAtomic';

/** Settings whose default is weaker than what the user may have saved: an unusable value makes the file unreadable. */
const GUARDS: readonly (keyof Settings)[] = ['api_key', 'api_enabled'];

type Read = { ok: true; raw: Record<string, unknown>; saved: Partial<Settings>; warnings: string[] } | { ok: false; problem: string };

export class SettingsStore {
  /** The file's object as read (own keys, unknown ones and bad values included): what a save writes back, changed. */
  private raw: Record<string, unknown> = {};
  /** The usable values among them. */
  private saved: Partial<Settings> = {};
  private current: Settings;
  readonly file: string;
  /** Problems found in the saved file (shown to the user; the app still starts). */
  readonly warnings: string[] = [];
  private unreadable: string | null = null;

  /** The host's defaults, validated. */
  private readonly defaults: Partial<Settings> = {};

  constructor(
    readonly dataDir: string,
    private readonly overrides: Partial<Settings> = {},
    defaults: Partial<Settings> = {},
    private readonly fs?: AtomicFs,
  ) {
    this.file = join(dataDir, 'settings.json');
    const base = mergeSettings(defaultSettings(), defaults);
    // A bad host default is a programming error, not the user's: fail loudly at start.
    if (base.errors.length > 0) throw new Error(`invalid default settings: ${base.errors.join('; ')}`);
    for (const k of Object.keys(defaults) as (keyof Settings)[]) (this.defaults as Record<string, unknown>)[k] = base.settings[k];
    const read = this.read();
    if (read.ok) this.adopt(read);
    else this.unreadable = read.problem;
    this.current = this.compute();
  }

  /** Why the saved file cannot be used (saves refused, API kept off), or null. */
  get problem(): string | null {
    return this.unreadable;
  }

  private read(): Read {
    let text: string;
    try {
      text = readFileSync(this.file, 'utf8');
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code === 'ENOENT') return { ok: true, raw: {}, saved: {}, warnings: [] };
      return { ok: false, problem: this.unreadableSentence(`it could not be read: ${(e as Error).message}`) };
    }
    let parsed: unknown;
    try {
      parsed = JSON.parse(text);
    } catch (e) {
      return { ok: false, problem: this.unreadableSentence(`it is not valid JSON: ${(e as Error).message}`) };
    }
    if (!parsed || typeof parsed !== 'object' || Array.isArray(parsed)) return { ok: false, problem: this.unreadableSentence('it is not a JSON object') };
    const raw = parsed as Record<string, unknown>;
    const saved: Record<string, unknown> = {};
    const warnings: string[] = [];
    for (const key of Object.keys(raw)) {
      const { settings, errors } = mergeSettings(this.defaultSettings(), { [key]: raw[key] });
      if (errors.length === 0) saved[key] = settings[key as keyof Settings];
      else if ((GUARDS as string[]).includes(key)) return { ok: false, problem: this.unreadableSentence(errors[0]) };
      else warnings.push(`${this.file}: ${errors[0]} (ignored, kept in the file)`);
    }
    return { ok: true, raw, saved: saved as Partial<Settings>, warnings };
  }

  private unreadableSentence(why: string): string {
    return `${this.file} cannot be used (${why}). Loadout keeps it as it is, runs on default settings with the API off, and saves no settings until you fix the file or delete it.`;
  }

  private adopt(read: Extract<Read, { ok: true }>): void {
    this.raw = read.raw;
    this.saved = read.saved;
    this.warnings.push(...read.warnings);
    this.unreadable = null;
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

  /** The settings a command-line flag set for this run (saving one replaces its flag). */
  flagged(): (keyof Settings)[] {
    return Object.keys(this.overrides) as (keyof Settings)[];
  }

  /**
   * Merges a partial update (PUT /api/settings semantics): validated, saved, then applied.
   * Throws `invalid` listing every bad key, or the save's error (`disk_space` on a full disk);
   * then nothing changed, in memory or on disk.
   */
  update(patch: Record<string, unknown>): Settings {
    // It may come from a WebSocket or an HTTP body: anything at all.
    if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) {
      throw new LoadoutError('invalid', 'Settings not saved: send an object of settings, like {"idle_timeout": 600}.');
    }
    if (Object.hasOwn(patch, 'data_dir') && patch.data_dir !== this.dataDir) {
      throw new LoadoutError('invalid', 'data_dir cannot change while Loadout runs; start it with --data <folder> instead.');
    }
    const rest = Object.fromEntries(Object.entries(patch).filter(([k]) => k !== 'data_dir'));
    const { settings, errors } = mergeSettings(this.current, rest);
    if (errors.length > 0) throw new LoadoutError('invalid', `Settings not saved: ${errors.join('; ')}.`);
    if (this.unreadable !== null) {
      // The user may have fixed or removed the file since: only then is it ours to write.
      const again = this.read();
      if (!again.ok) throw new LoadoutError('invalid', `Settings not saved: ${again.problem}`);
      this.adopt(again);
    }
    const raw = { ...this.raw };
    const saved: Record<string, unknown> = { ...this.saved };
    for (const key of Object.keys(rest)) {
      raw[key] = settings[key as keyof Settings];
      saved[key] = settings[key as keyof Settings];
    }
    try {
      writeFileAtomicSync(this.file, `${JSON.stringify(raw, null, 2)}\n`, { fs: this.fs });
    } catch (e) {
      throw storageError(e, 'Settings not saved', this.dataDir, 'backend_failed');
    }
    this.raw = raw;
    this.saved = saved as Partial<Settings>;
    // A value set now wins over this run's flag.
    for (const key of Object.keys(rest)) delete (this.overrides as Record<string, unknown>)[key];
    this.current = this.compute();
    return this.current;
  }
}
