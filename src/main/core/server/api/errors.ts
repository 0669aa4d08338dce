/**
 * Errors of the HTTP API: one error becomes `{"error": {"code", "message"}}` under `/api` and
 * OpenAI's `{"error": {"message", "type", "param", "code"}}` under `/v1`, with the status
 * loader-spec.md maps its code to, and Retry-After on every 503 and 429.
 */
import type { ServerResponse } from 'node:http';
import { ERROR_STATUS, LoadoutError, RETRY_AFTER_S, toErrorData } from '../../../../shared/errors';
import type { ErrorCode, ErrorData } from '../../../../shared/errors';

/** A bad request field: `param` names it for OpenAI clients. */
export class InvalidParam extends LoadoutError {
  constructor(
    readonly param: string | null,
    message: string,
  ) {
    super('invalid', message);
  }
}

/** Which API family answers: they share codes and statuses, not the body shape. */
export type ApiFlavor = 'api' | 'v1';

/** Seconds a client should wait on a 503 that did not say (loader-spec.md: every 503 has one). */
const DEFAULT_RETRY_AFTER_S = 5;

export interface ErrorReply {
  status: number;
  headers: Record<string, string>;
  body: unknown;
  data: ErrorData;
}

/**
 * Any thrown value as the reply to send. Errors that are not LoadoutErrors are our bugs or a
 * backend's surprise: they become 502 `backend_failed` with their message rather than a bare 500.
 * `modelLookup` says a `not_found` is about the requested model (OpenAI's `model_not_found`).
 */
export function errorReply(e: unknown, flavor: ApiFlavor, opts: { modelLookup?: boolean } = {}): ErrorReply {
  const data = toErrorData(e);
  const status = ERROR_STATUS[data.code] ?? 500;
  const headers: Record<string, string> = {};
  if (status === 503 || status === 429) headers['retry-after'] = String(Math.max(1, Math.ceil(data.retryAfter ?? RETRY_AFTER_S[data.code] ?? (status === 503 ? DEFAULT_RETRY_AFTER_S : 1))));
  if (data.code === 'too_large') headers.connection = 'close';
  const param = e instanceof InvalidParam ? e.param : null;
  const body = flavor === 'api' ? { error: data } : openAiErrorBody(data, status, param, !!opts.modelLookup);
  return { status, headers, body, data };
}

function openAiErrorBody(data: ErrorData, status: number, param: string | null, modelLookup: boolean): unknown {
  const code = data.code === 'not_found' && modelLookup ? 'model_not_found' : data.code;
  const error: Record<string, unknown> = { message: data.message, type: openAiType(data.code, status), param: modelLookup && code === 'model_not_found' ? 'model' : param, code };
  if (data.loading) error.loading = data.loading;
  // G36: what to download (or the running download's progress), under /v1 too.
  if (data.download) error.download = data.download;
  if (data.retryAfter !== undefined) error.retry_after = data.retryAfter;
  return { error };
}

/** OpenAI's error `type`: clients branch on the HTTP status, people read the type. */
function openAiType(code: ErrorCode, status: number): string {
  if (status >= 500) return 'server_error';
  if (code === 'unauthorized') return 'authentication_error';
  if (code === 'forbidden') return 'permission_error';
  if (code === 'queue_full') return 'rate_limit_error';
  return 'invalid_request_error';
}

/** Writes a JSON answer (headers not yet sent). */
export function sendJson(res: ServerResponse, status: number, body: unknown, headers: Record<string, string> = {}): void {
  const text = JSON.stringify(body);
  res.writeHead(status, { 'content-type': 'application/json; charset=utf-8', 'content-length': String(Buffer.byteLength(text)), ...headers });
  res.end(text);
}

/** Sends `e` as an error answer; `status` overrides the code's (405 has no code of its own). */
export function sendError(res: ServerResponse, e: unknown, flavor: ApiFlavor, opts: { modelLookup?: boolean; headers?: Record<string, string>; status?: number } = {}): ErrorReply {
  const reply = errorReply(e, flavor, opts);
  if (res.headersSent) {
    res.end();
    return reply;
  }
  sendJson(res, opts.status ?? reply.status, reply.body, { ...opts.headers, ...reply.headers });
  return reply;
}
