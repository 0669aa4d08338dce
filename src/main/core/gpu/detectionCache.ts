/**
 * V2: GPU detection runs once and is kept across runs, so a backend start does not pay
 * node-llama-cpp's self-test of every GPU type. The cached result is valid while nothing it
 * depends on changed (clarification 4): node-llama-cpp's version, its binaries (their mtimes
 * change when a package is installed, updated or rebuilt) and the OS and GPU driver.
 */
import { createHash } from 'node:crypto';
import { existsSync, readdirSync, readFileSync, statSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { writeFileAtomic } from '../fsx/writeFileAtomic';
import type { GpuType } from './estimate';

export interface DetectionKeyInputs {
  nodeLlamaCppVersion: string;
  /** `<package>/<file>` -> mtime in ms, for every prebuilt binary found. */
  binaries: Record<string, number>;
  /** OS, release, CPU architecture and the GPU driver's own version text where it has one. */
  system: string;
  /** Where the CUDA pack stands (cudaPackStatus): installing it changes what `auto` finds (V14). */
  cudaPack?: string;
}

/** What detection found: the GPU type node-llama-cpp settled on (false: the CPU) and why not a GPU. */
export interface GpuDetection {
  gpu: GpuType | false;
  deviceNames: string[];
  totalBytes: number;
  unified: boolean;
  /** node-llama-cpp's reason when it fell back to the CPU, else null. */
  fallbackReason: string | null;
  /** The GPU types whose driver node-llama-cpp finds (V14: CUDA here without CUDA binaries fetches the pack). */
  supportedGpuTypes?: (GpuType | false)[];
  detectedAt: number;
}

/** The key of a detection: equal inputs, equal key; any change, another key. */
export function detectionKey(inputs: DetectionKeyInputs): string {
  const binaries = Object.keys(inputs.binaries).sort().map((k) => [k, inputs.binaries[k]]);
  return createHash('sha256').update(JSON.stringify([inputs.nodeLlamaCppVersion, binaries, inputs.system, ...(inputs.cudaPack ? [inputs.cudaPack] : [])])).digest('hex');
}

/** Files whose text changes with the GPU driver (NVIDIA on Linux publishes its version here). */
const DRIVER_FILES: Partial<Record<NodeJS.Platform, string[]>> = {
  linux: ['/proc/driver/nvidia/version'],
};

/** Reads the key's inputs from an installed node_modules folder and this machine. */
export function collectDetectionKeyInputs(nodeModulesDir: string, driverFiles = DRIVER_FILES[process.platform] ?? []): DetectionKeyInputs {
  const pkg = JSON.parse(readFileSync(join(nodeModulesDir, 'node-llama-cpp', 'package.json'), 'utf8')) as { version: string };
  const binaries: Record<string, number> = {};
  const scope = join(nodeModulesDir, '@node-llama-cpp');
  if (existsSync(scope)) {
    for (const name of readdirSync(scope)) {
      const bins = join(scope, name, 'bins');
      if (!existsSync(bins)) continue;
      for (const platformDir of readdirSync(bins)) {
        const dir = join(bins, platformDir);
        if (!statSync(dir).isDirectory()) continue;
        for (const file of readdirSync(dir)) binaries[`${name}/${platformDir}/${file}`] = Math.round(statSync(join(dir, file)).mtimeMs);
      }
    }
  }
  const driver = driverFiles.filter((f) => existsSync(f)).map((f) => readFileSync(f, 'utf8').split('\n')[0]);
  return { nodeLlamaCppVersion: pkg.version, binaries, system: [process.platform, os.release(), process.arch, ...driver].join('|') };
}

export const DETECTION_FILE = 'gpu-detection.json';

/** The cached detection in the data folder; anything unreadable or stale reads as "detect again". */
export class DetectionCache {
  constructor(private readonly dataDir: string) {}

  get file(): string {
    return join(this.dataDir, DETECTION_FILE);
  }

  read(key: string): GpuDetection | null {
    try {
      const stored = JSON.parse(readFileSync(this.file, 'utf8')) as { key?: unknown; detection?: GpuDetection };
      return stored.key === key && stored.detection && typeof stored.detection === 'object' ? stored.detection : null;
    } catch {
      return null;
    }
  }

  async write(key: string, detection: GpuDetection): Promise<void> {
    await writeFileAtomic(this.file, `${JSON.stringify({ key, detection }, null, 2)}\n`);
  }
}
