import { describe, expect, it } from 'vitest';
import { apiListenHost } from './listenHost';

describe('apiListenHost (one rule for headless and the desktop app)', () => {
  it('listens on every interface only with api_lan on and an API key set', () => {
    expect(apiListenHost({ api_lan: true, api_key: 'k' })).toEqual({ host: '0.0.0.0', warning: null });
    expect(apiListenHost({ api_lan: false, api_key: 'k' })).toEqual({ host: '127.0.0.1', warning: null });
    expect(apiListenHost({ api_lan: false, api_key: '' })).toEqual({ host: '127.0.0.1', warning: null });
  });

  it('api_lan without a key stays on loopback and says how to open it', () => {
    const { host, warning } = apiListenHost({ api_lan: true, api_key: '' });
    expect(host).toBe('127.0.0.1');
    expect(warning).toMatch(/LAN access needs an API key.*127\.0\.0\.1 only.*Settings > API/);
  });
});
