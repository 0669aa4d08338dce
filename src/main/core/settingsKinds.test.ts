/** The settings schema's kinds: what a user may type, and the clear error when they may not (Trust 2, 14; clarifications 10). */
import { describe, expect, it } from 'vitest';
import { MAX_DURATION_S, SECRET_KEYS, SETTINGS_SCHEMA, SETTING_KEYS, coerceSetting, dropEchoedSecrets, maskSecrets, mergeSettings, defaultSettings, parseSize } from '../../shared/settings';

const ok = (key: Parameters<typeof coerceSetting>[0], value: unknown) => {
  const r = coerceSetting(key, value);
  if (!r.ok) throw new Error(r.error);
  return r.value;
};
const error = (key: Parameters<typeof coerceSetting>[0], value: unknown) => {
  const r = coerceSetting(key, value);
  if (r.ok) throw new Error(`${key}=${JSON.stringify(value)} was accepted`);
  return r.error;
};

describe('durations are bounded (Node timers overflow past 24.8 days)', () => {
  const durations = SETTING_KEYS.filter((k) => SETTINGS_SCHEMA[k].kind === 'duration');

  it('every seconds setting is a duration', () => {
    expect(durations.sort()).toEqual(['api_load_wait', 'download_stall_timeout', 'eviction_wait', 'idle_timeout', 'load_failure_cooldown', 'load_timeout', 'stall_timeout', 'start_timeout', 'unload_grace']);
  });

  for (const key of ['start_timeout', 'api_load_wait', 'idle_timeout'] as const) {
    it(`${key}: up to a week; more is refused saying the limit`, () => {
      expect(ok(key, MAX_DURATION_S)).toBe(604800);
      expect(ok(key, '2.5')).toBe(2.5);
      expect(error(key, 3_000_000)).toBe(`${key} must be at most 604800 seconds (one week) (got 3000000)`);
      expect(error(key, -1)).toMatch(/a number of seconds >= 0/);
      expect(error(key, 'Infinity')).toMatch(/a number of seconds/);
    });
  }
});

describe('sizes take bytes or a unit, all x1024', () => {
  it('memory_budget and api_body_limit are sizes', () => {
    expect(SETTINGS_SCHEMA.memory_budget.kind).toBe('size');
    expect(SETTINGS_SCHEMA.api_body_limit.kind).toBe('size');
  });

  it.each([
    [0, 0],
    [1048576, 1048576],
    ['1048576', 1048576],
    ['8GB', 8 * 1024 ** 3],
    ['8 GiB', 8 * 1024 ** 3],
    ['8g', 8 * 1024 ** 3],
    ['512MB', 512 * 1024 ** 2],
    ['512mib', 512 * 1024 ** 2],
    ['1.5GB', 1.5 * 1024 ** 3],
    ['64KB', 65536],
    ['64KiB', 65536],
    ['2TB', 2 * 1024 ** 4],
    ['2 TiB', 2 * 1024 ** 4],
    ['100B', 100],
  ])('%j is %d bytes', (input, bytes) => {
    expect(ok('memory_budget', input)).toBe(bytes);
  });

  it.each([['8XB'], ['GB'], ['-1GB'], [-5], [1.5], ['1e3'], [''], [true], ['8 G B'], ['99999999TB']])('%j is refused with an example of what works', (input) => {
    expect(error('memory_budget', input)).toMatch(/^memory_budget must be a size in bytes, or a number with a unit such as 512MB or 8GB/);
  });

  it('parseSize rounds to whole bytes', () => {
    expect(parseSize('0.5KB')).toBe(512);
    expect(parseSize('1.0001KB')).toBe(1024);
  });
});

describe('api_key must be usable as an HTTP header value', () => {
  it('printable ASCII, up to 512 characters, or empty for no key', () => {
    expect(ok('api_key', '')).toBe('');
    expect(ok('api_key', 'sk-loadout_123.ABC~!')).toBe('sk-loadout_123.ABC~!');
    expect(ok('api_key', 'k'.repeat(512))).toHaveLength(512);
  });

  it.each([
    ['a\nb', /printable ASCII/],
    ['a\r\nX-Evil: 1', /printable ASCII/],
    ['a\0b', /printable ASCII/],
    ['clé', /printable ASCII/],
    ['a b', /no spaces/],
    ['\tkey', /printable ASCII/],
    ['   ', /only spaces; leave it empty for no key/],
    ['k'.repeat(513), /is 513 characters long; use at most 512/],
  ])('%j is refused', (input, why) => {
    expect(error('api_key', input)).toMatch(why);
    expect(error('api_key', input)).toMatch(/^api_key /);
  });
});

describe('own keys only', () => {
  it.each([['toString'], ['__proto__'], ['constructor'], ['valueOf']])('%s is an unknown setting', (key) => {
    const { settings, errors } = mergeSettings(defaultSettings(), JSON.parse(`{"${key}": 1}`));
    expect(errors).toEqual([`unknown setting "${key}"`]);
    expect(Object.getPrototypeOf(settings)).toBe(Object.prototype);
  });
});

describe('GPU settings', () => {
  it('defaults: gpu auto, VRAM budget auto, 1 GiB reserve, reclaimer off at 95%', () => {
    const d = defaultSettings();
    expect({ gpu: d.gpu, vram_budget: d.vram_budget, vram_reserve: d.vram_reserve, vram_reclaimer: d.vram_reclaimer, vram_threshold: d.vram_threshold }).toEqual({
      gpu: 'auto',
      vram_budget: 0,
      vram_reserve: 1024 ** 3,
      vram_reclaimer: false,
      vram_threshold: 0.95,
    });
  });

  it.each(['auto', 'cpu', 'metal', 'cuda', 'vulkan', ' CUDA '])('gpu takes %j', (value) => {
    expect(ok('gpu', value)).toBe(value.trim().toLowerCase());
  });

  it.each([['opencl'], [''], [true], [0]])('gpu refuses %j, listing what it takes', (value) => {
    expect(error('gpu', value)).toBe(`gpu must be one of auto, cpu, metal, cuda, vulkan (got ${JSON.stringify(value)})`);
  });

  it('vram_budget and vram_reserve are sizes; vram_threshold a fraction', () => {
    expect(ok('vram_budget', '6GB')).toBe(6 * 1024 ** 3);
    expect(ok('vram_reserve', '512MB')).toBe(512 * 1024 ** 2);
    expect(error('vram_reserve', '1 lot')).toMatch(/^vram_reserve must be a size/);
    expect(ok('vram_threshold', '0.9')).toBe(0.9);
    expect(error('vram_threshold', 1.5)).toMatch(/a fraction between 0 and 1/);
    const { settings, errors } = mergeSettings(defaultSettings(), { gpu: 'cpu', vram_reclaimer: true });
    expect(errors).toEqual([]);
    expect([settings.gpu, settings.vram_reclaimer]).toEqual(['cpu', true]);
  });
});

describe('secrets are write-only (clarifications 6)', () => {
  it('hf_token and cluster_nats_url are the secrets; reads show "set" or "", and a patch that echoes "set" keeps the stored value', () => {
    expect(SECRET_KEYS).toEqual(['hf_token', 'cluster_nats_url']);
    expect(maskSecrets({ ...defaultSettings(), cluster_nats_url: 'nats://u:p@h:4222' }).cluster_nats_url).toBe('set');
    const s = { ...defaultSettings(), hf_token: 'hf_abc' };
    expect(maskSecrets(s).hf_token).toBe('set');
    expect(maskSecrets(defaultSettings()).hf_token).toBe('');
    expect(maskSecrets(s).hf_endpoint).toBe('https://huggingface.co');
    expect(dropEchoedSecrets({ hf_token: 'set', idle_timeout: 5 })).toEqual({ idle_timeout: 5 });
    expect(dropEchoedSecrets({ hf_token: '' })).toEqual({ hf_token: '' });
  });

  it('download settings have the spec defaults', () => {
    expect(defaultSettings()).toMatchObject({ download_concurrency: 2, download_connections: 4, download_stall_timeout: 30, download_retries: 8, download_resume_on_start: true, download_reserve: 1024 ** 3, auto_download: false });
    expect(ok('download_reserve', '2GB')).toBe(2 * 1024 ** 3);
    expect(error('download_stall_timeout', MAX_DURATION_S + 1)).toContain('one week');
    expect(ok('hf_endpoint', 'http://127.0.0.1:8080')).toBe('http://127.0.0.1:8080');
    expect(error('hf_endpoint', 'huggingface.co')).toContain('https://');
    expect(error('hf_endpoint', 'ftp://example.com')).toContain('https://');
  });
});
