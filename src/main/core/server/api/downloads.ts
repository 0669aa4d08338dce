/**
 * `/api/downloads` and `/api/hub` (downloads-spec section 4, G35, G38): thin over the core's
 * download commands; errors in the shared format.
 */
import { checkArgs } from '../../../../shared/contract';
import { LoadoutError } from '../../../../shared/errors';
import type { ApiCall } from './call';
import { bodyObject, replyJson } from './call';

/** 201 with the jobs it started; 200 when they were there already (G31). */
export async function start(call: ApiCall): Promise<void> {
  const body = await bodyObject(call, { required: true });
  const checked = checkArgs('startDownload', [body]);
  if (!checked.ok) throw new LoadoutError('invalid', checked.message);
  const { jobs, created } = call.ctx.core.commands.startDownload(body);
  replyJson(call, { jobs }, created ? 201 : 200);
}

export function list(call: ApiCall): void {
  replyJson(call, call.ctx.core.commands.downloads());
}

export function get(call: ApiCall, id: string): void {
  const job = call.ctx.core.commands.downloads().find((j) => j.id === id);
  if (!job) throw new LoadoutError('not_found', `No download with id ${id}; GET /api/downloads lists them.`);
  replyJson(call, job);
}

export async function pause(call: ApiCall, id: string): Promise<void> {
  replyJson(call, await call.ctx.core.commands.pauseDownload(id));
}

export async function resume(call: ApiCall, id: string): Promise<void> {
  replyJson(call, await call.ctx.core.commands.resumeDownload(id));
}

export async function cancel(call: ApiCall, id: string): Promise<void> {
  replyJson(call, await call.ctx.core.commands.cancelDownload(id));
}

export async function hubSearch(call: ApiCall): Promise<void> {
  const q = call.url.searchParams.get('q');
  if (!q) throw new LoadoutError('invalid', 'Say what to search for: GET /api/hub/search?q=<words>.');
  replyJson(call, await call.ctx.core.commands.hubSearch(q, call.signal));
}

export async function hubFiles(call: ApiCall): Promise<void> {
  const repo = call.url.searchParams.get('repo');
  if (!repo) throw new LoadoutError('invalid', 'Name the repository: GET /api/hub/files?repo=owner/name.');
  replyJson(call, await call.ctx.core.commands.hubFiles(repo, call.url.searchParams.get('revision') ?? undefined, call.signal));
}
