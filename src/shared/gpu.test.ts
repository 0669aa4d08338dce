/** V12: the VRAM bar's parts and the words for VRAM and placement, as the GUI and the core show them. */
import { describe, expect, it } from 'vitest';
import { barPercent, formatVram, isPartialOffload, placementLabel, placementWords, vramFigure, vramSplit } from './gpu';

const GB = 1024 ** 3;

describe('V12: the VRAM bar', () => {
  it.each([
    ['Loadout, other programs and free add up to the device', { totalBytes: 24 * GB, freeBytes: 16 * GB, usedByLoadoutBytes: 6 * GB }, { loadout: 6 * GB, other: 2 * GB, free: 16 * GB }],
    ['nothing loaded: all in use is other programs', { totalBytes: 8 * GB, freeBytes: 7 * GB, usedByLoadoutBytes: 0 }, { loadout: 0, other: 1 * GB, free: 7 * GB }],
    ["Loadout's figure ahead of the free figure: other programs are 0, never negative", { totalBytes: 8 * GB, freeBytes: 5 * GB, usedByLoadoutBytes: 4 * GB }, { loadout: 3 * GB, other: 0, free: 5 * GB }],
    ['free above total (a driver rounding): clamped to the total', { totalBytes: 8 * GB, freeBytes: 9 * GB, usedByLoadoutBytes: 0 }, { loadout: 0, other: 0, free: 8 * GB }],
    ['negative figures read as 0', { totalBytes: 8 * GB, freeBytes: -1, usedByLoadoutBytes: -5 }, { loadout: 0, other: 8 * GB, free: 0 }],
  ])('%s', (_, device, parts) => {
    const split = vramSplit(device);
    expect(split).toEqual({ total: Math.max(0, device.totalBytes), ...parts });
    expect(split.loadout + split.other + split.free).toBe(split.total);
  });

  it('widths are percent of the total, 0 for a device that reports no total', () => {
    expect(barPercent(6 * GB, 24 * GB)).toBe(25);
    expect(barPercent(1, 0)).toBe(0);
  });
});

describe('V12: VRAM and placement in words', () => {
  it('sizes in GB of 1024^3, small ones in MB (clarification 10)', () => {
    expect(formatVram(3.1 * GB)).toBe('3.1 GB');
    expect(formatVram(GB)).toBe('1.0 GB');
    expect(formatVram(512 * 1024 ** 2)).toBe('512 MB');
    expect(formatVram(-3)).toBe('0 MB');
  });

  it.each([
    [{ device: 'cuda', gpuLayers: 33, totalLayers: 33 }, 'GPU 33/33', false, 'the GPU (CUDA): all 33 layers'],
    [{ device: 'vulkan', gpuLayers: 20, totalLayers: 32 }, 'GPU 20/32', true, 'the GPU (Vulkan): 20 of 32 layers; the rest on the CPU (slower)'],
    [{ device: 'cpu', gpuLayers: 0, totalLayers: 32 }, 'CPU', false, 'the CPU (no layers on the GPU)'],
    [{ device: 'metal', gpuLayers: 0, totalLayers: 32 }, 'CPU', false, 'the CPU (no layers on the GPU)'],
  ] as const)('%o reads %s', (p, label, partial, words) => {
    expect(placementLabel(p)).toBe(label);
    expect(isPartialOffload(p)).toBe(partial);
    expect(placementWords(p)).toBe(words);
  });

  it('not loaded: no placement', () => {
    expect(placementLabel(null)).toBe('');
    expect(isPartialOffload(null)).toBe(false);
  });

  it.each([
    ['loaded on the GPU: the measured figure', { vramBytes: 4.2 * GB, vramEstimateBytes: 4 * GB }, { text: '4.2 GB', measured: true }],
    ['not loaded: the estimate, marked as one', { vramBytes: null, vramEstimateBytes: 3.1 * GB }, { text: '~3.1 GB', measured: false }],
    ['loaded on the CPU (measured 0): none, not the estimate', { vramBytes: 0, vramEstimateBytes: 4 * GB }, null],
    ['a CPU-only model (estimate 0): none', { vramBytes: null, vramEstimateBytes: 0 }, null],
    ['no figures at all (a remote model): none', { vramBytes: null, vramEstimateBytes: null }, null],
  ])('%s', (_, memory, figure) => {
    expect(vramFigure(memory)).toEqual(figure);
  });
});
