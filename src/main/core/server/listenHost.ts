import type { Settings } from '../../../shared/model';

/**
 * Where the API listens: on every interface only with `api_lan` on and an API key set; without
 * a key the API would be open to the whole network, so it stays on loopback and says why.
 * Both hosts (headless and the desktop app) follow this one rule.
 */
export function apiListenHost(s: Pick<Settings, 'api_lan' | 'api_key'>): { host: '0.0.0.0' | '127.0.0.1'; warning: string | null } {
  const lan = s.api_lan && s.api_key !== '';
  return {
    host: lan ? '0.0.0.0' : '127.0.0.1',
    warning:
      s.api_lan && !lan
        ? 'LAN access needs an API key, and no api_key is set: listening on 127.0.0.1 only. Set one in Settings > API to open the API to the LAN.'
        : null,
  };
}
