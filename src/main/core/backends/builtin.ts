/**
 * The command line of the built-in `llama-cpp` backend (L9): a Node program run by the same
 * runtime as the app. From TypeScript sources (headless/dev, tests) that is node + tsx's loader
 * on src/backends/llama/main.ts; from a build it is the bundled `out/backend/index.js`, which in
 * the desktop app runs on Electron's own binary as plain Node (ELECTRON_RUN_AS_NODE=1) and must
 * be read from `app.asar.unpacked`, since a child process cannot read inside the asar.
 */
import { existsSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, extname, join, resolve, sep } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import type { GpuSetting } from '../../../shared/model';

export interface BuiltinCommand {
  command: string;
  args: string[];
  env: Record<string, string>;
}

/** Environment variable that points the built-in backend at another entry file (.js/.mjs/.ts). */
export const LLAMA_BACKEND_OVERRIDE = 'LOADOUT_LLAMA_BACKEND';

export function builtinLlamaCommand(): BuiltinCommand {
  const here = fileURLToPath(import.meta.url);
  const env: Record<string, string> = {};
  if (process.versions.electron) env.ELECTRON_RUN_AS_NODE = '1';

  const override = process.env[LLAMA_BACKEND_OVERRIDE];
  const entry = override ? resolve(override) : isSource(here) ? sourceEntry(here) : (bundledEntry ??= bundledBackendEntry(here));
  return { command: process.execPath, args: [...loaderArgs(entry), entry], env };
}

/**
 * Process environment for a built-in backend that will serve a model with `parallel` slots.
 * With one slot, libuv gets a single worker thread: node-llama-cpp runs every decode and every
 * sampling step as libuv work, and four workers taking turns at it put consecutive tokens on
 * different threads (and often CPUs). On `small` that cost ~6% of throughput against one fixed
 * thread (paired runs, 2 cores). With several slots the sampling of each sequence runs in
 * parallel on the default four workers, which measured faster there. An explicit
 * UV_THREADPOOL_SIZE in the app's environment wins.
 */
export function builtinBackendEnv(parallel: number, gpu?: GpuSetting): Record<string, string> {
  // V1: the GPU choice (resolved with the detection cache: resolveBackendGpu); without it, the CPU.
  const env: Record<string, string> = gpu ? { LOADOUT_GPU: gpu } : {};
  if (process.env.UV_THREADPOOL_SIZE || parallel > 1) return env;
  return { ...env, UV_THREADPOOL_SIZE: '1' };
}

function isSource(file: string): boolean {
  return extname(file) === '.ts';
}

/** src/main/core/backends/builtin.ts -> src/backends/llama/main.ts */
function sourceEntry(here: string): string {
  return resolve(dirname(here), '../../../backends/llama/main.ts');
}

/**
 * The bundler may place this code in `out/main/index.js` or a chunk below it, so look upwards for
 * `backend/index.js`; inside a packaged app the unpacked copy is the one a child can run.
 */
export function bundledBackendEntry(here: string): string {
  const fallback = resolve(dirname(here), '../backend/index.js');
  let dir = dirname(here);
  for (let i = 0; i < 4; i++) {
    const candidate = unpacked(join(dir, 'backend', 'index.js'));
    if (existsSync(candidate)) return candidate;
    dir = dirname(dir);
  }
  return unpacked(fallback);
}

function unpacked(path: string): string {
  return path.replace(`${sep}app.asar${sep}`, `${sep}app.asar.unpacked${sep}`);
}

/**
 * Found once per process: the loader asks for this command line whenever it plans or estimates a
 * built-in model, and a module resolution (a dozen file stats) each time made plan() over a
 * 1,000-model catalog 4x slower.
 */
let bundledEntry: string | undefined;
let tsxUrl: string | undefined;

/** TypeScript entries need tsx's loader; it is resolved from our own node_modules, as a file URL. */
function loaderArgs(entry: string): string[] {
  if (!/\.(c|m)?ts$/.test(entry)) return [];
  tsxUrl ??= pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return ['--import', tsxUrl];
}
