/** The web UI's WebSocket bridge for the contract at `/ws?token=...` (issue: the app GUI). */
import type { ServerContext, ServerParts } from './httpServer';

export function attachWsBridge(_ctx: ServerContext): ServerParts {
  return { handlers: [], upgrade: [], dispose: () => {} };
}
