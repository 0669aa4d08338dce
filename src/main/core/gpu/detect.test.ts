/** V2/V3: detection through the real backend program's `--probe`, cached under its key. */
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { builtinLlamaCommand } from '../backends/builtin';
import { detectGpu, devicesFromProbe, resolveBackendGpu } from './detect';
import { DetectionCache } from './detectionCache';

const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loadout-gpu-probe-'));
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

describe('V2 GPU detection', () => {
  it('probes once through the backend program, then answers from the cache', async () => {
    const cache = new DetectionCache(dir);
    const o = { command: builtinLlamaCommand(), cache, key: 'k1', now: () => 42 };
    const first = await detectGpu(o);
    expect(first.cached).toBe(false);
    // This machine has no GPU: the CPU, with node-llama-cpp's reason.
    expect(first.detection).toMatchObject({ gpu: false, deviceNames: [], detectedAt: 42, fallbackReason: expect.stringMatching(/^no GPU found/) });
    expect(devicesFromProbe(first.probe!, 0)).toEqual([]);

    const started = performance.now();
    const second = await detectGpu(o);
    expect(second).toMatchObject({ cached: true, detection: first.detection });
    expect(performance.now() - started).toBeLessThan(200);
    // Another key (an update, a new driver) probes again.
    expect((await detectGpu({ ...o, key: 'k2' })).cached).toBe(false);
  }, 90_000);

  it('a probe that cannot run reads as no GPU with the reason, and is not cached', async () => {
    const cache = new DetectionCache(dir);
    const r = await detectGpu({ command: { command: process.execPath, args: ['-e', 'process.exit(3)', '--'], env: {} }, cache, key: 'bad', now: () => 1 });
    expect(r.detection).toMatchObject({ gpu: false, fallbackReason: 'GPU detection ended with exit code 3' });
    expect(cache.read('bad')).toBeNull();
  });
});

describe('V3 devices from a probe', () => {
  it('one entry per GPU backend type, with Loadout’s use', () => {
    const probe = { used: 'cuda' as const, fallbackReason: null, deviceNames: ['A', 'B'], vram: { total: 48, used: 10, free: 38, unifiedSize: 0 } };
    expect(devicesFromProbe(probe, 6)).toEqual([{ type: 'cuda', names: ['A', 'B'], totalBytes: 48, freeBytes: 38, usedByLoadoutBytes: 6, unified: false }]);
  });
});

describe('V2 the choice a backend starts with', () => {
  const found = (gpu: 'cuda' | false) => ({ gpu, deviceNames: [], totalBytes: 0, unified: false, fallbackReason: null, detectedAt: 0 });
  it.each([
    ['auto', null, 'auto'],
    ['auto', found(false), 'cpu'],
    ['auto', found('cuda'), 'cuda'],
    ['cpu', found('cuda'), 'cpu'],
    ['vulkan', found('cuda'), 'vulkan'],
  ] as const)('%s with detection %j starts %s', (setting, detection, expected) => {
    expect(resolveBackendGpu(setting, detection)).toBe(expected);
  });
});
