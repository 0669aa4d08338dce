/**
 * Engine 2, "optimize for this machine" (clarifications 9): builds node-llama-cpp's llama.cpp
 * binding from the llama.cpp source node-llama-cpp bundles (offline), with this machine's
 * compiler, CPU only. node-llama-cpp prefers such a build over its prebuilt binary on the CPU (a
 * GPU choice still uses the prebuilt GPU binary), and skips its binary self-test for it. The
 * prebuilt Linux binary, compiled with GCC 11, spills the prompt kernel's accumulators; measured
 * here (README, bench:llama-server) a local build took the first token of a 312-token prompt on F32
 * models from 1.63-1.87x to 1.02-1.03x llama-server's time; on a Q4_K_M model the prebuilt binary
 * was already at llama-server's.
 *
 * Offered only where node-llama-cpp's folder is writable (not inside the AppImage or a signed
 * macOS bundle) and cmake and a C++ compiler are on PATH. Used by Settings and `npm run build-engine`.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import { accessSync, constants, existsSync, mkdirSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { rm } from 'node:fs/promises';
import { createRequire } from 'node:module';
import { delimiter, dirname, join } from 'node:path';
import type { EngineBuildStatus } from '../../shared/model';
import { Emitter } from './emitter';

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

/** node-llama-cpp's package folder (its entry point is dist/index.js; it exports no package.json). */
export function nodeLlamaCppDir(): string {
  return dirname(dirname(createRequire(import.meta.url).resolve('node-llama-cpp')));
}

/** Whether "optimize for this machine" can run here, and if not, why. */
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

export function localBuildsDir(packageDir: string): string {
  return join(packageDir, 'llama', 'localBuilds');
}

export function hasLocalBuild(packageDir: string): boolean {
  const dir = localBuildsDir(packageDir);
  return existsSync(dir) && readdirSync(dir).length > 0;
}

/**
 * Compiler flags for every llama.cpp build made on this machine (this one and
 * `npm run build-llama-server`). A native build compiles ggml's AMX kernels where the CPU has AMX
 * (Xeon Sapphire Rapids and later), and on some such machines they crash in
 * ggml_backend_amx_mul_mat on K-quant models, the commonest kind (ours: every Q4_K_M model,
 * llama-server and the local build alike; upstream llama.cpp issue 20824, unfixed). The prebuilt
 * binaries do not use them. An explicit -mno-* wins over -march=native in GCC and Clang, in any
 * order; a compiler too old to know the flags (GCC 10) knows no AMX either, so gets none.
 */
export function nativeBuildFlags(compiler: string | null, platform: NodeJS.Platform = process.platform, arch: string = process.arch): string[] {
  if (platform !== 'linux' || arch !== 'x64' || !compiler) return [];
  const flags = ['-mno-amx-tile', '-mno-amx-int8', '-mno-amx-bf16'];
  const probe = spawnSync(compiler, [...flags, '-E', '-x', 'c', '-'], { input: '', stdio: ['pipe', 'ignore', 'ignore'] });
  return probe.status === 0 ? flags : [];
}

const COMPILER_WRAPPERS = '.loadout-compilers';

/**
 * The environment for node-llama-cpp's build: where those flags apply, CC and CXX name small
 * wrappers (kept in node-llama-cpp's llama folder, which CMake's cache refers to) that call the
 * compiler with them. Not node-llama-cpp's own cmake options: cmake-js sets CMAKE_CXX_FLAGS
 * itself, and any custom option changes the local build's folder name, which the backend, without
 * the same options, would then not find.
 */
export function buildEnv(packageDir: string, env: NodeJS.ProcessEnv): NodeJS.ProcessEnv {
  const out: NodeJS.ProcessEnv = { ...env };
  const dir = join(packageDir, 'llama', COMPILER_WRAPPERS);
  for (const [variable, names] of [['CC', ['cc', 'gcc', 'clang']], ['CXX', ['c++', 'g++', 'clang++']]] as const) {
    const compiler = env[variable] || onPath(names, env);
    const flags = nativeBuildFlags(compiler);
    if (!compiler || flags.length === 0) continue;
    mkdirSync(dir, { recursive: true });
    const wrapper = join(dir, names[0]);
    writeFileSync(wrapper, `#!/bin/sh\nexec '${compiler.replaceAll("'", `'\\''`)}' "$@" ${flags.join(' ')}\n`, { mode: 0o755 });
    out[variable] = wrapper;
  }
  return out;
}

/** node-llama-cpp's own CLI: `source download` unpacks the bundled llama.cpp (no network) and builds. */
export function buildCommand(packageDir: string): string[] {
  const cli = join(packageDir, 'dist', 'cli', 'cli.js');
  const hasSource = existsSync(join(packageDir, 'llama', 'llama.cpp', 'CMakeLists.txt'));
  return [cli, 'source', hasSource ? 'build' : 'download', '--gpu', 'false', '--noUsageExample'];
}

export function compilerVersion(env: NodeJS.ProcessEnv = process.env): string | null {
  const cxx = onPath(['c++', 'g++', 'clang++'], env);
  return (cxx && spawnSync(cxx, ['--version'], { encoding: 'utf8', env }).stdout?.split('\n')[0]) || null;
}

/** "[12/277] Building CXX object ..." (ninja) or "[ 42%] Building ..." (make). */
const NINJA_STEP = /\[(\d+)\/(\d+)\]/;
const MAKE_PERCENT = /\[\s*(\d+)%\]/;

export class EngineBuilder {
  readonly events = new Emitter<EngineBuildStatus>();
  private state: EngineBuildStatus['state'] = 'idle';
  private step = 0;
  private steps = 0;
  private compiler: string | null = null;
  private error: string | null = null;
  private tail: string[] = [];
  private child: ChildProcess | null = null;

  constructor(
    private readonly o: {
      packageDir?: string;
      env?: NodeJS.ProcessEnv;
    } = {},
  ) {}

  private packageDir(): string | null {
    try {
      return this.o.packageDir ?? nodeLlamaCppDir();
    } catch {
      return null;
    }
  }

  private offer(): EngineBuildOffer {
    const dir = this.packageDir();
    if (!dir) return { offered: false, reason: 'node-llama-cpp, the built-in engine, was not found next to the app.', packageDir: '' };
    return engineBuildOffer(dir, this.o.env ?? process.env);
  }

  status(): EngineBuildStatus {
    const offer = this.offer();
    return {
      offered: offer.offered,
      reason: offer.reason,
      active: offer.packageDir !== '' && hasLocalBuild(offer.packageDir),
      state: this.state,
      step: this.step,
      steps: this.steps,
      compiler: this.compiler,
      error: this.error,
    };
  }

  /** Starts the build; throws (with the reason) where it is not offered or one is running. */
  start(): EngineBuildStatus {
    const offer = this.offer();
    if (!offer.offered) throw new Error(`Optimize for this machine is not offered here: ${offer.reason}`);
    if (this.state === 'building') throw new Error('A build for this machine is already running');
    Object.assign(this, { state: 'building', step: 0, steps: 0, error: null, tail: [], compiler: compilerVersion(this.o.env ?? process.env) });
    // In Electron, process.execPath is the app: ELECTRON_RUN_AS_NODE makes it plain Node.
    // Its own process group, so quitting the app stops cmake and the compilers too (dispose).
    const child = spawn(process.execPath, buildCommand(offer.packageDir), {
      env: { ...buildEnv(offer.packageDir, this.o.env ?? process.env), ELECTRON_RUN_AS_NODE: '1' },
      stdio: ['ignore', 'pipe', 'pipe'],
      detached: process.platform !== 'win32',
    });
    this.child = child;
    const onOutput = (chunk: Buffer) => {
      for (const line of chunk.toString().split(/\r?\n/)) {
        if (!line.trim()) continue;
        this.tail = [...this.tail.slice(-9), line];
        const ninja = NINJA_STEP.exec(line);
        const percent = MAKE_PERCENT.exec(line);
        if (ninja) [this.step, this.steps] = [Number(ninja[1]), Number(ninja[2])];
        else if (percent) [this.step, this.steps] = [Number(percent[1]), 100];
        else continue;
        this.events.emit(this.status());
      }
    };
    child.stdout.on('data', onOutput);
    child.stderr.on('data', onOutput);
    const finish = (error: string | null) => {
      this.child = null;
      if (this.state !== 'building') return;
      this.state = error ? 'failed' : 'done';
      this.error = error;
      this.events.emit(this.status());
    };
    child.once('error', (e) => finish(`The build could not start: ${e.message}`));
    child.once('exit', (code, signal) => finish(code === 0 ? null : `The build failed (${signal ?? `exit ${code}`}); the prebuilt binary stays in use. Its last lines:\n${this.tail.join('\n')}`));
    const started = this.status();
    this.events.emit(started);
    return started;
  }

  /** Stops a build in progress (the app is quitting); what it built so far is not used. */
  dispose(): void {
    const child = this.child;
    if (!child?.pid) return;
    try {
      if (process.platform === 'win32') child.kill();
      else process.kill(-child.pid, 'SIGTERM');
    } catch {
      // already gone
    }
  }

  /** Deletes the local build: backends started from now on use the prebuilt binary again. */
  async remove(): Promise<EngineBuildStatus> {
    if (this.state === 'building') throw new Error('A build for this machine is running; wait for it to end');
    const dir = this.packageDir();
    if (dir) await rm(localBuildsDir(dir), { recursive: true, force: true });
    this.state = 'idle';
    const now = this.status();
    this.events.emit(now);
    return now;
  }
}

/** For `npm run build-engine -- --remove`, which runs without a core. */
export function removeLocalBuildSync(packageDir: string): void {
  rmSync(localBuildsDir(packageDir), { recursive: true, force: true });
}
