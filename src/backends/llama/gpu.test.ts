/**
 * The built-in backend's GPU choice: the GPU paths with an injected node-llama-cpp (this machine
 * has no GPU), and the real CPU fallback of `gpu: auto` against `gpu: cpu` (V1, V16).
 */
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as NodeLlamaCpp from 'node-llama-cpp';
import { afterAll, describe, expect, it } from 'vitest';
import { makeModel } from '../../main/core/gguf/makeModel';
import type { Reply__Output as Reply, Result__Output as Result, StatusResponse__Output as StatusResponse } from '../../wire';
import { GPU_ENV, gpuFromEnv, openLlama } from './runtime';
import { loadOptions, startBackend, text, unary, type Backend } from './testBackend';

type GpuType = NodeLlamaCpp.LlamaGpuType;

/** A node-llama-cpp whose getLlama yields `works` for the types that load, and throws like the real one for the others. */
function fakeModule(works: GpuType[], supported: GpuType[] = works) {
  const calls: unknown[] = [];
  const mod = {
    getLlama: async (o: NodeLlamaCpp.LlamaOptions) => {
      calls.push(o.gpu);
      const wanted = o.gpu === 'auto' ? (works.find((t) => t !== false) ?? false) : (o.gpu as GpuType);
      if (wanted !== false && !works.includes(wanted)) {
        const e = new Error('NoBinaryFoundError');
        e.name = 'NoBinaryFoundError';
        throw e;
      }
      return { gpu: wanted } as NodeLlamaCpp.Llama;
    },
    getLlamaGpuTypes: async () => [...supported, false as const],
  } as unknown as Pick<typeof NodeLlamaCpp, 'getLlama' | 'getLlamaGpuTypes'>;
  return { mod, calls };
}

describe('V1 GPU choice with CPU fallback (injected node-llama-cpp)', () => {
  it.each<[string, 'auto' | 'cpu' | 'cuda' | 'vulkan', GpuType[], GpuType[], GpuType, RegExp | null, unknown[]]>([
    ['cpu never asks for a GPU', 'cpu', ['cuda'], ['cuda'], false, null, [false]],
    ['auto on a CUDA machine', 'auto', ['cuda'], ['cuda'], 'cuda', null, ['auto']],
    ['vulkan asked and working', 'vulkan', ['vulkan'], ['vulkan'], 'vulkan', null, ['vulkan']],
    ['auto without a GPU', 'auto', [], [], false, /^no GPU found/, ['auto']],
    ['auto with a driver whose binary fails its self-test', 'auto', [], ['cuda'], false, /cuda binary did not pass node-llama-cpp's self-test/, ['auto']],
    ['cuda asked, none here: CPU, saying why', 'cuda', [], [], false, /^cuda could not be used: no working cuda binary/, ['cuda', false]],
  ])('%s', async (_what, gpu, works, supported, used, reason, calls) => {
    const fake = fakeModule(works, supported);
    const { llama, outcome } = await openLlama(fake.mod, gpu, {});
    expect(llama.gpu).toBe(used);
    expect(outcome.used).toBe(used);
    expect(outcome.requested).toBe(gpu);
    if (reason) expect(outcome.fallbackReason).toMatch(reason);
    else expect(outcome.fallbackReason).toBeNull();
    expect(fake.calls).toEqual(calls);
  });

  it.each([
    [undefined, 'cpu'],
    ['auto', 'auto'],
    [' CUDA ', 'cuda'],
    ['opencl', 'cpu'],
  ])('the core’s %j in the environment means %s', (value, gpu) => {
    expect(gpuFromEnv(value === undefined ? {} : { [GPU_ENV]: value })).toBe(gpu);
  });
});

describe('V16 gpu: auto falling back to the CPU gives the same tokens as gpu: cpu (real backends)', () => {
  const dir = mkdtempSync(join(tmpdir(), 'llama-gpu-'));
  const backends: Backend[] = [];
  afterAll(async () => {
    await Promise.all(backends.map((b) => b.kill()));
    rmSync(dir, { recursive: true, force: true });
  });

  it('V1/V16: same text at temperature 0; the auto backend says it runs on the CPU and why', async () => {
    const [{ path: file }, auto, cpu] = await Promise.all([
      makeModel(join(dir, 'tiny.gguf'), { preset: 'tiny', seed: 5 }),
      startBackend(30_000, { ...process.env, [GPU_ENV]: 'auto' }),
      startBackend(30_000, { ...process.env, [GPU_ENV]: 'cpu' }),
    ]);
    backends.push(auto, cpu);
    // The real core sends an explicit count; a GPU count must not matter without a GPU.
    const opts = loadOptions(file, { NGPULayers: 99999999 });
    const [loadedAuto, loadedCpu] = await Promise.all([unary<Result>(auto.client, 'LoadModel', opts), unary<Result>(cpu.client, 'LoadModel', opts)]);
    expect(loadedAuto, loadedAuto.message).toMatchObject({ success: true });
    expect(loadedCpu, loadedCpu.message).toMatchObject({ success: true });
    expect(loadedAuto.message).toMatch(/, CPU\)\. Runs on the CPU: no GPU found/);
    expect(loadedCpu.message).toMatch(/, CPU\)\.$/);

    const req = { Prompt: 'the little cat went down the river', Tokens: 32, Temperature: 0, Seed: 3 };
    const [a, c] = await Promise.all([unary<Reply>(auto.client, 'Predict', req), unary<Reply>(cpu.client, 'Predict', req)]);
    expect(text(a).length).toBeGreaterThan(20);
    expect(text(a)).toBe(text(c));

    const status = await unary<StatusResponse>(auto.client, 'Status', {});
    expect(status.memory?.breakdown).toMatchObject({ gpu_layers: 0, total_layers: 3, vram: 0 });
  }, 90_000);
});
