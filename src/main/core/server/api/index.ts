/** The local HTTP API: OpenAI-compatible `/v1` and the management `/api` (issue: Local API). */
import type { ServerContext, ServerParts } from '../httpServer';

export function createApiHandler(_ctx: ServerContext): ServerParts {
  return { handlers: [], upgrade: [], dispose: () => {} };
}
