import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { makeModel, MODEL_PRESETS } from '../gguf/makeModel';
import { readGgufHeader, type GgufHeader } from '../gguf/readGguf';
import { estimateModel, PROCESS_BASE_BYTES, ramForLayers, vramForLayers } from './estimate';

let dir: string;
beforeAll(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loadout-gpu-estimate-'));
});
afterAll(() => fs.rmSync(dir, { recursive: true, force: true }));

/** Each tensor's bytes as laid out in the file: the distance to the next tensor's data (or the end). */
function sizesOnDisk(header: GgufHeader): Map<string, number> {
  const sorted = [...header.tensors].sort((a, b) => a.offset - b.offset);
  const out = new Map<string, number>();
  sorted.forEach((t, i) => {
    const end = i + 1 < sorted.length ? sorted[i + 1].offset : header.fileSize - header.dataOffset;
    out.set(t.name, end - t.offset);
  });
  return out;
}

describe('V4 estimate from the GGUF header', () => {
  it.each(['tiny', 'small'] as const)('%s: layers, per-layer and fixed bytes match the file', async (preset) => {
    const { path: file } = await makeModel(path.join(dir, `${preset}.gguf`), { preset });
    const header = await readGgufHeader(file, { skipArraysUnder: 'tokenizer.ggml.' });
    const shape = MODEL_PRESETS[preset];
    const est = estimateModel(header, 1024);
    const disk = sizesOnDisk(header);
    const onDisk = (prefix: string) => [...disk].filter(([n]) => n.startsWith(prefix)).reduce((s, [, b]) => s + b, 0);

    expect(est.blockCount).toBe(shape.layers);
    expect(est.totalLayers).toBe(shape.layers + 1);
    for (let l = 0; l < shape.layers; l++) expect(est.layerBytes[l]).toBe(onDisk(`blk.${l}.`));
    expect(est.bytesPerLayer).toBe(onDisk('blk.0.'));
    expect(est.outputBytes).toBe(onDisk('output'));
    expect(est.fixedBytes).toBe(onDisk('token_embd'));
    // Every byte of tensor data is in exactly one of the parts.
    expect(est.weightsBytes).toBe(header.fileSize - header.dataOffset);
    expect(est.fixedBytes + est.outputBytes + est.layerBytes.reduce((a, b) => a + b, 0)).toBe(est.weightsBytes);
    // f16 K and V for every position of the context.
    const kvDim = (shape.embedding / shape.heads) * shape.kvHeads;
    expect(est.kvBytesPerLayer).toBe(2 * 1024 * kvDim * 2);
  });

  it('context 0 uses the model’s own context length', async () => {
    const { path: file } = await makeModel(path.join(dir, 'ctx.gguf'), { contextLength: 512 });
    const est = estimateModel(await readGgufHeader(file), 0);
    expect(est.contextSize).toBe(512);
  });

  it('VRAM and RAM split by layer count: nothing lost, nothing counted twice', async () => {
    const { path: file } = await makeModel(path.join(dir, 'split.gguf'), { preset: 'tiny' });
    const est = estimateModel(await readGgufHeader(file), 2048);
    const opts = { deviceType: 'cuda' as const };
    expect(vramForLayers(est, 0, opts)).toBe(0);
    // All on the GPU: RAM keeps only the token embedding.
    expect(ramForLayers(est, est.totalLayers)).toBe(est.fixedBytes);
    const full = vramForLayers(est, est.totalLayers, opts);
    expect(full).toBe(PROCESS_BASE_BYTES.cuda + est.computeBytes + est.weightsBytes - est.fixedBytes + est.kvBytesPerLayer * est.blockCount);
    // More layers never need less VRAM or more RAM.
    for (let k = 1; k <= est.totalLayers; k++) {
      expect(vramForLayers(est, k, opts)).toBeGreaterThan(vramForLayers(est, k - 1, opts));
      expect(ramForLayers(est, k)).toBeLessThan(ramForLayers(est, k - 1));
    }
    // Weights and KV are on one side or the other (the compute buffer and base are per side).
    for (let k = 1; k <= est.totalLayers; k++) {
      const gpuPart = vramForLayers(est, k, opts) - PROCESS_BASE_BYTES.cuda - est.computeBytes;
      expect(gpuPart + ramForLayers(est, k)).toBe(est.weightsBytes + est.kvBytesPerLayer * est.blockCount);
    }
    // no_kv_offloading keeps the cache in RAM.
    expect(vramForLayers(est, est.totalLayers, { ...opts, kvOffload: false })).toBe(full - est.kvBytesPerLayer * est.blockCount);
  });
});
