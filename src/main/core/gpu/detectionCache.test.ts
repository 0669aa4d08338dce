import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { collectDetectionKeyInputs, DETECTION_FILE, DetectionCache, detectionKey, type GpuDetection } from './detectionCache';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loadout-gpu-detect-'));
});
afterEach(() => fs.rmSync(dir, { recursive: true, force: true }));

/** A node_modules folder with node-llama-cpp and one prebuilt binary package. */
function fakeNodeModules(version = '3.21.1'): { root: string; binary: string } {
  const root = path.join(dir, 'node_modules');
  fs.mkdirSync(path.join(root, 'node-llama-cpp'), { recursive: true });
  fs.writeFileSync(path.join(root, 'node-llama-cpp', 'package.json'), JSON.stringify({ version }));
  const bins = path.join(root, '@node-llama-cpp', 'linux-x64-vulkan', 'bins', 'linux-x64-vulkan');
  fs.mkdirSync(bins, { recursive: true });
  const binary = path.join(bins, 'llama-addon.node');
  fs.writeFileSync(binary, 'x');
  return { root, binary };
}

const found: GpuDetection = { gpu: 'vulkan', deviceNames: ['Radeon 780M'], totalBytes: 8 * 1024 ** 3, unified: false, fallbackReason: null, detectedAt: 1 };

describe('V2 detection cache', () => {
  it('the key changes with node-llama-cpp’s version, a binary’s mtime and the driver, and only then', () => {
    const { root, binary } = fakeNodeModules();
    const driver = path.join(dir, 'nvidia-version');
    fs.writeFileSync(driver, 'NVRM version: 550.54\n');
    const key = () => detectionKey(collectDetectionKeyInputs(root, [driver]));
    const first = key();
    expect(key()).toBe(first);
    const inputs = collectDetectionKeyInputs(root, [driver]);
    expect(Object.keys(inputs.binaries)).toEqual(['linux-x64-vulkan/linux-x64-vulkan/llama-addon.node']);
    expect(inputs.system).toContain('NVRM version: 550.54');

    fs.utimesSync(binary, new Date(), new Date(Date.now() + 60_000));
    const afterRebuild = key();
    expect(afterRebuild).not.toBe(first);
    fs.writeFileSync(driver, 'NVRM version: 560.10\n');
    const afterDriver = key();
    expect(afterDriver).not.toBe(afterRebuild);
    fs.writeFileSync(path.join(root, 'node-llama-cpp', 'package.json'), JSON.stringify({ version: '3.22.0' }));
    expect(key()).not.toBe(afterDriver);
  });

  it('V14: the CUDA pack arriving changes the key, so a kept "vulkan" is detected again', () => {
    const inputs = collectDetectionKeyInputs(fakeNodeModules().root, []);
    const before = detectionKey({ ...inputs, cudaPack: 'missing' });
    expect(detectionKey({ ...inputs, cudaPack: 'missing' })).toBe(before);
    expect(detectionKey({ ...inputs, cudaPack: 'installed' })).not.toBe(before);
  });

  it('round-trips through the data folder and is ignored under another key', async () => {
    const cache = new DetectionCache(dir);
    expect(cache.read('k1')).toBeNull();
    await cache.write('k1', found);
    expect(cache.read('k1')).toEqual(found);
    expect(cache.read('k2')).toBeNull();
  });

  it('a damaged file reads as "detect again", not an error', () => {
    fs.writeFileSync(path.join(dir, DETECTION_FILE), '{"key": "k1", "detec');
    expect(new DetectionCache(dir).read('k1')).toBeNull();
  });
});
