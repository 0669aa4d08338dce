/**
 * V14: node-llama-cpp finds its prebuilt binaries by importing `@node-llama-cpp/<platform>-<gpu>`
 * from its own folder, which is read-only inside an installed app. The CUDA pack is unpacked
 * into the data folder instead (src/main/core/gpu/cudaPack.ts); this resolution hook sends the
 * imports of the packages found there to that folder, so node-llama-cpp loads them as if npm had
 * installed them next to it. Without the folder nothing is registered and nothing changes.
 */
import { existsSync, readdirSync } from 'node:fs';
import nodeModule from 'node:module';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';

/** Set by the core (cudaPackEnv) to `<data>/runtimes/<node-llama-cpp version>`. */
export const LLAMA_RUNTIME_DIR_ENV = 'LOADOUT_LLAMA_RUNTIME_DIR';
const SCOPE = '@node-llama-cpp';

interface ResolveContext {
  parentURL?: string;
  conditions?: readonly string[];
}
type NextResolve = (specifier: string, context?: ResolveContext) => unknown;
/** module.registerHooks (Node 22.15+, Electron's Node): synchronous hooks on this thread. */
type RegisterHooks = (hooks: { resolve: (specifier: string, context: ResolveContext, next: NextResolve) => unknown }) => unknown;

// The same hook for module.register (older Node), which runs it on a hooks thread: as text, since
// that thread loads it from a URL.
const ASYNC_HOOK = `
let names = [], parentURL;
export function initialize(data) { names = data.names; parentURL = data.parentURL; }
export async function resolve(specifier, context, next) {
  if (names.includes(specifier)) {
    try { return await next(specifier, { ...context, parentURL }); } catch {}
  }
  return next(specifier, context);
}
`;

/**
 * Registers the hook when `LOADOUT_LLAMA_RUNTIME_DIR` names a folder holding `@node-llama-cpp`
 * packages; returns the package names it redirects (empty when it registered nothing).
 */
export function registerRuntimeDirHook(env: NodeJS.ProcessEnv = process.env): string[] {
  const dir = env[LLAMA_RUNTIME_DIR_ENV];
  const scopeDir = dir ? join(dir, 'node_modules', SCOPE) : '';
  if (!dir || !existsSync(scopeDir)) return [];
  const names = readdirSync(scopeDir).map((name) => `${SCOPE}/${name}`);
  if (names.length === 0) return [];
  // A file in the folder: a bare name imported "from" it resolves in the folder's node_modules,
  // by Node's own rules (package.json exports and all).
  const parentURL = pathToFileURL(join(dir, 'index.js')).href;
  const registerHooks = (nodeModule as unknown as { registerHooks?: RegisterHooks }).registerHooks;
  if (typeof registerHooks === 'function') {
    registerHooks({
      resolve(specifier, context, next) {
        if (names.includes(specifier)) {
          try {
            return next(specifier, { ...context, parentURL });
          } catch {
            // Not loadable from the folder: node-llama-cpp's own lookup decides.
          }
        }
        return next(specifier, context);
      },
    });
  } else {
    nodeModule.register(`data:text/javascript,${encodeURIComponent(ASYNC_HOOK)}`, { data: { names, parentURL } });
  }
  return names;
}
