/**
 * Builds llama.cpp's `llama-server` offline from the source node-llama-cpp ships (a git bundle under
 * node_modules/node-llama-cpp/llama/), into `<data dir>/llama-server/<version>/` where Loadout finds it.
 * CPU-only outside macOS (Metal there), so it builds anywhere cmake and a C++ compiler are present.
 * `llama-quantize` is built beside it (bench:llama-server makes K-quant models with it).
 *
 *   npm run build-llama-server [-- --out <dir>] [-- -j <n>]
 */
import { spawnSync } from 'node:child_process';
import { copyFileSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, chmodSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { builtLlamaServerDir, LLAMA_SERVER_EXE } from '../src/main/core/backends/llamaServer/locate';
import { nativeBuildFlags } from '../src/main/core/engineBuild';

const LLAMA_QUANTIZE_EXE = process.platform === 'win32' ? 'llama-quantize.exe' : 'llama-quantize';

const llamaDir = join(process.cwd(), 'node_modules', 'node-llama-cpp', 'llama');

function arg(name: string): string | undefined {
  const i = process.argv.indexOf(name);
  return i >= 0 ? process.argv[i + 1] : undefined;
}

function fail(message: string): never {
  console.error(`build-llama-server: ${message}`);
  process.exit(1);
}

function has(cmd: string, args: string[] = ['--version']): boolean {
  return spawnSync(cmd, args, { stdio: 'ignore' }).status === 0;
}

function run(cmd: string, args: string[], cwd?: string): void {
  console.log(`$ ${cmd} ${args.join(' ')}`);
  const r = spawnSync(cmd, args, { cwd, stdio: 'inherit' });
  if (r.status !== 0) fail(`${cmd} failed (exit ${r.status ?? r.signal}); see its output above`);
}

function main(): void {
  const started = Date.now();
  if (!has('cmake')) fail('cmake is not installed. Install cmake (3.14 or newer), e.g. `apt install cmake` or `brew install cmake`, then run this again.');
  const cxx = process.env.CXX || (process.platform === 'win32' ? 'cl' : ['c++', 'g++', 'clang++'].find((c) => has(c)));
  if (!cxx || (process.platform !== 'win32' && !has(cxx))) fail('no C++ compiler found (c++, g++ or clang++). Install one, e.g. `apt install g++` or Xcode command line tools, then run this again.');
  if (!has('git')) fail('git is not installed; it is needed to unpack the llama.cpp source bundle.');

  const bundle = join(llamaDir, 'gitRelease.bundle');
  if (!existsSync(bundle)) fail(`llama.cpp source not found at ${bundle}; is node-llama-cpp installed (npm ci)?`);
  const info = JSON.parse(readFileSync(join(llamaDir, 'llama.cpp.info.json'), 'utf8')) as { tag: string };
  const version = info.tag;
  const outDir = arg('--out') ?? builtLlamaServerDir(version);
  const jobs = arg('-j') ?? String(Math.max(1, os.availableParallelism()));

  const work = mkdtempSync(join(os.tmpdir(), 'loadout-llama-server-'));
  try {
    const src = join(work, 'src');
    run('git', ['clone', '--quiet', bundle, src]);
    const build = join(work, 'build');
    const metal = process.platform === 'darwin';
    const amxOff = nativeBuildFlags(cxx).join(' ');
    run('cmake', [
      '-S', src, '-B', build,
      '-DCMAKE_BUILD_TYPE=Release',
      '-DBUILD_SHARED_LIBS=OFF', // one self-contained binary to copy
      '-DLLAMA_BUILD_TESTS=OFF', '-DLLAMA_BUILD_EXAMPLES=OFF', '-DLLAMA_BUILD_SERVER=ON', '-DLLAMA_BUILD_TOOLS=ON',
      '-DLLAMA_BUILD_APP=OFF', '-DLLAMA_BUILD_UI=OFF', '-DLLAMA_USE_PREBUILT_UI=OFF', // offline: no web UI download
      '-DLLAMA_OPENSSL=OFF',
      `-DLLAMA_BUILD_NUMBER=0`, `-DLLAMA_BUILD_COMMIT=${version}`,
      `-DGGML_METAL=${metal ? 'ON' : 'OFF'}`, '-DGGML_CUDA=OFF', '-DGGML_VULKAN=OFF', '-DGGML_HIP=OFF', '-DGGML_SYCL=OFF',
      `-DCMAKE_CXX_COMPILER=${cxx}`,
      // No AMX kernels: they crash on K-quant models on some AMX machines (engineBuild.ts says more).
      ...(amxOff ? [`-DCMAKE_C_FLAGS=${amxOff}`, `-DCMAKE_CXX_FLAGS=${amxOff}`] : []),
    ]);
    // llama-quantize shares every library with llama-server (a few seconds more): bench:llama-server
    // uses it to make K-quant models, which make-model does not write.
    run('cmake', ['--build', build, '--config', 'Release', '--target', 'llama-server', 'llama-quantize', '-j', jobs]);
    mkdirSync(outDir, { recursive: true });
    let dest = '';
    for (const exe of [LLAMA_SERVER_EXE, LLAMA_QUANTIZE_EXE]) {
      const built = [join(build, 'bin', exe), join(build, 'bin', 'Release', exe)].find((p) => existsSync(p));
      if (!built) fail(`the build finished but ${exe} was not found under ${join(build, 'bin')}`);
      const to = join(outDir, exe);
      copyFileSync(built, to);
      chmodSync(to, 0o755);
      dest ||= to;
    }
    const v = spawnSync(dest, ['--version'], { encoding: 'utf8' });
    const reported = `${v.stdout}${v.stderr}`.trim();
    const seconds = ((Date.now() - started) / 1000).toFixed(0);
    console.log(`built ${dest} in ${seconds} s (${reported.split('\n')[0] || version})`);
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
}

main();
