/**
 * V2: the core's GPU monitor over the detection cache in the data folder, keyed by what the
 * detection depends on (node-llama-cpp's version and binaries, the OS and driver, the CUDA pack).
 * Reading the key lists node-llama-cpp's binary folders; nothing here loads native code.
 * V14: once detection says the driver supports CUDA but its binaries are missing, the CUDA pack
 * is fetched in the background, its progress on the GPU panel's line; models keep loading on
 * what detection found meanwhile (Vulkan or the CPU), and after a failure too.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from '../../../shared/model';
import type { Clock } from '../clock';
import { cudaPackEnv, cudaPackNeeded, cudaPackStatus, ensureCudaPack, type CudaPackProgress, type PinnedPackage } from './cudaPack';
import { collectDetectionKeyInputs, DetectionCache, detectionKey, type GpuDetection } from './detectionCache';
import { GpuMonitor } from './monitor';

/** The node_modules folder node-llama-cpp is installed in (null: not found, no cache then). */
function nodeModulesDir(): string | null {
  // Not through resolve('node-llama-cpp/package.json'): the package's exports do not list it.
  const paths = createRequire(import.meta.url).resolve.paths('node-llama-cpp') ?? [];
  return paths.find((dir) => existsSync(join(dir, 'node-llama-cpp', 'package.json'))) ?? null;
}

/** Where the CUDA pack comes from (tests: a loopback registry, their own packages and node_modules). */
export interface CudaPackSource {
  registry?: string;
  packages?: PinnedPackage[];
  /** Where bundled CUDA binaries would be (default: node-llama-cpp's node_modules). */
  nodeModulesDir?: string;
}

const MB = 1024 * 1024;

function progressLine(p: CudaPackProgress, meanwhile: string): string {
  const part = p.count > 1 ? ` (package ${p.index} of ${p.count})` : '';
  const done =
    p.phase === 'unpack'
      ? 'unpacking'
      : p.totalBytes
        ? `${Math.floor((100 * p.receivedBytes) / p.totalBytes)}% of ${Math.round(p.totalBytes / MB)} MB`
        : `${Math.round(p.receivedBytes / MB)} MB`;
  return `Fetching the CUDA pack for the NVIDIA GPU${part}: ${done}. Models run on ${meanwhile} until it is installed.`;
}

const onWhat = (d: GpuDetection): string => (d.gpu === false ? 'the CPU' : d.gpu === 'vulkan' ? 'Vulkan' : d.gpu);

export function gpuMonitorFor(o: { dataDir: string; settings: () => Settings; clock: Clock; notice: (msg: string) => void; cudaPack?: CudaPackSource }): GpuMonitor {
  const cache = new DetectionCache(o.dataDir);
  const packModules = (): string | null => o.cudaPack?.nodeModulesDir ?? nodeModulesDir();
  const packStatus = () => {
    const dir = packModules();
    return dir ? cudaPackStatus({ dataDir: o.dataDir, nodeModulesDir: dir }) : 'none';
  };
  let key: string | null = null;
  const keyOf = (): string | null => {
    if (key) return key;
    const dir = nodeModulesDir();
    if (!dir) return null;
    try {
      key = detectionKey({ ...collectDetectionKeyInputs(dir), cudaPack: packStatus() });
    } catch {
      return null;
    }
    return key;
  };
  let packStarted = false;
  const fetchPack = (d: GpuDetection): void => {
    const modules = packModules();
    const gpu = o.settings().gpu;
    const supportedGpuTypes = d.supportedGpuTypes ?? [];
    if (packStarted || !modules || !cudaPackNeeded(gpu, supportedGpuTypes, packStatus())) return;
    packStarted = true;
    const meanwhile = onWhat(d);
    monitor.setNote(`Fetching the CUDA pack for the NVIDIA GPU. Models run on ${meanwhile} until it is installed.`);
    monitor.setRuntimeArriving('cuda');
    ensureCudaPack({
      dataDir: o.dataDir,
      gpu,
      supportedGpuTypes,
      nodeModulesDir: modules,
      registry: o.cudaPack?.registry,
      packages: o.cudaPack?.packages,
      onProgress: (p) => monitor.setNote(progressLine(p, meanwhile)),
    }).finally(() => monitor.setRuntimeArriving(null)).then(
      () => {
        // The pack changes what `auto` finds: the next built-in backend detects again (a new key).
        key = null;
        monitor.forget();
        monitor.setNote('The CUDA pack is installed: models loaded from now on can use CUDA.');
      },
      (e: Error) => {
        const line = `The CUDA pack could not be fetched (${e.message}). Models run on ${meanwhile}; Loadout tries again on its next start.`;
        monitor.setNote(line);
        o.notice(line);
      },
    );
  };
  const monitor: GpuMonitor = new GpuMonitor({
    setting: () => o.settings().gpu,
    now: () => o.clock.now(),
    readCache: () => {
      const k = keyOf();
      return k ? cache.read(k) : null;
    },
    writeCache: (d) => {
      const k = keyOf();
      if (k) cache.write(k, d).catch((e: Error) => o.notice(`GPU detection could not be kept for the next run: ${e.message}`));
    },
    // Not inside known(): the note it sets is emitted through the loader, which may be reading the monitor.
    onDetected: (d) => queueMicrotask(() => fetchPack(d)),
    backendEnv: () => cudaPackEnv(o.dataDir),
  });
  return monitor;
}
