/**
 * Who may call `/api` and `/v1` (issue "Local API", point 5), decided from the request's headers
 * and the settings alone (pure, table-tested):
 * - a web page in the user's browser must not drive the API: a foreign `Origin` is refused, and
 *   so is a browser's cross-site request that carries none (Sec-Fetch-Site);
 * - from loopback, no key is needed unless one is set; once set, every request needs it;
 * - anything not from loopback (a LAN client, or a Host that is not a loopback name) needs the
 *   user's LAN opt-in and an API key.
 */
import { createHash, timingSafeEqual } from 'node:crypto';
import type { Settings } from '../../../../shared/model';
import { isLoopbackHost } from '../httpServer';

export interface GuardRequest {
  method: string;
  host: string | undefined;
  origin: string | undefined;
  secFetchSite: string | undefined;
  authorization: string | undefined;
  remoteAddress: string | undefined;
}

export type GuardSettings = Pick<Settings, 'api_enabled' | 'api_lan' | 'api_key' | 'api_allowed_origins'>;

export type GuardResult =
  /** Go on; `corsOrigin` is echoed in Access-Control-Allow-Origin when set. */
  | { kind: 'allow'; corsOrigin: string | null }
  /** A CORS preflight from an allowed origin: answer 204 with the CORS headers. */
  | { kind: 'preflight'; corsOrigin: string | null }
  | { kind: 'refuse'; code: 'unauthorized' | 'forbidden'; message: string };

/** 127.0.0.0/8 and ::1, also as IPv4-mapped IPv6. */
export function isLoopbackAddress(address: string | undefined): boolean {
  if (!address) return false;
  const a = address.toLowerCase().replace(/^::ffff:/, '');
  return a === '::1' || /^127\.\d+\.\d+\.\d+$/.test(a);
}

/** `scheme://host[:port]`, lower-cased, no trailing slash; null when it is not an origin. */
export function normalizeOrigin(origin: string): string | null {
  try {
    const u = new URL(origin);
    if (u.protocol !== 'http:' && u.protocol !== 'https:') return null;
    return u.origin.toLowerCase();
  } catch {
    return null;
  }
}

/** Our own page (as 127.0.0.1 and as localhost) plus the user's allow-list. */
export function allowedOrigins(pageOrigin: string, extra: readonly string[]): Set<string> {
  const out = new Set<string>();
  const page = normalizeOrigin(pageOrigin);
  if (page) {
    out.add(page);
    const u = new URL(page);
    const port = u.port ? `:${u.port}` : '';
    for (const host of ['127.0.0.1', 'localhost', '[::1]']) out.add(`${u.protocol}//${host}${port}`);
  }
  for (const o of extra) {
    const n = normalizeOrigin(o.trim());
    if (n) out.add(n);
  }
  return out;
}

/** Compares secrets in constant time (hashing first makes the lengths equal). */
function sameSecret(a: string, b: string): boolean {
  const ha = createHash('sha256').update(a).digest();
  const hb = createHash('sha256').update(b).digest();
  return timingSafeEqual(ha, hb);
}

function bearerOf(header: string | undefined): string | null {
  const m = /^\s*Bearer\s+(.+?)\s*$/i.exec(header ?? '');
  return m ? m[1] : null;
}

export function checkRequest(r: GuardRequest, s: GuardSettings, pageOrigin: string): GuardResult {
  if (!s.api_enabled) {
    return { kind: 'refuse', code: 'forbidden', message: 'The local API is turned off. Turn on "api_enabled" in Settings to use /v1 and /api.' };
  }

  let corsOrigin: string | null = null;
  if (r.origin !== undefined) {
    const origin = normalizeOrigin(r.origin);
    if (!origin || !allowedOrigins(pageOrigin, s.api_allowed_origins).has(origin)) {
      return {
        kind: 'refuse',
        code: 'forbidden',
        message: `Requests from the web page at ${r.origin} are refused, so that websites cannot use your models. To allow this origin, add it to api_allowed_origins in Settings.`,
      };
    }
    corsOrigin = origin;
  } else if (r.secFetchSite === 'cross-site' || r.secFetchSite === 'same-site') {
    // A browser's no-cors request (an <img>, <script> or form) from another site sends no Origin on GET.
    return { kind: 'refuse', code: 'forbidden', message: 'Requests started by other web pages are refused, so that websites cannot use your models.' };
  }

  // Preflights carry no credentials; the real request that follows is checked in full.
  if (r.method === 'OPTIONS') return { kind: 'preflight', corsOrigin };

  const local = isLoopbackAddress(r.remoteAddress) && isLoopbackHost(r.host);
  if (!local) {
    if (!s.api_lan) {
      return { kind: 'refuse', code: 'forbidden', message: 'Loadout answers only to 127.0.0.1/localhost. To use the API from other machines, turn on "api_lan" and set an API key in Settings.' };
    }
    if (!s.api_key) {
      return { kind: 'refuse', code: 'unauthorized', message: 'LAN access to the API needs an API key, and none is set. Set "api_key" in Settings, then send it as "Authorization: Bearer <key>".' };
    }
  }
  if (s.api_key) {
    const given = bearerOf(r.authorization);
    if (given === null) {
      return { kind: 'refuse', code: 'unauthorized', message: 'This API needs a key: send "Authorization: Bearer <key>" with the API key from Loadout\'s Settings.' };
    }
    if (!sameSecret(given, s.api_key)) {
      return { kind: 'refuse', code: 'unauthorized', message: 'The API key is wrong. Use the key shown in Loadout\'s Settings.' };
    }
  }
  return { kind: 'allow', corsOrigin };
}

/**
 * Headers that let an allowed origin read our answers and, on a preflight, send its request
 * (the origin is trusted by then, so the headers it asks for are granted).
 */
export function corsHeaders(origin: string | null, preflight?: { requestHeaders: string | undefined }): Record<string, string> {
  if (!origin) return {};
  const h: Record<string, string> = { 'access-control-allow-origin': origin, vary: 'Origin' };
  if (preflight) {
    h['access-control-allow-methods'] = 'GET, POST, PUT, DELETE, OPTIONS';
    h['access-control-allow-headers'] = preflight.requestHeaders || 'authorization, content-type';
    h['access-control-max-age'] = '600';
  }
  return h;
}
