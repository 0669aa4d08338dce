/**
 * The web UI: the page at `/` (token required) and its assets. Until the GUI is built this is a
 * plain status view of the loader.
 */
import type { ServerContext, ServerParts } from './httpServer';

const esc = (s: unknown) => String(s ?? '').replace(/[&<>"']/g, (c) => `&#${c.charCodeAt(0)};`);

export function createUiHandler(ctx: ServerContext): ServerParts {
  return {
    upgrade: [],
    dispose: () => {},
    handlers: [
      (req, res, url) => {
        if (req.method !== 'GET' || url.pathname !== '/') return false;
        if (url.searchParams.get('token') !== ctx.token) {
          res.writeHead(401, { 'content-type': 'text/plain' }).end('Open the URL Loadout printed when it started (it carries the access token).\n');
          return true;
        }
        res.writeHead(200, { 'content-type': 'text/html; charset=utf-8', 'cache-control': 'no-store' }).end(statusPage(ctx));
        return true;
      },
    ],
  };
}

function statusPage(ctx: ServerContext): string {
  const snap = ctx.core.commands.snapshot();
  const rows = snap.models
    .map((m) => `<tr><td>${esc(m.name)}</td><td>${esc(m.status)}${m.error ? `: ${esc(m.error)}` : ''}</td><td>${esc(m.state)}</td><td>${esc(m.groups.join(', '))}</td><td>${m.pinned ? 'pinned' : ''}</td><td>${esc(m.lastUsed ?? '')}</td></tr>`)
    .join('');
  return `<!doctype html><html lang="en"><head><meta charset="utf-8"><title>Loadout</title>
<meta name="color-scheme" content="light dark"><meta http-equiv="refresh" content="5"></head>
<body style="font-family:system-ui,sans-serif;margin:2rem"><h1>Loadout</h1>
<p>Models folder: <code>${esc(snap.settings.models_dir)}</code> - loaded (least recently used first): ${esc(snap.lru.join(', ') || 'none')}</p>
<table cellpadding="4"><thead><tr><th align="left">Model</th><th align="left">Catalog</th><th align="left">State</th><th align="left">Groups</th><th></th><th align="left">Last used</th></tr></thead><tbody>${rows}</tbody></table>
</body></html>`;
}
