/** One API request as the route handlers see it. */
import type { IncomingMessage, ServerResponse } from 'node:http';
import type { ServerContext } from '../httpServer';
import { readJsonObject } from './body';
import { sendError, sendJson } from './errors';
import type { ApiFlavor } from './errors';
import type { SsePacer } from './sse';

export interface ApiCall {
  ctx: ServerContext;
  req: IncomingMessage;
  res: ServerResponse;
  url: URL;
  flavor: ApiFlavor;
  /** Aborted when the client goes away before its answer is complete (R3). */
  signal: AbortSignal;
  /** The server's streams (one event per piece; writes joined when many streams run). */
  sse: SsePacer;
  /** Added to every answer (CORS for an allowed origin). */
  headers: Record<string, string>;
  /** What the request log shows besides method, path, status and duration. */
  log: { model: string | null; tokens: number | null; error: string | null };
}

export function replyJson(call: ApiCall, body: unknown, status = 200): void {
  sendJson(call.res, status, body, call.headers);
}

/** Sends the error in the call's flavor and notes it for the request log. */
export function replyError(call: ApiCall, e: unknown, opts: { modelLookup?: boolean } = {}): void {
  const reply = sendError(call.res, e, call.flavor, { ...opts, headers: call.headers });
  call.log.error ??= `${reply.data.code}: ${reply.data.message}`;
}

export function bodyObject(call: ApiCall, opts: { required?: boolean } = {}): Promise<Record<string, unknown>> {
  return readJsonObject(call.req, call.ctx.settings().api_body_limit, opts);
}
