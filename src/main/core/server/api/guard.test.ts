/** Who may call /api and /v1 (issue "Local API", point 5), as a table over headers and settings. */
import { describe, expect, it } from 'vitest';
import { allowedOrigins, checkRequest, corsHeaders, isLoopbackAddress } from './guard';
import type { GuardRequest, GuardSettings } from './guard';

const PAGE = 'http://127.0.0.1:8765';
const base: GuardSettings = { api_enabled: true, api_lan: false, api_key: '', api_allowed_origins: [] };
const local: GuardRequest = { method: 'POST', host: '127.0.0.1:8765', origin: undefined, secFetchSite: undefined, authorization: undefined, remoteAddress: '127.0.0.1' };

const check = (r: Partial<GuardRequest>, s: Partial<GuardSettings> = {}) => checkRequest({ ...local, ...r }, { ...base, ...s }, PAGE);

describe('API guard', () => {
  it('loopback without a key set: no key needed, and a stray Authorization header is ignored', () => {
    expect(check({})).toEqual({ kind: 'allow', corsOrigin: null });
    expect(check({ authorization: 'Bearer sk-anything', remoteAddress: '::ffff:127.0.0.1', host: 'localhost:8765' }).kind).toBe('allow');
    expect(check({ remoteAddress: '::1', host: '[::1]:8765' }).kind).toBe('allow');
  });

  it('a key that is set is needed from loopback too (Bearer, exact)', () => {
    const s = { api_key: 'sk-secret' };
    expect(check({}, s)).toMatchObject({ kind: 'refuse', code: 'unauthorized' });
    expect(check({ authorization: 'Bearer sk-wrong' }, s)).toMatchObject({ kind: 'refuse', code: 'unauthorized', message: expect.stringContaining('wrong') });
    expect(check({ authorization: 'Basic c2stc2VjcmV0' }, s)).toMatchObject({ kind: 'refuse', code: 'unauthorized' });
    expect(check({ authorization: 'Bearer sk-secret' }, s).kind).toBe('allow');
    expect(check({ authorization: 'bearer  sk-secret ' }, s).kind).toBe('allow');
  });

  it('foreign Origin is refused; our page (127.0.0.1 or localhost) and the allow-list are let in with CORS', () => {
    expect(check({ origin: 'https://evil.example' })).toMatchObject({ kind: 'refuse', code: 'forbidden', message: expect.stringContaining('api_allowed_origins') });
    expect(check({ origin: 'null' })).toMatchObject({ kind: 'refuse', code: 'forbidden' });
    expect(check({ origin: 'http://127.0.0.1:9999' })).toMatchObject({ kind: 'refuse', code: 'forbidden' });
    expect(check({ origin: PAGE })).toEqual({ kind: 'allow', corsOrigin: PAGE });
    expect(check({ origin: 'http://localhost:8765' })).toEqual({ kind: 'allow', corsOrigin: 'http://localhost:8765' });
    expect(check({ origin: 'http://localhost:3000/' }, { api_allowed_origins: ['http://localhost:3000'] })).toEqual({ kind: 'allow', corsOrigin: 'http://localhost:3000' });
    // Origin is checked before the key: a web page learns nothing about the key.
    expect(check({ origin: 'https://evil.example', authorization: 'Bearer k' }, { api_key: 'k' })).toMatchObject({ code: 'forbidden' });
  });

  it('a browser request from another site without Origin (img/script/form GET) is refused', () => {
    expect(check({ method: 'GET', secFetchSite: 'cross-site' })).toMatchObject({ kind: 'refuse', code: 'forbidden' });
    expect(check({ method: 'GET', secFetchSite: 'same-site' })).toMatchObject({ kind: 'refuse', code: 'forbidden' });
    expect(check({ method: 'GET', secFetchSite: 'same-origin' }).kind).toBe('allow');
    expect(check({ method: 'GET', secFetchSite: 'none' }).kind).toBe('allow');
  });

  it('a CORS preflight from an allowed origin is answered without a key; from a foreign one it is refused', () => {
    expect(check({ method: 'OPTIONS', origin: PAGE }, { api_key: 'k' })).toEqual({ kind: 'preflight', corsOrigin: PAGE });
    expect(check({ method: 'OPTIONS', origin: 'https://evil.example' })).toMatchObject({ kind: 'refuse', code: 'forbidden' });
  });

  it('not loopback (LAN client or foreign Host): refused without the LAN opt-in, 401 without a key, Bearer with one', () => {
    const lan = { remoteAddress: '192.168.1.20', host: '192.168.1.5:8765' };
    expect(check(lan)).toMatchObject({ kind: 'refuse', code: 'forbidden' });
    expect(check(lan, { api_lan: true })).toMatchObject({ kind: 'refuse', code: 'unauthorized', message: expect.stringContaining('api_key') });
    expect(check(lan, { api_lan: true, api_key: 'k' })).toMatchObject({ kind: 'refuse', code: 'unauthorized' });
    expect(check({ ...lan, authorization: 'Bearer k' }, { api_lan: true, api_key: 'k' }).kind).toBe('allow');
    // DNS rebinding: a loopback client naming us by a foreign host counts as not local.
    expect(check({ host: 'attacker.example:8765' }, { api_lan: true })).toMatchObject({ kind: 'refuse', code: 'unauthorized' });
    expect(check({ host: 'attacker.example:8765' })).toMatchObject({ kind: 'refuse', code: 'forbidden' });
  });

  it('api_enabled off refuses everything with a message saying how to turn it on', () => {
    expect(check({}, { api_enabled: false })).toMatchObject({ kind: 'refuse', code: 'forbidden', message: expect.stringContaining('api_enabled') });
  });

  it('helpers: loopback addresses, allowed origins, CORS headers', () => {
    expect(['127.0.0.1', '127.8.9.10', '::1', '::ffff:127.0.0.1'].every(isLoopbackAddress)).toBe(true);
    expect(['192.168.1.2', '::ffff:10.0.0.1', 'fe80::1', undefined, ''].some(isLoopbackAddress)).toBe(false);
    expect([...allowedOrigins(PAGE, ['https://App.example/', 'not a url'])].sort()).toEqual(
      ['http://127.0.0.1:8765', 'http://[::1]:8765', 'http://localhost:8765', 'https://app.example'].sort(),
    );
    expect(corsHeaders(null)).toEqual({});
    expect(corsHeaders(PAGE)).toEqual({ 'access-control-allow-origin': PAGE, vary: 'Origin' });
    expect(corsHeaders(PAGE, { requestHeaders: 'authorization, x-foo' })).toMatchObject({ 'access-control-allow-headers': 'authorization, x-foo', 'access-control-allow-methods': expect.stringContaining('POST') });
  });
});
