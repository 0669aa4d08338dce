import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { defaultQuant, fitOf, groupByQuant, hubFiles, hubSearch } from '../src/main/core/downloads/hubClient';
import { installLoopbackGuard, startFakeHub, type FakeHub } from './fixtures/fakeHub';

let hub: FakeHub;
let guard: ReturnType<typeof installLoopbackGuard>;
beforeEach(async () => {
  guard = installLoopbackGuard();
  hub = await startFakeHub();
});
afterEach(async () => {
  await hub.close();
  guard.uninstall();
  expect(guard.refused).toEqual([]);
});

describe('Hub client', () => {
  it('G38: search and the file list go to hf_endpoint; unreachable is upstream', async () => {
    const file = await hub.addFile('me/Tiny-GGUF', 'tiny-Q4_K_M.gguf');
    expect(await hubSearch('tiny', { endpoint: hub.endpoint })).toEqual([{ id: 'me/Tiny-GGUF', downloads: 1 }]);
    expect(await hubFiles('me/Tiny-GGUF', { endpoint: hub.endpoint })).toEqual([{ path: 'tiny-Q4_K_M.gguf', size: file.data.length, sha256: file.sha256 }]);
    await expect(hubFiles('me/Nope', { endpoint: hub.endpoint })).rejects.toMatchObject({ code: 'not_found' });
    await expect(hubFiles('../etc', { endpoint: hub.endpoint })).rejects.toMatchObject({ code: 'invalid' });
    const endpoint = hub.endpoint;
    await hub.close();
    await expect(hubSearch('tiny', { endpoint })).rejects.toMatchObject({ code: 'upstream', message: expect.stringMatching(/Paste a model URI/) });
    hub = await startFakeHub();
  });

  it('G39 G41: files are grouped by quantization, split parts summed, Q4_K_M preferred when it fits', () => {
    const f = (path: string, size: number) => ({ path, size, sha256: null });
    const groups = groupByQuant([
      f('README.md', 10),
      f('m-Q8_0.gguf', 800),
      f('m-Q4_K_M.gguf', 400),
      f('m-IQ2_XS.gguf', 200),
      f('F16/m-F16-00002-of-00002.gguf', 600),
      f('F16/m-F16-00001-of-00002.gguf', 1000),
      f('mmproj-m-f16.gguf', 50),
    ]);
    expect(groups.map((g) => [g.quant, g.sizeBytes, g.mmproj])).toEqual([
      ['IQ2_XS', 200, false],
      ['Q4_K_M', 400, false],
      ['Q8_0', 800, false],
      ['F16', 1600, false],
      ['F16', 50, true],
    ]);
    expect(groups[3].files.map((x) => x.path)).toEqual(['F16/m-F16-00001-of-00002.gguf', 'F16/m-F16-00002-of-00002.gguf']);
    expect(defaultQuant(groups, 10_000)!.quant).toBe('Q4_K_M');
    expect(defaultQuant(groups, 300)!.quant).toBe('IQ2_XS');
    expect(defaultQuant(groups, 100)).toBeNull();
  });

  it('G39: the fit verdict weighs the file on the disk and file x 1.1 in free memory', () => {
    expect(fitOf(400, { memoryBytes: 1000, diskBytes: 1000 })).toBe('fits');
    expect(fitOf(800, { memoryBytes: 1000, diskBytes: 10_000 })).toBe('tight');
    expect(fitOf(400, { memoryBytes: 10_000, diskBytes: 450 })).toBe('tight');
    expect(fitOf(950, { memoryBytes: 1000, diskBytes: 10_000 })).toBe('too_big');
    expect(fitOf(400, { memoryBytes: 10_000, diskBytes: 300 })).toBe('too_big');
  });
});
