/** V12: how the GPU panel names devices, and what it says without a GPU. */
import { describe, expect, it } from 'vitest';
import { deviceNames, noGpuLine } from './words';

describe('V12: GPU panel words', () => {
  it.each([
    [{ type: 'cuda', names: ['NVIDIA GeForce RTX 4090'] }, 'NVIDIA GeForce RTX 4090'],
    [{ type: 'cuda', names: ['NVIDIA GeForce RTX 3090', 'NVIDIA GeForce RTX 3090'] }, '2 × NVIDIA GeForce RTX 3090'],
    [{ type: 'vulkan', names: ['AMD Radeon RX 7900', 'Intel UHD 770'] }, 'AMD Radeon RX 7900 + Intel UHD 770'],
    [{ type: 'metal', names: [] }, 'Metal device'],
  ] as const)('%o is called %s', (d, name) => {
    expect(deviceNames({ type: d.type, names: [...d.names] })).toBe(name);
  });

  it('without a GPU, says why models run on the CPU', () => {
    expect(noGpuLine('auto')).toBe('No GPU found: models run on the CPU.');
    expect(noGpuLine(undefined)).toBe('No GPU found: models run on the CPU.');
    expect(noGpuLine('cpu')).toBe('GPU off (the gpu setting is cpu): models run on the CPU.');
    expect(noGpuLine('cuda')).toBe('No CUDA GPU found (the gpu setting is cuda): models run on the CPU.');
  });
});
