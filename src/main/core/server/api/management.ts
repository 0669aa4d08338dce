/**
 * The management API (`/api`), JSON in the shared names of loader-spec.md: the snapshot, load,
 * unload, pin, plan, journal, logs and settings. Errors are `{"error": {"code", "message"}}`.
 */
import { LoadoutError } from '../../../../shared/errors';
import type { ApiCall } from './call';
import { bodyObject, replyJson } from './call';

export function state(call: ApiCall): void {
  replyJson(call, call.ctx.core.commands.snapshot());
}

export function modelRow(call: ApiCall, name: string): void {
  replyJson(call, call.ctx.core.commands.row(name));
}

/**
 * Answers once the model is ready (200 with its row) or the load failed. An explicit load is the
 * user's, not on demand: it is not held back by the L13 cooldown. A client that gives up stops
 * waiting; the load goes on (L12).
 */
export async function load(call: ApiCall, name: string): Promise<void> {
  await bodyObject(call);
  replyJson(call, await call.ctx.core.commands.load(name, { origin: 'user', signal: call.signal }));
}

/** Answers once the model is unloaded (its process has exited). `{"force": true}` skips the grace wait (U2). */
export async function unload(call: ApiCall, name: string): Promise<void> {
  const body = await bodyObject(call);
  if (body.force !== undefined && typeof body.force !== 'boolean') throw new LoadoutError('invalid', '"force" must be true or false.');
  replyJson(call, await call.ctx.core.commands.unload(name, { force: body.force === true }));
}

export async function pin(call: ApiCall, name: string): Promise<void> {
  const body = await bodyObject(call, { required: true });
  if (typeof body.pinned !== 'boolean') throw new LoadoutError('invalid', 'Send {"pinned": true} or {"pinned": false}.');
  call.ctx.core.commands.row(name);
  replyJson(call, await call.ctx.core.commands.pin(name, body.pinned));
}

export function plan(call: ApiCall, name: string): void {
  call.ctx.core.commands.row(name);
  replyJson(call, call.ctx.core.commands.plan(name));
}

/** The eviction journal (E2), oldest first; `?model=<name>` keeps one model's entries. */
export function journal(call: ApiCall): void {
  const model = call.url.searchParams.get('model') ?? undefined;
  replyJson(call, call.ctx.core.commands.journal(model));
}

export function logs(call: ApiCall, name: string): void {
  call.ctx.core.commands.row(name);
  replyJson(call, call.ctx.core.commands.logs(name));
}

export function getSettings(call: ApiCall): void {
  replyJson(call, call.ctx.core.commands.settings());
}

/** Merges the keys given (loader-spec.md); a bad key or value is 400 and nothing is saved. */
export async function putSettings(call: ApiCall): Promise<void> {
  const body = await bodyObject(call, { required: true });
  replyJson(call, await call.ctx.core.commands.updateSettings(body));
}
