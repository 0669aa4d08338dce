/**
 * V1, V2, V11, V16 with real processes on this GPU-less machine: `gpu: auto` (the default) still
 * loads on the CPU, the row says so with node-llama-cpp's reason, the detection is kept for the
 * next run, whose backends then start on the CPU directly.
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { createCore, type Core } from '../src/main/core/createCore';
import { DETECTION_FILE } from '../src/main/core/gpu/detectionCache';
import { disposeAll, faultModel, startTestCore } from './harness';

afterEach(disposeAll);

/** V16: greedy text, the same whatever the gpu setting when the CPU runs it. */
async function greedy(core: Core): Promise<string> {
  let text = '';
  for await (const c of core.commands.complete('tiny', { prompt: 'Once upon a time', max_tokens: 24, temperature: 0, seed: 3 })) text += c.text;
  return text;
}

const NO_GPU = /^runs on the CPU: no GPU found \(node-llama-cpp finds no CUDA, Vulkan or Metal driver on this machine\)$/;

describe('V1/V2 gpu: auto without a GPU', () => {
  it('loads on the CPU, says why on the row and in /api/state, and the next run starts its backend on the CPU', async () => {
    const t = await startTestCore({ ggufs: { tiny: 7 } });
    expect(t.core.commands.settings().gpu).toBe('auto');
    const row = await t.core.commands.load('tiny');
    expect(row.state).toBe('ready');
    expect(row.placement).toMatchObject({ device: 'cpu', gpuLayers: 0, totalLayers: 3, note: expect.stringMatching(NO_GPU) });
    expect(row.memory.vramEstimateBytes).toBe(0);
    const state = t.core.commands.snapshot();
    expect(state.gpus).toEqual([]);
    expect(state.models.find((m) => m.name === 'tiny')?.placement?.note).toMatch(NO_GPU);
    const kept = JSON.parse(readFileSync(join(t.dataDir, DETECTION_FILE), 'utf8')) as { detection: { gpu: unknown; fallbackReason: string } };
    expect(kept.detection).toMatchObject({ gpu: false, fallbackReason: expect.stringMatching(/^no GPU found/) });
    // Its backend was asked for auto and fell back (its log says so).
    expect(t.core.commands.logs('tiny').map((l) => l.text).join('\n')).toMatch(/getLlama .*gpu none: no GPU found/);
    const onAuto = await greedy(t.core);
    expect(onAuto.length).toBeGreaterThan(0);
    await t.core.dispose();

    // The next run on the same data folder: the kept detection, a backend started with gpu cpu.
    const again = await createCore({ dataDir: t.dataDir, overrides: { models_dir: t.modelsDir, warm_standby: false }, demoModel: false, cores: 2 });
    try {
      await again.commands.clearLogs('tiny');
      const second = await again.commands.load('tiny');
      expect(second.placement).toMatchObject({ device: 'cpu', gpuLayers: 0, note: expect.stringMatching(NO_GPU) });
      const log = again.commands.logs('tiny').map((l) => l.text).join('\n');
      expect(log).toMatch(/getLlama .*gpu none\)/);
      expect(log).not.toMatch(/no GPU found \(node-llama-cpp/);
      expect(await greedy(again)).toBe(onAuto);
    } finally {
      await again.dispose();
    }
  }, 120_000);
});

describe('V13 config keys the built-in backend cannot honour', () => {
  it('shows them as warnings on the row, and the model still loads', async () => {
    const yaml = ['name: split', 'backend: llama-cpp', 'parameters:', '  model: tiny.gguf', 'tensor_split: "3,1"', 'main_gpu: "1"', 'mmap: false'].join('\n');
    const t = await startTestCore({ ggufs: { tiny: 7 }, configs: { 'split.yaml': `${yaml}\n`, 'ext.yaml': faultModel('ext', { extra: 'tensor_split: "3,1"' }) } });
    const warnings = (name: string) => t.core.commands.snapshot().models.find((m) => m.name === name)?.warnings;
    const expected = [
      'main_gpu is not used by the built-in backend (node-llama-cpp chooses the GPU); external backends get it.',
      'tensor_split is not used by the built-in backend (node-llama-cpp splits layers across GPUs itself); external backends get it.',
    ];
    expect(warnings('split')).toEqual(expected);
    // An external backend gets the key (test/loader.test.ts): nothing to warn about.
    expect(warnings('ext')).toEqual([]);
    const row = await t.core.commands.load('split');
    expect(row.state).toBe('ready');
    expect(row.warnings).toEqual(expected);
  }, 60_000);
});
