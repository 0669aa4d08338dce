import { describe, expect, it } from 'vitest';
import type { DownloadJob, GpuDevice } from '../../../../shared/model';
import type { HubRepoFiles } from '../../../../shared/quants';
import { adviceFor, defaultName, downloadLabel, formatEta, formatSpeed, modelDownload, nameFromUri, parseSource, quantChoices, shortBytes } from './logic';

const GB = 1024 ** 3;
const repo = (sizes: Record<string, number>, room: HubRepoFiles['room']): HubRepoFiles => ({
  repo: 'me/M-GGUF',
  files: [],
  groups: Object.entries(sizes).map(([quant, size]) => ({ quant, files: [{ path: `m-${quant}.gguf`, size, sha256: null }], sizeBytes: size, mmproj: false, fit: 'fits' as const })),
  defaultQuant: null,
  room,
});
const gpu = (freeBytes: number, unified = false): GpuDevice => ({ type: 'cuda', names: ['x'], totalBytes: freeBytes, freeBytes, usedByLoadoutBytes: 0, unified });

describe('G39: the quantization verdicts and default pick in "Add model"', () => {
  const sizes = { Q2_K: 3 * GB, Q4_K_M: 5 * GB, Q8_0: 9 * GB, F16: 16 * GB };

  it('judges each quantization by size x 1.1 against free memory and against the disk left', () => {
    const c = quantChoices(repo(sizes, { memoryBytes: 12 * GB, diskBytes: 100 * GB }), []);
    expect(c.groups.map((g) => [g.quant, g.fit])).toEqual([
      ['Q2_K', 'fits'],
      ['Q4_K_M', 'fits'],
      ['Q8_0', 'tight'],
      ['F16', 'too_big'],
    ]);
    expect(c.pick).toBe('Q4_K_M');
    // Little disk left: the disk decides.
    expect(quantChoices(repo(sizes, { memoryBytes: 64 * GB, diskBytes: 3.5 * GB }), []).groups.map((g) => g.fit)).toEqual(['tight', 'too_big', 'too_big', 'too_big']);
  });

  it('counts the free VRAM of a discrete GPU, never unified memory twice', () => {
    const room = { memoryBytes: 6 * GB, diskBytes: 100 * GB };
    expect(quantChoices(repo(sizes, room), []).groups.find((g) => g.quant === 'Q8_0')!.fit).toBe('too_big');
    const withGpu = quantChoices(repo(sizes, room), [gpu(8 * GB)]);
    expect(withGpu.room.vramBytes).toBe(8 * GB);
    expect(withGpu.groups.find((g) => g.quant === 'Q8_0')!.fit).toBe('fits');
    expect(quantChoices(repo(sizes, room), [gpu(8 * GB, true)]).groups.find((g) => g.quant === 'Q8_0')!.fit).toBe('too_big');
  });

  it('picks Q4_K_M when it fits, else the largest that fits, else nothing', () => {
    expect(quantChoices(repo(sizes, { memoryBytes: 4 * GB, diskBytes: 100 * GB }), []).pick).toBe('Q2_K');
    expect(quantChoices(repo({ Q5_K_M: 6 * GB, Q6_K: 7 * GB, Q8_0: 9 * GB }, { memoryBytes: 9 * GB, diskBytes: 100 * GB }), []).pick).toBe('Q6_K');
    expect(quantChoices(repo(sizes, { memoryBytes: 1 * GB, diskBytes: 100 * GB }), []).pick).toBeNull();
  });
});

describe('what the "Add model" box was given', () => {
  it('tells owner/repo, Hub pages, llama.cpp names and URIs from words to search', () => {
    expect(parseSource('  ')).toEqual({ kind: 'empty' });
    expect(parseSource('bartowski/Qwen3-8B-GGUF')).toEqual({ kind: 'repo', repo: 'bartowski/Qwen3-8B-GGUF' });
    expect(parseSource('https://huggingface.co/bartowski/Qwen3-8B-GGUF')).toEqual({ kind: 'repo', repo: 'bartowski/Qwen3-8B-GGUF' });
    expect(parseSource('hf.co/bartowski/Qwen3-8B-GGUF/tree/main')).toEqual({ kind: 'repo', repo: 'bartowski/Qwen3-8B-GGUF' });
    expect(parseSource('hf:bartowski/Qwen3-8B-GGUF:q4_k_m')).toEqual({ kind: 'repo', repo: 'bartowski/Qwen3-8B-GGUF', quant: 'Q4_K_M' });
    expect(parseSource('http://127.0.0.1:9/me/Tiny-GGUF', 'http://127.0.0.1:9/')).toEqual({ kind: 'repo', repo: 'me/Tiny-GGUF' });
    expect(parseSource('huggingface://me/Tiny-GGUF/tiny-Q4_K_M.gguf')).toEqual({ kind: 'uri', uri: 'huggingface://me/Tiny-GGUF/tiny-Q4_K_M.gguf' });
    expect(parseSource('https://huggingface.co/me/r/resolve/main/m.gguf')).toEqual({ kind: 'uri', uri: 'https://huggingface.co/me/r/resolve/main/m.gguf' });
    expect(parseSource('github:me/models/m.gguf')).toEqual({ kind: 'uri', uri: 'github:me/models/m.gguf' });
    expect(parseSource('qwen 8b')).toEqual({ kind: 'search', query: 'qwen 8b' });
    expect(parseSource('qwen')).toEqual({ kind: 'search', query: 'qwen' });
  });

  it('suggests a model name from the repository and quantization, or the file', () => {
    expect(defaultName('bartowski/Qwen3-8B-GGUF', 'Q4_K_M')).toBe('Qwen3-8B-Q4_K_M');
    expect(defaultName('me/tiny', 'F16')).toBe('tiny-F16');
    expect(nameFromUri('huggingface://me/r/sub/Big-Q8_0-00001-of-00003.gguf')).toBe('Big-Q8_0');
    expect(nameFromUri('https://x.test/a/m%20v2.gguf?download=1')).toBe('m v2');
  });
});

describe('download numbers at a glance', () => {
  it('labels the Download button with the size when it is known', () => {
    expect(downloadLabel(Math.round(4.9 * GB))).toBe('Download (4.9 GB)');
    expect(downloadLabel(740 * 1024 ** 2)).toBe('Download (740 MB)');
    expect(downloadLabel(null)).toBe('Download');
    expect(shortBytes(512)).toBe('512 B');
    expect(shortBytes(12.4 * GB)).toBe('12 GB');
  });

  it('formats speed and time left', () => {
    expect(formatSpeed(3.5 * 1024 ** 2)).toBe('3.5 MB/s');
    expect(formatSpeed(0)).toBe('-');
    expect(formatEta(null)).toBe('-');
    expect(formatEta(42.2)).toBe('43 s');
    expect(formatEta(185)).toBe('3 min');
    expect(formatEta(3900)).toBe('1 h 05 min');
  });
});

const job = (over: Partial<DownloadJob>): DownloadJob => ({
  id: 'j1',
  model: 'm',
  uri: 'huggingface://me/r/m.gguf',
  target: 'm.gguf',
  state: 'downloading',
  error: null,
  notice: null,
  totalBytes: 100,
  receivedBytes: 40,
  bytesPerSec: 10,
  etaSeconds: 6,
  sha256: { expected: null, source: null, actual: null },
  unverified: false,
  ...over,
});

describe("a model's download on its row", () => {
  it('sums the parts of a split model; running wins over paused; done alone is no download', () => {
    const d = modelDownload({ a: job({ id: 'a' }), b: job({ id: 'b', state: 'paused', receivedBytes: 10 }), c: job({ id: 'c', model: 'other' }) }, 'm');
    expect(d).toMatchObject({ state: 'running', receivedBytes: 50, totalBytes: 200 });
    expect(modelDownload({ a: job({ state: 'done', receivedBytes: 100 }) }, 'm')).toBeNull();
    expect(modelDownload({ a: job({ state: 'failed', error: { code: 'upstream', message: 'x', retryable: true } }) }, 'm')!.state).toBe('failed');
  });

  it('says what to do about a failure', () => {
    expect(adviceFor(job({ state: 'failed', error: { code: 'upstream_auth', message: 'gated', retryable: false } }))).toMatch(/hf_token/);
    expect(adviceFor(job({ state: 'paused', error: { code: 'disk_space', message: 'full', retryable: true } }))).toMatch(/Free some disk space/);
    expect(adviceFor(job({ state: 'failed', error: { code: 'checksum_mismatch', message: 'bad', retryable: true } }))).toMatch(/Retry downloads it again/);
    expect(adviceFor(job({}))).toBeNull();
  });
});
