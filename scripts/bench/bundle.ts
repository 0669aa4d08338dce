/**
 * esbuild bundles of our TypeScript entries, to measure what running them under plain node (no
 * tsx loader) changes. Every npm package stays external (node-llama-cpp, @grpc/*, yaml, ws), so
 * the bundle must sit inside the repo for node to find node_modules and proto/backend.proto by
 * walking up: bench-core.ts puts them in `.tmp/` (gitignored).
 */
import { join } from 'node:path';
import { buildIfStale, root } from '../build-if-stale.mjs';

/**
 * The built-in backend as the app ships it: electron-vite's build (out/main/backend/index.js,
 * node-llama-cpp inlined), built first when stale. For benchmarks of a backend's start and speed.
 */
export function appBackendEntry(): string {
  if (!buildIfStale()) throw new Error('the app build failed (electron-vite build, above); run npm ci and try again');
  return join(root, 'out', 'main', 'backend', 'index.js');
}

/** Bundles `entry` to `outDir/<name>/<name>.mjs` (ESM, node 20, with its lazily loaded chunks beside it) and returns its path. */
export async function bundle(entry: string, outDir: string, name: string): Promise<string> {
  let esbuild: typeof import('esbuild');
  try {
    esbuild = await import('esbuild');
  } catch (e) {
    throw new Error(`esbuild is not installed (it comes with tsx and vite; run npm ci): ${(e as Error).message}`);
  }
  // Split at dynamic imports, as the app's own build does: what the core loads only on demand (the
  // cluster's NATS and TLS code) then stays out of a process that never needs it.
  await esbuild.build({
    entryPoints: { [name]: entry },
    outdir: join(outDir, name),
    outExtension: { '.js': '.mjs' },
    splitting: true,
    bundle: true,
    platform: 'node',
    format: 'esm',
    target: 'node20',
    packages: 'external',
    logLevel: 'silent',
  });
  return join(outDir, name, `${name}.mjs`);
}
