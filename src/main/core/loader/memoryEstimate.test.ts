import { describe, expect, it } from 'vitest';
import { entryOf, MiB } from './loaderHarness';
import { BACKEND_BASE_BYTES, estimateModelMemory as estimateMemory, memoryEstimator } from './memoryEstimate';

describe('memory estimate (L7)', () => {
  it('counts the backend process\'s own base next to the weights (Trust 5), none for a remote backend', () => {
    const entry = entryOf('a', { sizeBytes: 40 * MiB });
    expect(estimateMemory(entry)).toBe(40 * MiB + BACKEND_BASE_BYTES);
    expect(BACKEND_BASE_BYTES).toBeGreaterThan(80 * 1000 ** 2);
    expect(estimateMemory(entry, 0)).toBe(40 * MiB);
    expect(estimateMemory({ ...entry, sizeBytes: null })).toBeNull();
    const remoteAware = memoryEstimator((b) => (b === 'far' ? { kind: 'remote', name: 'far', address: 'h:1' } : { kind: 'program', name: b, command: b, args: [] }));
    expect(remoteAware(entry)).toBe(40 * MiB + BACKEND_BASE_BYTES);
    expect(remoteAware(entryOf('r', { sizeBytes: 40 * MiB, backend: 'far' }))).toBe(40 * MiB);
  });
});
