/**
 * The global shortcut that opens the chat window (issue 4, item 1), from the `chat_shortcut`
 * setting: registered at start, registered again when the setting changes, unregistered on quit.
 * A shortcut that is not one, or that another app holds, is told to the user in a sentence and
 * otherwise ignored: the app never fails because of it. '' turns the shortcut off.
 */
import type { GlobalShortcut } from 'electron';

const MODIFIERS: Record<string, string> = {
  command: 'Command',
  cmd: 'Command',
  control: 'Control',
  ctrl: 'Control',
  commandorcontrol: 'CommandOrControl',
  cmdorctrl: 'CommandOrControl',
  alt: 'Alt',
  option: 'Alt',
  altgr: 'AltGr',
  shift: 'Shift',
  super: 'Super',
  meta: 'Meta',
};

/** Named keys Electron accepts (its accelerator docs), by their lower-case spelling. */
const NAMED_KEYS: Record<string, string> = Object.fromEntries(
  [
    'Plus', 'Space', 'Tab', 'Capslock', 'Numlock', 'Scrolllock', 'Backspace', 'Delete', 'Insert', 'Return', 'Enter',
    'Up', 'Down', 'Left', 'Right', 'Home', 'End', 'PageUp', 'PageDown', 'Escape', 'Esc',
    'VolumeUp', 'VolumeDown', 'VolumeMute', 'MediaNextTrack', 'MediaPreviousTrack', 'MediaStop', 'MediaPlayPause', 'PrintScreen',
    'numdec', 'numadd', 'numsub', 'nummult', 'numdiv',
    ...Array.from({ length: 10 }, (_, i) => `num${i}`),
    ...Array.from({ length: 24 }, (_, i) => `F${i + 1}`),
  ].map((k) => [k.toLowerCase(), k]),
);
const ALIASES: Record<string, string> = { enter: 'Return', esc: 'Escape' };
/** Keys that type nothing, so a shortcut on them alone steals nothing from the user's typing. */
const NON_TYPING = /^(F\d+|Media\w+|Volume\w+|PrintScreen)$/;
const PUNCTUATION = new Set([...')!@#$%^&*(:;=<,_->.?/~`{][|\\}"']);

export type ParsedAccelerator = { ok: true; normalized: string } | { ok: false; error: string };

/**
 * Checks an accelerator the way Electron reads it (modifiers and one key joined by "+", any case)
 * and returns a canonical spelling, so two spellings of one shortcut compare equal.
 */
export function parseAccelerator(accelerator: string): ParsedAccelerator {
  const text = accelerator.trim();
  if (text === '') return { ok: false, error: 'it is empty' };
  const parts = text.split('+').map((p) => p.trim());
  if (parts.some((p) => p === '')) return { ok: false, error: 'it has an empty part (write the + key as "Plus")' };
  const modifiers = new Set<string>();
  let key: string | null = null;
  for (const part of parts) {
    const lower = part.toLowerCase();
    if (MODIFIERS[lower]) {
      if (key !== null) return { ok: false, error: `the modifier "${part}" must come before the key` };
      modifiers.add(MODIFIERS[lower]);
      continue;
    }
    let k: string | null = null;
    if (/^[a-z0-9]$/i.test(part)) k = part.toUpperCase();
    else if (PUNCTUATION.has(part)) k = part;
    else if (NAMED_KEYS[lower]) k = ALIASES[lower] ?? NAMED_KEYS[lower];
    if (k === null) return { ok: false, error: `"${part}" is not a key or modifier Electron knows` };
    if (key !== null) return { ok: false, error: `it names two keys ("${key}" and "${k}"); a shortcut has one key and any modifiers` };
    key = k;
  }
  if (key === null) return { ok: false, error: 'it has modifiers but no key' };
  const typing = [...modifiers].every((m) => m === 'Shift');
  if (typing && !NON_TYPING.test(key)) {
    return { ok: false, error: 'it needs Ctrl, Alt or Cmd: without one it would take a key away from everything you type' };
  }
  return { ok: true, normalized: [...[...modifiers].sort(), key].join('+') };
}

/** Whether two accelerators are the same shortcut (both valid and equal once normalized). */
export function sameAccelerator(a: string, b: string): boolean {
  const pa = parseAccelerator(a);
  const pb = parseAccelerator(b);
  return pa.ok && pb.ok && pa.normalized === pb.normalized;
}

const WHERE = 'Change it in Settings (chat_shortcut), for example to CommandOrControl+Shift+L, or clear it to turn the shortcut off.';

export interface ShortcutOptions {
  globalShortcut: Pick<GlobalShortcut, 'register' | 'unregister'>;
  /** What the shortcut does: open the chat window. */
  onPress(): void;
  /** Tells the user why the shortcut does nothing (log and a notice). */
  report(message: string): void;
}

export class ChatShortcut {
  private applied: string | null = null;
  private registeredAs: string | null = null;

  constructor(private readonly o: ShortcutOptions) {}

  /** The accelerator registered now, or null (off, invalid or taken). */
  get registered(): string | null {
    return this.registeredAs;
  }

  /**
   * Registers `accelerator` in place of the previous one. Called with every settings change, so
   * the same value again does nothing (and does not repeat a warning).
   */
  apply(accelerator: string): void {
    if (accelerator === this.applied) return;
    this.applied = accelerator;
    this.release();
    if (accelerator.trim() === '') return;
    const parsed = parseAccelerator(accelerator);
    if (!parsed.ok) {
      this.o.report(`The chat shortcut "${accelerator}" cannot be used: ${parsed.error}. ${WHERE}`);
      return;
    }
    const text = accelerator.trim();
    let ok: boolean;
    try {
      ok = this.o.globalShortcut.register(text, () => {
        try {
          this.o.onPress();
        } catch (e) {
          this.o.report(`The chat shortcut could not open the chat window: ${(e as Error).message}`);
        }
      });
    } catch (e) {
      // Electron throws on an accelerator it cannot convert; our check should have caught it.
      this.o.report(`The chat shortcut "${accelerator}" cannot be used: ${(e as Error).message}. ${WHERE}`);
      return;
    }
    if (!ok) {
      this.o.report(`The chat shortcut ${text} is already used by another app or by the system, so it does nothing in Loadout. ${WHERE}`);
      return;
    }
    this.registeredAs = text;
  }

  /** Unregisters the shortcut (on quit). */
  dispose(): void {
    this.release();
    this.applied = null;
  }

  private release(): void {
    if (this.registeredAs === null) return;
    try {
      this.o.globalShortcut.unregister(this.registeredAs);
    } catch {
      // Already gone (the app is quitting); nothing to undo.
    }
    this.registeredAs = null;
  }
}
