/** Checks of what commands bring in (untrusted: they may come over IPC or a WebSocket), and titles. */
import { DEFAULT_CHAT_PARAMS } from '../../../shared/chat';
import type { ChatParams, ConversationPatch } from '../../../shared/chat';
import { LoadoutError } from '../../../shared/errors';

export const DEFAULT_TITLE = 'New chat';
const TITLE_MAX = 200;
const AUTO_TITLE_MAX = 48;

/** Conversation and message ids: time-sortable, then random; never anything a path could abuse. */
export const ID_PATTERN = /^[a-z0-9][a-z0-9-]{0,63}$/;

export function checkId(id: unknown, what = 'conversation'): string {
  if (typeof id !== 'string' || !ID_PATTERN.test(id)) {
    throw new LoadoutError('invalid', `${JSON.stringify(id)} is not a valid ${what} id.`);
  }
  return id;
}

export function checkText(text: unknown): string {
  if (typeof text !== 'string') throw new LoadoutError('invalid', 'The message must be text.');
  if (text.trim() === '') throw new LoadoutError('invalid', 'The message is empty: type something first.');
  return text;
}

export function checkTitle(title: unknown): string {
  if (typeof title !== 'string' || title.trim() === '') throw new LoadoutError('invalid', 'The title cannot be empty.');
  const t = title.trim().replace(/\s+/g, ' ');
  return t.length > TITLE_MAX ? t.slice(0, TITLE_MAX) : t;
}

type Range = { min: number; max: number; int?: boolean; positive?: boolean };
const NUMERIC: Record<Exclude<keyof ChatParams, 'system_prompt'>, Range & { say: string }> = {
  temperature: { min: 0, max: 2, say: 'a number from 0 to 2' },
  top_p: { min: 0, max: 1, say: 'a number from 0 to 1' },
  max_tokens: { min: 1, max: Number.MAX_SAFE_INTEGER, int: true, say: 'a whole number of 1 or more' },
  seed: { min: Number.MIN_SAFE_INTEGER, max: Number.MAX_SAFE_INTEGER, int: true, say: 'a whole number' },
};

/** Validates a params patch; every field is optional, `null` means "the model's config default". */
export function checkParams(patch: unknown): Partial<ChatParams> {
  if (typeof patch !== 'object' || patch === null || Array.isArray(patch)) throw new LoadoutError('invalid', 'params must be an object.');
  const out: Partial<ChatParams> = {};
  for (const [key, value] of Object.entries(patch)) {
    if (value === undefined) continue;
    if (key === 'system_prompt') {
      if (typeof value !== 'string') throw new LoadoutError('invalid', 'system_prompt must be text ("" for none).');
      out.system_prompt = value;
      continue;
    }
    if (!Object.hasOwn(NUMERIC, key)) {
      throw new LoadoutError('invalid', `Unknown chat setting "${key}"; the settings are system_prompt, ${Object.keys(NUMERIC).join(', ')}.`);
    }
    const k = key as keyof typeof NUMERIC;
    const r = NUMERIC[k];
    if (value === null) {
      out[k] = null;
      continue;
    }
    if (typeof value !== 'number' || !Number.isFinite(value) || value < r.min || value > r.max || (r.int && !Number.isInteger(value))) {
      throw new LoadoutError('invalid', `${key} must be ${r.say}, or empty for the model's default (got ${JSON.stringify(value)}).`);
    }
    out[k] = value;
  }
  return out;
}

/** A conversation patch with its fields checked (the model name is checked against the catalog by the caller). */
export function checkPatch(patch: unknown): ConversationPatch {
  if (patch === undefined || patch === null) return {};
  if (typeof patch !== 'object' || Array.isArray(patch)) throw new LoadoutError('invalid', 'The change must be an object.');
  const p = patch as Record<string, unknown>;
  for (const key of Object.keys(p)) {
    if (!['title', 'model', 'params'].includes(key)) throw new LoadoutError('invalid', `Unknown conversation field "${key}"; it has title, model and params.`);
  }
  const out: ConversationPatch = {};
  if (p.title !== undefined) out.title = checkTitle(p.title);
  if (p.model !== undefined) {
    if (p.model !== null && (typeof p.model !== 'string' || p.model === '')) throw new LoadoutError('invalid', 'model must be a model name, or null for none.');
    out.model = p.model;
  }
  if (p.params !== undefined) out.params = checkParams(p.params);
  return out;
}

export function mergeParams(base: ChatParams, patch: Partial<ChatParams> | undefined): ChatParams {
  return { ...DEFAULT_CHAT_PARAMS, ...base, ...(patch ?? {}) };
}

/** The first line of the first message, shortened: "Explain the difference between TCP and…". */
export function titleFrom(text: string): string {
  const line = text.split('\n').map((l) => l.trim()).find((l) => l !== '') ?? '';
  const t = line.replace(/\s+/g, ' ');
  if (t === '') return DEFAULT_TITLE;
  const chars = [...t];
  if (chars.length <= AUTO_TITLE_MAX) return t;
  const cut = chars.slice(0, AUTO_TITLE_MAX).join('');
  // Cut at a word boundary when one is near the end, so the title does not stop mid-word.
  const space = cut.lastIndexOf(' ');
  return `${(space > AUTO_TITLE_MAX * 0.6 ? cut.slice(0, space) : cut).trimEnd()}…`;
}
