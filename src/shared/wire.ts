/**
 * The WebSocket bridge's wire format (headless mode, `/ws?token=...`): the same contract as the
 * Electron preload, as JSON text frames.
 *
 *   page -> core   { id, name, args }        one command call; `id` is the page's to pick
 *   core -> page   { id, outcome }           its Outcome (errors as data, never a dropped call)
 *   core -> page   { event }                 every core event, pushed as it happens
 *
 * A malformed frame gets `{ id: null, outcome: { ok: false, error } }` back; the socket stays open.
 */
import type { Outcome } from './contract';
import type { CoreEvent } from './model';

export interface WireCall {
  id: number;
  name: string;
  args: unknown[];
}

export type WireReply = { id: number | null; outcome: Outcome<unknown> };
export type WirePush = { event: CoreEvent };
export type WireServerMessage = WireReply | WirePush;

/** Parses a frame from the page; returns an error sentence for anything that is not a call. */
export function parseWireCall(text: string): { ok: true; call: WireCall } | { ok: false; id: number | null; message: string } {
  let value: unknown;
  try {
    value = JSON.parse(text);
  } catch {
    return { ok: false, id: null, message: 'the message is not JSON' };
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) return { ok: false, id: null, message: 'the message must be an object {id, name, args}' };
  const v = value as Record<string, unknown>;
  const id = typeof v.id === 'number' && Number.isSafeInteger(v.id) ? v.id : null;
  if (id === null) return { ok: false, id: null, message: 'the message needs a numeric id' };
  if (typeof v.name !== 'string') return { ok: false, id, message: 'the message needs a command name' };
  if (!Array.isArray(v.args)) return { ok: false, id, message: `arguments of ${v.name} must be a list` };
  return { ok: true, call: { id, name: v.name, args: v.args } };
}

/** Close code the bridge uses when it shuts down (the page reconnects). */
export const WIRE_CLOSE_SHUTDOWN = 1001;
