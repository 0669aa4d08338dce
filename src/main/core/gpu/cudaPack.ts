/**
 * V14: the CUDA pack. node-llama-cpp's CUDA binaries are 320 MB as npm tarballs (Linux and
 * Windows x64, the package and its `-ext` fallback), more than the rest of the installer, and
 * only users with an NVIDIA GPU need them; Vulkan (27 MB, any GPU) ships inside. So the app
 * fetches the CUDA packages on first need: the registry tarballs of the versions package-lock.json
 * pins, checked against the lock's sha512, unpacked under `<data>/runtimes/<node-llama-cpp
 * version>/node_modules/`, where the built-in backend's resolution hook (runtimeHook.ts) finds
 * them when node-llama-cpp asks for `@node-llama-cpp/<platform>-x64-cuda`.
 */
import { randomUUID } from 'node:crypto';
import { existsSync, readFileSync } from 'node:fs';
import fs from 'node:fs/promises';
import { join } from 'node:path';
import type { Dispatcher } from 'undici';
import type { GpuSetting } from '../../../shared/model';
import { CUDA_PACK_PINS } from './cudaPackPins';
import type { GpuType } from './estimate';
import { extractNpmTarball, fetchVerifiedTarball } from './npmTarball';

/** What the built-in backend reads to find the runtimes folder (src/backends/llama/runtimeHook.ts). */
export const LLAMA_RUNTIME_DIR_ENV = 'LOADOUT_LLAMA_RUNTIME_DIR';
export const NPM_REGISTRY = 'https://registry.npmjs.org';

export interface PinnedPackage {
  name: string;
  version: string;
  integrity: string;
}

/** The pack's packages for a platform: empty where node-llama-cpp has no CUDA build (macOS, arm). */
export function cudaPackPackages(platform: NodeJS.Platform = process.platform, arch: string = process.arch): PinnedPackage[] {
  const os = platform === 'linux' ? 'linux' : platform === 'win32' ? 'win' : null;
  if (!os || arch !== 'x64') return [];
  return [`@node-llama-cpp/${os}-x64-cuda`, `@node-llama-cpp/${os}-x64-cuda-ext`].map((name) => ({
    name,
    ...CUDA_PACK_PINS.packages[name as keyof typeof CUDA_PACK_PINS.packages],
  }));
}

/** `<data>/runtimes/<node-llama-cpp version>`: a new node-llama-cpp gets a new folder, never a mix. */
export function runtimeDir(dataDir: string): string {
  return join(dataDir, 'runtimes', CUDA_PACK_PINS.nodeLlamaCpp);
}

/** The registry's tarball address: `<registry>/@scope/name/-/name-<version>.tgz`. */
export function tarballUrl(pkg: PinnedPackage, registry = NPM_REGISTRY): string {
  const base = pkg.name.split('/').pop()!;
  return `${registry.replace(/\/+$/, '')}/${pkg.name}/-/${base}-${pkg.version}.tgz`;
}

function installedVersion(nodeModulesDir: string, name: string): string | null {
  try {
    return (JSON.parse(readFileSync(join(nodeModulesDir, name, 'package.json'), 'utf8')) as { version?: string }).version ?? null;
  } catch {
    return null;
  }
}

/**
 * Where this machine's CUDA binaries are: `none` (no CUDA build for this platform), `bundled`
 * (npm installed them next to node-llama-cpp: a checkout), `installed` (the pack, fetched) or
 * `missing`.
 */
export type CudaPackStatus = 'none' | 'bundled' | 'installed' | 'missing';

export function cudaPackStatus(o: { dataDir: string; nodeModulesDir: string; platform?: NodeJS.Platform; arch?: string }): CudaPackStatus {
  const packages = cudaPackPackages(o.platform, o.arch);
  if (packages.length === 0) return 'none';
  const all = (dir: string) => packages.every((p) => installedVersion(dir, p.name) === p.version);
  if (all(o.nodeModulesDir)) return 'bundled';
  return all(join(runtimeDir(o.dataDir), 'node_modules')) ? 'installed' : 'missing';
}

/**
 * The trigger: fetch the pack before a built-in load when the `gpu` setting may use CUDA
 * (`cuda` or `auto`), node-llama-cpp finds an NVIDIA driver and CUDA runtime on this machine
 * (the probe's `supportedGpuTypes`: `getLlamaGpuTypes('supported')`, from the driver's files, not
 * from binaries) and the binaries are missing. Without the pack such a machine runs on Vulkan
 * (auto) or falls back to the CPU with the reason (cuda).
 */
export function cudaPackNeeded(gpu: GpuSetting, supportedGpuTypes: readonly (GpuType | false)[], status: CudaPackStatus): boolean {
  return status === 'missing' && (gpu === 'cuda' || gpu === 'auto') && supportedGpuTypes.includes('cuda');
}

/**
 * The call the core makes once it knows what the probe found (detection) and before a built-in
 * load with `gpu` cuda or auto: fetches the pack when cudaPackNeeded says so. Resolves true when
 * it fetched one; detection must then run again (the pack changes what auto finds) and backends
 * start with cudaPackEnv. Rejects with a DownloadError (`checksum_mismatch`, `upstream`,
 * `disk_space`) that says what to do; the load can then go ahead on Vulkan or the CPU.
 */
export async function ensureCudaPack(
  o: FetchCudaPackOptions & { gpu: GpuSetting; supportedGpuTypes: readonly (GpuType | false)[]; nodeModulesDir: string },
): Promise<boolean> {
  if (!cudaPackNeeded(o.gpu, o.supportedGpuTypes, cudaPackStatus(o))) return false;
  await fetchCudaPack(o);
  return true;
}

/** The backend's environment: the runtimes folder, only once the pack is there (the hook then costs nothing elsewhere). */
export function cudaPackEnv(dataDir: string): Record<string, string> {
  const dir = runtimeDir(dataDir);
  return existsSync(join(dir, 'node_modules', '@node-llama-cpp')) ? { [LLAMA_RUNTIME_DIR_ENV]: dir } : {};
}

export interface CudaPackProgress {
  /** The package being fetched or unpacked, its position in the pack (1-based) and the pack's size in packages. */
  name: string;
  index: number;
  count: number;
  phase: 'download' | 'unpack';
  receivedBytes: number;
  totalBytes: number | null;
}

export interface FetchCudaPackOptions {
  dataDir: string;
  registry?: string;
  onProgress?: (p: CudaPackProgress) => void;
  signal?: AbortSignal;
  dispatcher?: Dispatcher;
  platform?: NodeJS.Platform;
  arch?: string;
  /** The packages to fetch; by default this platform's pins (tests pass their own). */
  packages?: PinnedPackage[];
}

const inFlight = new Map<string, Promise<string>>();

/**
 * Fetches, checks and unpacks the pack's packages that are not installed yet; resolves with the
 * runtimes folder. Calls for the same folder while one runs share it. Each package lands by a
 * rename, so an interrupted fetch never leaves a half package where the backend looks; its
 * `.part` stays and the next call resumes it.
 */
export function fetchCudaPack(o: FetchCudaPackOptions): Promise<string> {
  const dir = runtimeDir(o.dataDir);
  let job = inFlight.get(dir);
  if (!job) {
    job = installPack(dir, o).finally(() => inFlight.delete(dir));
    inFlight.set(dir, job);
  }
  return job;
}

async function installPack(dir: string, o: FetchCudaPackOptions): Promise<string> {
  const packages = o.packages ?? cudaPackPackages(o.platform, o.arch);
  if (packages.length === 0) throw new Error(`node-llama-cpp has no CUDA build for ${o.platform ?? process.platform} ${o.arch ?? process.arch}`);
  const nodeModules = join(dir, 'node_modules');
  for (const [i, pkg] of packages.entries()) {
    if (installedVersion(nodeModules, pkg.name) === pkg.version) continue;
    const progress = (phase: CudaPackProgress['phase'], receivedBytes: number, totalBytes: number | null) =>
      o.onProgress?.({ name: pkg.name, index: i + 1, count: packages.length, phase, receivedBytes, totalBytes });
    const tgz = join(dir, '.download', `${pkg.name.replace('/', '+')}-${pkg.version}.tgz.part`);
    await fetchVerifiedTarball({
      url: tarballUrl(pkg, o.registry),
      integrity: pkg.integrity,
      partFile: tgz,
      onProgress: (received, total) => progress('download', received, total),
      signal: o.signal,
      dispatcher: o.dispatcher,
    });
    progress('unpack', 0, null);
    const staging = join(dir, '.staging', randomUUID());
    try {
      await extractNpmTarball(tgz, staging);
      const got = JSON.parse(await fs.readFile(join(staging, 'package.json'), 'utf8')) as { name?: string; version?: string };
      if (got.name !== pkg.name || got.version !== pkg.version) throw new Error(`the tarball for ${pkg.name}@${pkg.version} holds ${got.name}@${got.version}`);
      const target = join(nodeModules, pkg.name);
      await fs.mkdir(join(target, '..'), { recursive: true });
      await fs.rm(target, { recursive: true, force: true });
      await fs.rename(staging, target);
    } finally {
      await fs.rm(staging, { recursive: true, force: true });
    }
    await fs.rm(tgz, { force: true });
  }
  for (const leftover of ['.staging', '.download']) await fs.rm(join(dir, leftover), { recursive: true, force: true });
  return dir;
}
