/**
 * `npm run build-engine`: "optimize for this machine" (issue 15 item 2, clarifications 9). Builds
 * node-llama-cpp's llama.cpp binding from the llama.cpp source node-llama-cpp bundles (offline),
 * with this machine's compiler and `-march=native`, CPU only. node-llama-cpp then prefers that
 * build over its prebuilt binary on the CPU (a GPU choice still uses the prebuilt GPU binary), and
 * skips its binary self-test for it.
 *
 * Offered only where node-llama-cpp's folder is writable (not inside the AppImage or a signed
 * macOS bundle) and cmake and a C++ compiler are on PATH; otherwise it says which is missing.
 * A local build is lost on `npm ci`. `--check` only says whether it is offered; `--remove` deletes
 * the local build, so the prebuilt binary is used again.
 */
import { spawnSync, spawn } from 'node:child_process';
import { accessSync, constants, existsSync, rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';

export interface EngineBuildOffer {
  offered: boolean;
  /** Why not, in words the user can act on; null when offered. */
  reason: string | null;
  packageDir: string;
}

function onPath(names: readonly string[], env: NodeJS.ProcessEnv): string | null {
  const exts = process.platform === 'win32' ? ['.exe', '.cmd', ''] : [''];
  for (const dir of (env.PATH ?? '').split(delimiter).filter(Boolean)) {
    for (const name of names) for (const ext of exts) if (existsSync(join(dir, name + ext))) return join(dir, name + ext);
  }
  return null;
}

export function nodeLlamaCppDir(): string {
  // The package exports no package.json: its entry point is dist/index.js.
  return dirname(dirname(createRequire(import.meta.url).resolve('node-llama-cpp')));
}

/** Clarifications 9: whether "optimize for this machine" can run here, and if not, why. */
export function engineBuildOffer(packageDir = nodeLlamaCppDir(), env: NodeJS.ProcessEnv = process.env): EngineBuildOffer {
  const llamaDir = join(packageDir, 'llama');
  try {
    accessSync(llamaDir, constants.W_OK);
  } catch {
    return { offered: false, reason: `node-llama-cpp's folder ${llamaDir} is read-only here (an installed app): a local build has nowhere to go.`, packageDir };
  }
  if (!onPath(['cmake'], env)) return { offered: false, reason: 'cmake is not installed (or not on PATH): install it to build for this machine.', packageDir };
  if (!onPath(['c++', 'g++', 'clang++', 'cl'], env)) {
    return { offered: false, reason: 'no C++ compiler on PATH (g++, clang++ or MSVC): install one to build for this machine.', packageDir };
  }
  return { offered: true, reason: null, packageDir };
}

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const offer = engineBuildOffer();
  const localBuilds = join(offer.packageDir, 'llama', 'localBuilds');
  if (args.has('--remove')) {
    rmSync(localBuilds, { recursive: true, force: true });
    console.log(`removed ${localBuilds}: the prebuilt binary is used again`);
    return;
  }
  if (!offer.offered) {
    console.error(`build-engine: not offered: ${offer.reason}`);
    process.exit(1);
  }
  if (args.has('--check')) {
    console.log(`build-engine: offered (${offer.packageDir})`);
    return;
  }
  const cli = join(offer.packageDir, 'dist', 'cli', 'cli.js');
  // `source download` takes the bundled llama.cpp (no network) and builds; `source build` rebuilds
  // a source already there.
  const hasSource = existsSync(join(offer.packageDir, 'llama', 'llama.cpp', 'CMakeLists.txt'));
  const cmd = hasSource ? ['source', 'build', '--gpu', 'false', '--noUsageExample'] : ['source', 'download', '--gpu', 'false', '--noUsageExample'];
  const version = spawnSync('c++', ['--version'], { encoding: 'utf8' }).stdout?.split('\n')[0] ?? 'unknown compiler';
  console.log(`build-engine: building llama.cpp for this machine with ${version} (CPU only; tens of minutes on 2 cores)`);
  const started = Date.now();
  const child = spawn(process.execPath, [cli, ...cmd], { stdio: 'inherit' });
  const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  if (code !== 0) {
    console.error(`build-engine: the build failed after ${minutes} min (exit ${code}); the prebuilt binary stays in use.`);
    process.exit(code);
  }
  console.log(`build-engine: done in ${minutes} min. New backends use the local build on the CPU; \`npm run build-engine -- --remove\` goes back.`);
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) void main();
