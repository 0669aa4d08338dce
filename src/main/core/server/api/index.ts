/**
 * The local HTTP API (issue: Local API): OpenAI-compatible `/v1` and the management `/api`.
 * Every request passes the guard (Origin, Host, API key; guard.ts), is routed, and is recorded in
 * the core's request log for the GUI when it ends.
 */
import type { IncomingMessage, ServerResponse } from 'node:http';
import { name as checkName } from '../../../../shared/argCheck';
import { LoadoutError } from '../../../../shared/errors';
import type { RequestLogEntry } from '../../../../shared/model';
import type { RequestHandler, ServerContext, ServerParts } from '../httpServer';
import type { ApiCall } from './call';
import { replyError } from './call';
import type { ApiFlavor } from './errors';
import { sendError } from './errors';
import { checkRequest, corsHeaders } from './guard';
import * as cluster from './cluster';
import * as dl from './downloads';
import * as mgmt from './management';
import * as v1 from './openai';
import { SsePacer } from './sse';

export { checkRequest, corsHeaders, isLoopbackAddress, allowedOrigins } from './guard';
export type { GuardRequest, GuardResult, GuardSettings } from './guard';

interface Route {
  method: 'GET' | 'POST' | 'PUT' | 'DELETE';
  pattern: RegExp;
  /** `not_found` from this route is about the requested model (OpenAI's `model_not_found`). */
  modelLookup?: boolean;
  run(call: ApiCall, name: string): void | Promise<void>;
}

export const ROUTES: readonly Route[] = [
  { method: 'GET', pattern: /^\/v1\/models$/, run: (c) => v1.listModels(c) },
  { method: 'GET', pattern: /^\/v1\/models\/(.+)$/, modelLookup: true, run: (c, name) => v1.getModel(c, name) },
  { method: 'POST', pattern: /^\/v1\/chat\/completions$/, modelLookup: true, run: (c) => v1.chatCompletions(c) },
  { method: 'POST', pattern: /^\/v1\/completions$/, modelLookup: true, run: (c) => v1.completions(c) },
  { method: 'POST', pattern: /^\/v1\/embeddings$/, modelLookup: true, run: (c) => v1.embeddings(c) },
  { method: 'GET', pattern: /^\/api\/state$/, run: (c) => mgmt.state(c) },
  { method: 'GET', pattern: /^\/api\/settings$/, run: (c) => mgmt.getSettings(c) },
  { method: 'PUT', pattern: /^\/api\/settings$/, run: (c) => mgmt.putSettings(c) },
  { method: 'GET', pattern: /^\/api\/journal$/, run: (c) => mgmt.journal(c) },
  { method: 'POST', pattern: actionPattern('load'), run: (c, n) => mgmt.load(c, n) },
  { method: 'POST', pattern: actionPattern('unload'), run: (c, n) => mgmt.unload(c, n) },
  { method: 'POST', pattern: actionPattern('pin'), run: (c, n) => mgmt.pin(c, n) },
  { method: 'GET', pattern: actionPattern('plan'), run: (c, n) => mgmt.plan(c, n) },
  { method: 'GET', pattern: actionPattern('logs'), run: (c, n) => mgmt.logs(c, n) },
  { method: 'GET', pattern: /^\/api\/models\/(.+)$/, run: (c, n) => mgmt.modelRow(c, n) },
  { method: 'POST', pattern: /^\/api\/downloads$/, run: (c) => dl.start(c) },
  { method: 'GET', pattern: /^\/api\/downloads$/, run: (c) => dl.list(c) },
  { method: 'GET', pattern: /^\/api\/downloads\/([^/]+)$/, run: (c, id) => dl.get(c, id) },
  { method: 'DELETE', pattern: /^\/api\/downloads\/([^/]+)$/, run: (c, id) => dl.cancel(c, id) },
  { method: 'POST', pattern: /^\/api\/downloads\/([^/]+)\/pause$/, run: (c, id) => dl.pause(c, id) },
  { method: 'POST', pattern: /^\/api\/downloads\/([^/]+)\/resume$/, run: (c, id) => dl.resume(c, id) },
  { method: 'GET', pattern: /^\/api\/hub\/search$/, run: (c) => dl.hubSearch(c) },
  { method: 'GET', pattern: /^\/api\/hub\/files$/, run: (c) => dl.hubFiles(c) },
  { method: 'GET', pattern: /^\/api\/cluster$/, run: (c) => cluster.get(c) },
  { method: 'GET', pattern: /^\/api\/cluster\/nodes\/([^/]+)$/, run: (c, n) => cluster.node(c, n) },
  { method: 'POST', pattern: /^\/api\/cluster\/nodes\/([^/]+)\/drain$/, run: (c, n) => cluster.drain(c, n) },
  { method: 'DELETE', pattern: /^\/api\/cluster\/nodes\/([^/]+)\/models\/.+$/, run: (c, n) => cluster.unloadReplica(c, n) },
];

function actionPattern(action: string): RegExp {
  return new RegExp(`^/api/models/(.+)/${action}$`);
}

function flavorOf(path: string): ApiFlavor | null {
  if (path === '/v1' || path.startsWith('/v1/')) return 'v1';
  if (path === '/api' || path.startsWith('/api/')) return 'api';
  return null;
}

/** `{name}` in a path, percent-decoded; a name no model can have (control characters, spaces at the ends) is 400. */
function decodeName(raw: string): string {
  let name: string;
  try {
    name = decodeURIComponent(raw);
  } catch {
    throw new LoadoutError('invalid', `The model name in the path is not valid percent-encoding: ${raw.slice(0, 200)}`);
  }
  const problem = checkName(name, 'the model name in the path');
  if (problem) throw new LoadoutError('invalid', `${problem[0].toUpperCase()}${problem.slice(1)}.`);
  return name;
}

/** "127.0.0.1 (OpenAI/JS)": the address and the User-Agent's product, for the request log. */
function clientOf(req: IncomingMessage): string {
  const addr = (req.socket.remoteAddress ?? 'unknown').replace(/^::ffff:/, '');
  const product = req.headers['user-agent']?.split(' ')[0];
  return product ? `${addr} (${product.slice(0, 60)})` : addr;
}

/** The answer for a request that is not let in, before any route runs. */
function refuse(res: ServerResponse, flavor: ApiFlavor, code: 'unauthorized' | 'forbidden', message: string): string {
  const headers: Record<string, string> = code === 'unauthorized' ? { 'www-authenticate': 'Bearer realm="Loadout"' } : {};
  sendError(res, new LoadoutError(code, message), flavor, { headers });
  return `${code}: ${message}`;
}

export function createApiHandler(ctx: ServerContext): ServerParts {
  /** Calls still running, so dispose can end them (their generations stop with them). */
  const running = new Set<AbortController>();
  const sse = new SsePacer(ctx.core.clock);

  const handle = async (req: IncomingMessage, res: ServerResponse, url: URL, flavor: ApiFlavor): Promise<void> => {
    const started = performance.now();
    const abort = new AbortController();
    running.add(abort);
    const log: ApiCall['log'] = { model: null, tokens: null, error: null };
    res.on('close', () => {
      running.delete(abort);
      // `close` before the answer was complete: the client went away (not req's close, which fires once the body is read).
      if (!res.writableFinished) {
        abort.abort(new LoadoutError('cancelled', 'The client disconnected.'));
        log.error ??= 'the client disconnected';
      }
      const entry: RequestLogEntry = {
        at: new Date(Date.now() - (performance.now() - started)).toISOString(),
        client: clientOf(req),
        method: req.method ?? 'GET',
        path: url.pathname,
        model: log.model,
        status: res.headersSent ? res.statusCode : 499,
        tokens: log.tokens,
        durationMs: Math.round((performance.now() - started) * 10) / 10,
        error: log.error,
      };
      try {
        ctx.core.commands.recordRequest(entry);
      } catch {
        // The request log is for display; a disposed core must not break the server.
      }
    });

    const settings = ctx.settings();
    const guard = checkRequest(
      {
        method: req.method ?? 'GET',
        host: req.headers.host,
        origin: req.headers.origin,
        secFetchSite: header(req, 'sec-fetch-site'),
        authorization: req.headers.authorization,
        remoteAddress: req.socket.remoteAddress,
      },
      settings,
      ctx.pageOrigin(),
    );
    if (guard.kind === 'refuse') {
      log.error = refuse(res, flavor, guard.code, guard.message);
      return;
    }
    if (guard.kind === 'preflight') {
      res.writeHead(204, { ...corsHeaders(guard.corsOrigin, { requestHeaders: header(req, 'access-control-request-headers') }), allow: 'GET, HEAD, POST, PUT, DELETE, OPTIONS' }).end();
      return;
    }

    const call: ApiCall = { ctx, req, res, url, flavor, signal: abort.signal, sse, headers: corsHeaders(guard.corsOrigin), log };
    let modelLookup = false;
    try {
      const path = url.pathname;
      const matches = ROUTES.filter((r) => r.pattern.test(path));
      // HEAD is GET without the body (Node leaves the body out of a HEAD answer by itself).
      const method = req.method === 'HEAD' ? 'GET' : req.method;
      const route = matches.find((r) => r.method === method);
      if (!route) {
        if (matches.length > 0) {
          const allow = [...new Set(matches.flatMap((r) => (r.method === 'GET' ? ['GET', 'HEAD'] : [r.method])))].join(', ');
          const message = `${req.method} is not allowed on ${path}; use ${allow}.`;
          sendError(res, new LoadoutError('invalid', message), flavor, { headers: { ...call.headers, allow }, status: 405 });
          log.error = `invalid: ${message}`;
          return;
        }
        const known =
          flavor === 'v1'
            ? 'GET /v1/models; POST /v1/chat/completions, /v1/completions, /v1/embeddings'
            : 'GET /api/state, /api/settings, /api/journal, /api/models/{name}, /api/models/{name}/plan, /api/models/{name}/logs; POST /api/models/{name}/load, /unload, /pin; PUT /api/settings; GET/POST /api/downloads, GET/DELETE /api/downloads/{id}, POST /api/downloads/{id}/pause, /resume; GET /api/hub/search?q=, /api/hub/files?repo=; GET /api/cluster, /api/cluster/nodes/{name}; POST /api/cluster/nodes/{name}/drain; DELETE /api/cluster/nodes/{name}/models/{model}';
        throw new LoadoutError('not_found', `No such endpoint: ${req.method} ${path} (${known}).`);
      }
      modelLookup = !!route.modelLookup;
      const raw = route.pattern.exec(path)?.[1];
      const name = raw === undefined ? '' : decodeName(raw);
      if (raw !== undefined) log.model = name;
      await route.run(call, name);
    } catch (e) {
      if (res.destroyed || abort.signal.aborted) return;
      replyError(call, e, { modelLookup });
    }
  };

  const handler: RequestHandler = (req, res, url) => {
    const flavor = flavorOf(url.pathname);
    if (!flavor) return false;
    void handle(req, res, url, flavor).catch((e: unknown) => {
      // Only a bug lands here; answer it like any other error rather than leaving the client hanging.
      if (!res.headersSent && !res.destroyed) sendError(res, e, flavor);
      else res.destroy();
    });
    return true;
  };

  return {
    handlers: [handler],
    upgrade: [],
    dispose: () => {
      for (const a of running) a.abort(new LoadoutError('cancelled', 'The server is stopping.'));
      running.clear();
      sse.dispose();
    },
  };
}

function header(req: IncomingMessage, name: string): string | undefined {
  const v = req.headers[name];
  return Array.isArray(v) ? v[0] : v;
}
