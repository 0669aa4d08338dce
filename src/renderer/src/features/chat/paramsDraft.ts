/**
 * The settings panel's form as data: its fields as typed, whether they differ from what is saved,
 * and why they can't be saved. It lives in the chat store (not in the panel) so that a send can
 * save what the panel shows first: an answer always uses the settings on screen.
 */
import type { ChatParams } from '../../../../shared/chat';

export type ParamField = 'temperature' | 'top_p' | 'max_tokens' | 'seed';

/** The fields as typed ('' = the model's default). */
export interface Draft {
  system_prompt: string;
  temperature: string;
  top_p: string;
  max_tokens: string;
  seed: string;
}

/** The panel of one conversation, while it is open. */
export interface ParamsEdit {
  /** The fields with unsaved changes; null when the panel shows the saved settings. */
  draft: Draft | null;
  /** Why the last save failed or could not be tried, and the field at fault. */
  error: string | null;
  field?: ParamField;
  /** A save went through and nothing was changed since. */
  saved: boolean;
}

export const NO_EDIT: ParamsEdit = { draft: null, error: null, saved: false };

export const toDraft = (p: ChatParams): Draft => ({
  system_prompt: p.system_prompt,
  temperature: p.temperature === null ? '' : String(p.temperature),
  top_p: p.top_p === null ? '' : String(p.top_p),
  max_tokens: p.max_tokens === null ? '' : String(p.max_tokens),
  seed: p.seed === null ? '' : String(p.seed),
});

export const FIELDS: { key: ParamField; label: string; hint: string; step: string; min?: number; max?: number; integer: boolean }[] = [
  { key: 'temperature', label: 'Temperature', hint: '0 = always the likeliest word; higher = more varied (up to 2)', step: '0.05', min: 0, max: 2, integer: false },
  { key: 'top_p', label: 'Top-p', hint: 'Sample from the likeliest words that add up to this share (0-1)', step: '0.05', min: 0, max: 1, integer: false },
  { key: 'max_tokens', label: 'Max tokens', hint: 'Longest answer, in tokens', step: '1', min: 1, integer: true },
  { key: 'seed', label: 'Seed', hint: 'The same seed and settings give the same answer', step: '1', integer: true },
];

/** The params a draft stands for, or the first field's error. */
export function parseDraft(d: Draft): { params: ChatParams } | { error: string; field: ParamField } {
  const params: ChatParams = { system_prompt: d.system_prompt, temperature: null, top_p: null, max_tokens: null, seed: null };
  for (const f of FIELDS) {
    const raw = d[f.key].trim();
    if (raw === '') continue;
    const v = Number(raw);
    if (!Number.isFinite(v) || (f.integer && !Number.isInteger(v))) return { error: `${f.label} must be ${f.integer ? 'a whole number' : 'a number'}, or empty for the model's default.`, field: f.key };
    if ((f.min !== undefined && v < f.min) || (f.max !== undefined && v > f.max)) {
      return { error: `${f.label} must be ${f.max !== undefined ? `between ${f.min} and ${f.max}` : `at least ${f.min}`}, or empty for the model's default.`, field: f.key };
    }
    params[f.key] = v;
  }
  return { params };
}

const sameParams = (a: ChatParams, b: ChatParams) =>
  a.system_prompt === b.system_prompt && a.temperature === b.temperature && a.top_p === b.top_p && a.max_tokens === b.max_tokens && a.seed === b.seed;

/**
 * What a send must do about the panel first: nothing (no unsaved change, or the fields say what
 * is saved already), save these params, or not send because a field is wrong.
 */
export function unsavedParams(edit: ParamsEdit | undefined, saved: ChatParams): null | { params: ChatParams } | { error: string; field: ParamField } {
  if (!edit?.draft) return null;
  const parsed = parseDraft(edit.draft);
  if ('params' in parsed && sameParams(parsed.params, saved)) return null;
  return parsed;
}
