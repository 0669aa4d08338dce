/** Request bodies: size-limited (`api_body_limit`) and parsed as JSON, with errors a user can act on. */
import type { IncomingMessage } from 'node:http';
import { LoadoutError } from '../../../../shared/errors';

/**
 * After refusing an oversized body we still read (and drop) up to this much more, so a client
 * that is mid-upload gets our 413 instead of a reset connection; past it we hang up.
 */
const DRAIN_CAP_BYTES = 16 * 1024 * 1024;

function tooLarge(limit: number, size?: number): LoadoutError {
  const what = size !== undefined ? `${size} bytes` : 'more than that';
  return new LoadoutError('too_large', `The request body is ${what}; the limit is ${limit} bytes (api_body_limit). Send less, or raise api_body_limit in Settings.`);
}

/** Reads the whole body, refusing it (413 `too_large`) as soon as it passes `limit` bytes. */
export function readBody(req: IncomingMessage, limit: number): Promise<Buffer> {
  const declared = Number(req.headers['content-length']);
  if (Number.isFinite(declared) && declared > limit) {
    drain(req);
    return Promise.reject(tooLarge(limit, declared));
  }
  return new Promise((resolve, reject) => {
    const parts: Buffer[] = [];
    let size = 0;
    const onData = (chunk: Buffer) => {
      size += chunk.length;
      if (size > limit) {
        cleanup();
        drain(req);
        reject(tooLarge(limit));
        return;
      }
      parts.push(chunk);
    };
    const onEnd = () => {
      cleanup();
      resolve(Buffer.concat(parts, size));
    };
    const onError = (e: Error) => {
      cleanup();
      reject(new LoadoutError('invalid', `The request body could not be read: ${e.message}`));
    };
    const cleanup = () => {
      req.off('data', onData);
      req.off('end', onEnd);
      req.off('error', onError);
    };
    req.on('data', onData);
    req.on('end', onEnd);
    req.on('error', onError);
  });
}

function drain(req: IncomingMessage): void {
  let dropped = 0;
  req.on('data', (chunk: Buffer) => {
    dropped += chunk.length;
    if (dropped > DRAIN_CAP_BYTES) req.socket.destroy();
  });
  req.on('error', () => {});
  req.resume();
}

/**
 * Deepest nesting of objects and lists a request may have. Real requests nest a few levels (a
 * tool's JSON schema a dozen or so); everything that walks a request (the schema grammar,
 * JSON.stringify of tools) recurses per level, so a body nested thousands deep is refused whole.
 */
export const MAX_JSON_DEPTH = 256;

/** True when the JSON text opens more than `max` objects or lists inside each other (strings skipped). */
function nestedDeeperThan(text: string, max: number): boolean {
  let depth = 0;
  let inString = false;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (inString) {
      if (c === 0x5c) i++; // backslash: skip the escaped character
      else if (c === 0x22) inString = false;
    } else if (c === 0x22) inString = true;
    else if (c === 0x7b || c === 0x5b) {
      if (++depth > max) return true;
    } else if (c === 0x7d || c === 0x5d) depth--;
  }
  return false;
}

/**
 * The body as JSON. An empty body is `undefined` (a management POST may have none); malformed
 * JSON is 400 `invalid` with the parser's reason.
 */
export async function readJson(req: IncomingMessage, limit: number): Promise<unknown> {
  const raw = await readBody(req, limit);
  const text = raw.toString('utf8');
  if (text.trim() === '') return undefined;
  if (nestedDeeperThan(text, MAX_JSON_DEPTH)) {
    throw new LoadoutError('invalid', `The request body nests objects or lists more than ${MAX_JSON_DEPTH} levels deep; no request needs that many. Flatten it.`);
  }
  try {
    return JSON.parse(text) as unknown;
  } catch (e) {
    throw new LoadoutError('invalid', `The request body is not valid JSON (${(e as Error).message}). Send a JSON object with Content-Type: application/json.`);
  }
}

/** The body as a JSON object (`{}` when empty); anything else is 400. */
export async function readJsonObject(req: IncomingMessage, limit: number, opts: { required?: boolean } = {}): Promise<Record<string, unknown>> {
  const value = await readJson(req, limit);
  if (value === undefined) {
    if (opts.required) throw new LoadoutError('invalid', 'The request needs a JSON body (a JSON object).');
    return {};
  }
  if (typeof value !== 'object' || value === null || Array.isArray(value)) {
    throw new LoadoutError('invalid', `The request body must be a JSON object, not ${Array.isArray(value) ? 'an array' : typeof value === 'object' ? 'null' : `a ${typeof value}`}.`);
  }
  return value as Record<string, unknown>;
}
