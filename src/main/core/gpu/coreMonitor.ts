/**
 * V2: the core's GPU monitor over the detection cache in the data folder, keyed by what the
 * detection depends on (node-llama-cpp's version and binaries, the OS and driver). Reading the
 * key lists node-llama-cpp's binary folders; nothing here loads native code.
 */
import { createRequire } from 'node:module';
import { existsSync } from 'node:fs';
import { join } from 'node:path';
import type { Settings } from '../../../shared/model';
import type { Clock } from '../clock';
import { collectDetectionKeyInputs, DetectionCache, detectionKey } from './detectionCache';
import { GpuMonitor } from './monitor';

/** The node_modules folder node-llama-cpp is installed in (null: not found, no cache then). */
function nodeModulesDir(): string | null {
  // Not through resolve('node-llama-cpp/package.json'): the package's exports do not list it.
  const paths = createRequire(import.meta.url).resolve.paths('node-llama-cpp') ?? [];
  return paths.find((dir) => existsSync(join(dir, 'node-llama-cpp', 'package.json'))) ?? null;
}

export function gpuMonitorFor(o: { dataDir: string; settings: () => Settings; clock: Clock; notice: (msg: string) => void }): GpuMonitor {
  const cache = new DetectionCache(o.dataDir);
  let key: string | null = null;
  const keyOf = (): string | null => {
    if (key) return key;
    const dir = nodeModulesDir();
    if (!dir) return null;
    try {
      key = detectionKey(collectDetectionKeyInputs(dir));
    } catch {
      return null;
    }
    return key;
  };
  return new GpuMonitor({
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
  });
}
