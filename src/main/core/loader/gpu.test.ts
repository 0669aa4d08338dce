/**
 * The GPU policy through the loader (V2, V4-V11): a real Loader over fake built-in backends that
 * report a fake GPU in their Status as the real one does (StatusResponse.gpu, the `--probe`
 * JSON), with VRAM that follows the layers LoadModel asks for, on a FakeClock.
 */
import { describe, expect, it } from 'vitest';
import type { JournalEntry } from '../../../shared/model';
import type { ModelEstimate } from '../gpu/estimate';
import { vramForLayers } from '../gpu/estimate';
import { FakeGpu, type FakeBehaviour } from './fakeLauncher';
import { MiB, drain, loaderHarness, settle } from './loaderHarness';

const GiB = 1024 ** 3;
/** The backend's per-process base on the fake GPU: the loader's CUDA allowance, so estimate and use agree. */
const BASE = 320 * MiB;

/** `blocks` blocks of 100 MiB and a 200 MiB output layer (no KV cache or compute buffer). */
function layout(blocks: number): ModelEstimate {
  return {
    totalLayers: blocks + 1,
    blockCount: blocks,
    layerBytes: new Array(blocks).fill(100 * MiB),
    bytesPerLayer: 100 * MiB,
    outputBytes: 200 * MiB,
    fixedBytes: 250 * MiB,
    kvBytesPerLayer: 0,
    computeBytes: 0,
    contextSize: 4096,
    weightsBytes: blocks * 100 * MiB + 450 * MiB,
  };
}
const BIG = layout(32); // all 33 layers: 3400 MiB + base = 3720 MiB
const SMALL = layout(16); // all 17 layers: 1800 MiB + base = 2120 MiB

/** A fake built-in backend on `gpu` whose model takes what the layout says (times `factor`: the measured figure). */
function onGpu(gpu: FakeGpu, est: ModelEstimate, factor = 1, extra: FakeBehaviour = {}): FakeBehaviour {
  return { gpu, totalLayers: est.totalLayers, vramForLayers: (k) => Math.round(factor * vramForLayers(est, k, { deviceType: 'cuda', baseBytes: 0 })), ...extra };
}

type Models = Parameters<typeof loaderHarness>[0]['models'];

function gpuHarness(o: { gpu: FakeGpu; models: Models; layouts: Record<string, ModelEstimate>; settings?: Parameters<typeof loaderHarness>[0]['settings']; behaviour?: Record<string, FakeBehaviour>; standby?: { vramBytes(): number; drop(): Promise<void> } }) {
  const behaviour: Record<string, FakeBehaviour> = {};
  for (const [name, est] of Object.entries(o.layouts)) behaviour[name] = onGpu(o.gpu, est, 1, o.behaviour?.[name]);
  return loaderHarness({ models: o.models, builtin: true, settings: o.settings, behaviour, gpu: { estimates: o.layouts, standby: o.standby } });
}

async function load(h: ReturnType<typeof loaderHarness>, name: string) {
  const l = settle(h.loader.load(name));
  await h.advance(2_000);
  if (l.error()) throw l.error();
  expect(l.value()?.state).toBe('ready');
  return h.loader.rowOf(name);
}

const journalOf = (h: ReturnType<typeof loaderHarness>): JournalEntry[] => h.journal.list(undefined);

describe('V6 layers decided by the core and sent explicitly', () => {
  it('a model that fits loads every layer on the GPU; the row, its VRAM and the devices say so', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: {} }, layouts: { a: BIG } });
    const row = await load(h, 'a');
    expect(h.launcher.hosts[0].gpuLayers).toBe(33);
    expect(row.placement).toMatchObject({ device: 'cuda', gpuLayers: 33, totalLayers: 33, note: null });
    expect(row.memory.vramEstimateBytes).toBe(3720 * MiB);
    expect(row.memory.vramBytes).toBe(3400 * MiB);
    const [device] = h.loader.snapshot().gpus!;
    expect(device).toMatchObject({ type: 'cuda', names: ['Fake GPU'], totalBytes: 8 * GiB, usedByLoadoutBytes: 3720 * MiB });
    expect(h.events.some((e) => e.type === 'gpus' && e.gpus[0]?.usedByLoadoutBytes === 3720 * MiB)).toBe(true);
  });

  it('V6: a model that cannot fit even after evictions loads partly on the GPU when gpu_layers is auto, and the plan says how many', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: { pinned: true }, b: {} }, layouts: { a: BIG, b: BIG } });
    await load(h, 'a');
    h.loader.plan('b'); // reads b's layout
    await h.flush();
    const plan = h.loader.plan('b');
    expect(plan).toMatchObject({ ok: true, unloads: [] });
    expect(plan.gpu).toMatchObject({ placement: { device: 'cuda', gpuLayers: 31, totalLayers: 33 }, sentence: 'loads 31 of 33 layers on the GPU: 3.4 GB VRAM free' });
    const row = await load(h, 'b');
    expect(h.launcher.hosts[1].gpuLayers).toBe(31);
    expect(row.placement).toMatchObject({ device: 'cuda', gpuLayers: 31, totalLayers: 33, note: 'loads 31 of 33 layers on the GPU: 3.4 GB VRAM free' });
    expect(h.state('a')).toBe('ready');
  });

  it('V6: an explicit gpu_layers that does not fit fails with memory (507) naming need, budget and free VRAM', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: { pinned: true }, b: { gpu_layers: 33 } }, layouts: { a: BIG, b: BIG } });
    await load(h, 'a');
    h.loader.plan('b');
    await h.flush();
    expect(h.loader.plan('b')).toMatchObject({ ok: false, failure: { code: 'memory', message: expect.stringContaining('needs 3.6 GB, VRAM budget 7.0 GB, free') } });
    const l = settle(h.loader.load('b'));
    await h.advance(2_000);
    expect(l.error()?.code).toBe('memory');
    expect(l.error()?.message).toMatch(/^b does not fit in VRAM with gpu_layers 33: needs 3\.6 GB, VRAM budget 7\.0 GB, free .* Lower gpu_layers/);
    expect(h.loader.rowOf('b').failure?.code).toBe('memory');
    expect(h.launcher.hosts[1].calls).not.toContain('LoadModel');
    expect(h.launcher.live().map((x) => x.model)).toEqual(['a']);
  });
});

describe('V5/V7 VRAM admission through the loader', () => {
  it('the least recently used idle GPU model is unloaded for VRAM; plan and journal name the VRAM', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: {}, b: {}, c: {} }, layouts: { a: SMALL, b: SMALL, c: BIG } });
    await load(h, 'a');
    await load(h, 'b');
    // Layouts were read once the GPU was known: the first plan already has the VRAM lines.
    const plan = h.loader.plan('c');
    expect(plan.unloads).toEqual([{ name: 'a', reason: 'memory', sentence: 'unloaded a: to free 2.1 GB of VRAM for c' }]);
    expect(plan.gpu?.placement.gpuLayers).toBe(33);
    const row = await load(h, 'c');
    expect(row.placement?.gpuLayers).toBe(33);
    expect(h.state('a')).toBe('unloaded');
    expect(h.state('b')).toBe('ready');
    expect(journalOf(h).map((e) => [e.model, e.reason, e.sentence, e.by])).toEqual([['a', 'memory', 'unloaded a: to free 2.1 GB of VRAM for c', 'c']]);
  });

  it('group conflicts go first: the LRU GPU model stays when the group unload already makes room', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: {}, b: { concurrency_groups: ['heavy'] }, c: { concurrency_groups: ['heavy'] } }, layouts: { a: SMALL, b: SMALL, c: BIG } });
    await load(h, 'a');
    await load(h, 'b');
    const row = await load(h, 'c');
    expect(row.placement?.gpuLayers).toBe(33);
    expect(h.state('a')).toBe('ready');
    expect(journalOf(h).map((e) => [e.model, e.reason])).toEqual([['b', 'group']]);
  });

  it('a busy GPU model is never unloaded: an auto-fit load goes on at once with the layers that fit', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: {}, b: {} }, layouts: { a: BIG, b: BIG }, behaviour: { a: { tokens: 1_000, tokenMs: 100 } } });
    await load(h, 'a');
    const answer = drain(h.loader.stream('a', { Prompt: 'hi' }));
    await h.advance(200);
    expect(h.state('a')).toBe('busy');
    const row = await load(h, 'b');
    expect(row.placement?.gpuLayers).toBe(31);
    expect(h.state('a')).toBe('busy');
    expect(answer.done()).toBe(false);
  });

  it('the warm standby counts as GPU use and goes first', async () => {
    let standby = 500 * MiB;
    const gpu = new FakeGpu('cuda', 7 * GiB, standby, BASE);
    const drop = async () => {
      gpu.otherBytes -= standby;
      standby = 0;
    };
    const h = gpuHarness({ gpu, models: { a: {}, b: {} }, layouts: { a: SMALL, b: BIG }, standby: { vramBytes: () => standby, drop } });
    await load(h, 'a');
    h.loader.plan('b');
    await h.flush();
    expect(h.loader.plan('b').gpu?.sentence).toMatch(/^stops the warm standby backend to free its VRAM, then loads all 33 layers/);
    const row = await load(h, 'b');
    expect(standby).toBe(0);
    expect(row.placement?.gpuLayers).toBe(33);
    expect(h.state('a')).toBe('ready');
  });
});

describe('V9 CPU-only models stay off the GPU', () => {
  it('gpu_layers 0 loads on the CPU without unloading a GPU model, however full the GPU is', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 4 * GiB, BASE);
    const h = gpuHarness({ gpu, models: { a: {}, c: { gpu_layers: 0 } }, layouts: { a: BIG, c: BIG } });
    await load(h, 'a');
    const row = await load(h, 'c');
    expect(h.launcher.hosts[1].gpuLayers).toBe(0);
    expect(row.placement).toEqual({ device: 'cpu', gpuLayers: 0, totalLayers: 33, note: 'runs on the CPU: gpu_layers is 0 in its config' });
    expect(row.memory.vramEstimateBytes).toBe(0);
    expect(h.state('a')).toBe('ready');
    expect(journalOf(h)).toEqual([]);
  });

  it('gpu: cpu starts the backend on the CPU and never asks it for the GPU before loading', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: {} }, layouts: { a: BIG }, settings: { gpu: 'cpu' } });
    const row = await load(h, 'a');
    expect(h.launcher.envs[0]).toMatchObject({ LOADOUT_GPU: 'cpu' });
    const host = h.launcher.hosts[0];
    expect(host.calls.slice(0, host.calls.indexOf('LoadModel'))).not.toContain('Status');
    expect(host.gpuLayers).toBe(0);
    expect(row.placement).toMatchObject({ device: 'cpu', gpuLayers: 0, note: 'runs on the CPU: the gpu setting is cpu' });
    expect(h.cacheWrites).toEqual([]);
    expect(h.loader.snapshot().gpus).toEqual([]);
  });
});

describe('V14 a model loaded while the CUDA pack is on its way', () => {
  it('runs on what there is, and its row says to load it again once the pack is in; loads after that say nothing', async () => {
    const gpu = new FakeGpu('vulkan', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: {}, c: { gpu_layers: 0 } }, layouts: { a: SMALL, c: SMALL } });
    h.monitor.setRuntimeArriving('cuda');
    const row = await load(h, 'a');
    expect(row.placement).toMatchObject({ device: 'vulkan', gpuLayers: 17, note: 'loaded while the cuda runtime was being fetched: unload and load it again once that is installed to run on cuda' });
    // A CPU-only model would not move to CUDA: no hint.
    expect((await load(h, 'c')).placement?.note).toBe('runs on the CPU: gpu_layers is 0 in its config');

    h.monitor.setRuntimeArriving(null);
    const unloading = settle(h.loader.unload('a'));
    await h.advance(5_000);
    expect(unloading.done()).toBe(true);
    expect((await load(h, 'a')).placement?.note).toBeNull();
  });
});

describe('V2/V1 detection learned from the first backend, once', () => {
  it('with a GPU: the first backend starts on auto, later ones on the type it found', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: {}, b: {} }, layouts: { a: SMALL, b: SMALL } });
    await load(h, 'a');
    await load(h, 'b');
    expect(h.launcher.envs.map((e) => e?.LOADOUT_GPU)).toEqual(['auto', 'cuda']);
    expect(h.cacheWrites).toMatchObject([{ gpu: 'cuda', deviceNames: ['Fake GPU'], totalBytes: 8 * GiB, fallbackReason: null }]);
  });

  it('without a GPU: the row says CPU with the reason, and the next backend starts on the CPU without asking', async () => {
    const gpu = new FakeGpu(null, 0);
    const h = gpuHarness({ gpu, models: { a: {}, b: {} }, layouts: { a: SMALL, b: SMALL } });
    const row = await load(h, 'a');
    expect(row.placement).toEqual({ device: 'cpu', gpuLayers: 0, totalLayers: 17, note: 'runs on the CPU: no GPU found (node-llama-cpp finds no CUDA, Vulkan or Metal driver on this machine)' });
    expect(h.cacheWrites).toMatchObject([{ gpu: false, fallbackReason: expect.stringMatching(/^no GPU found/) }]);
    await load(h, 'b');
    expect(h.launcher.envs.map((e) => e?.LOADOUT_GPU)).toEqual(['auto', 'cpu']);
    const host = h.launcher.hosts[1];
    expect(host.calls.slice(0, host.calls.indexOf('LoadModel'))).not.toContain('Status');
    expect(h.loader.snapshot().gpus).toEqual([]);
  });

  it('a detection kept by an earlier run is used from the first load', async () => {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = loaderHarness({
      models: { a: {} },
      builtin: true,
      behaviour: { a: onGpu(gpu, SMALL) },
      gpu: { estimates: { a: SMALL }, cached: { gpu: 'cuda', deviceNames: ['Fake GPU'], totalBytes: 8 * GiB, unified: false, fallbackReason: null, detectedAt: 1 } },
    });
    expect(h.loader.snapshot().gpus).toMatchObject([{ type: 'cuda', totalBytes: 8 * GiB, freeBytes: 8 * GiB }]);
    await load(h, 'a');
    expect(h.launcher.envs[0]?.LOADOUT_GPU).toBe('cuda');
    expect(h.cacheWrites).toEqual([]);
  });
});

describe('V4 measured VRAM', () => {
  it('the next load of the same model and settings counts on what the last one measured', async () => {
    const gpu = new FakeGpu('cuda', 16 * GiB, 0, BASE);
    const h = loaderHarness({ models: { a: {} }, builtin: true, behaviour: { a: onGpu(gpu, BIG, 1.25) }, gpu: { estimates: { a: BIG } } });
    let row = await load(h, 'a');
    expect(row.memory).toMatchObject({ vramEstimateBytes: 3720 * MiB, vramBytes: 4250 * MiB });
    const gone = settle(h.loader.unload('a'));
    await h.advance(1_000);
    expect(gone.done()).toBe(true);
    row = await load(h, 'a');
    expect(row.memory).toMatchObject({ vramEstimateBytes: BASE + 4250 * MiB, vramBytes: 4250 * MiB });
  });
});

describe('V10 the VRAM reclaimer', () => {
  async function pressured(o: { reclaimer: boolean; pinned?: boolean }) {
    const gpu = new FakeGpu('cuda', 8 * GiB, 0, BASE);
    const h = gpuHarness({ gpu, models: { a: { pinned: o.pinned }, b: {} }, layouts: { a: SMALL, b: SMALL }, settings: { vram_reclaimer: o.reclaimer } });
    await load(h, 'a');
    await load(h, 'b');
    // Another program takes 3.8 GB: 99% of VRAM in use, over the 95% threshold.
    gpu.otherBytes = 3.8 * GiB;
    await h.advance(5_100);
    return h;
  }

  it('unloads idle GPU models least recently used first, journal reason vram_pressure, within one 5 s refresh', async () => {
    const h = await pressured({ reclaimer: true });
    expect(h.state('a')).toBe('unloaded');
    expect(h.state('b')).toBe('ready');
    const [entry] = journalOf(h);
    expect(entry).toMatchObject({ model: 'a', reason: 'vram_pressure' });
    expect(entry.sentence).toMatch(/^unloaded a: VRAM is running low \(another program uses 3\.8 GB of VRAM; 99% in use, threshold 95%\)$/);
    expect(h.loader.snapshot().gpus![0].freeBytes).toBeLessThan(0.05 * 8 * GiB);
  });

  it('pinned models stay (the next least recently used goes)', async () => {
    const h = await pressured({ reclaimer: true, pinned: true });
    expect(h.state('a')).toBe('ready');
    expect(h.state('b')).toBe('unloaded');
  });

  it('off (the default), nothing is unloaded', async () => {
    const h = await pressured({ reclaimer: false });
    expect([h.state('a'), h.state('b')]).toEqual(['ready', 'ready']);
    expect(journalOf(h)).toEqual([]);
  });
});
