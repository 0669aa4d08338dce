/** Table tests for the layer decision, VRAM admission and the VRAM reclaimer, on fake devices (V5-V10). */
import { describe, expect, it } from 'vitest';
import { decideAdmission, type PolicyModel } from '../loader/policy';
import type { ModelEstimate } from './estimate';
import { decideLayers, placementLabel, type GpuDevice, type LayerRequest } from './placement';
import { decideVramAdmission, decideVramPressure, type VramAdmission, type VramModel } from './vramPolicy';

const MiB = 1024 ** 2;
const GiB = 1024 ** 3;

/** 32 blocks of 100 MiB and a 200 MiB output layer: k <= 32 layers need k x 100 MiB, all 33 need 3400 MiB. */
const estimate: ModelEstimate = {
  totalLayers: 33,
  blockCount: 32,
  layerBytes: new Array(32).fill(100 * MiB),
  bytesPerLayer: 100 * MiB,
  outputBytes: 200 * MiB,
  fixedBytes: 250 * MiB,
  kvBytesPerLayer: 0,
  computeBytes: 0,
  contextSize: 4096,
  weightsBytes: 32 * 100 * MiB + 450 * MiB,
};
const target = (over: Partial<LayerRequest> = {}): LayerRequest => ({ name: 'T', estimate, baseBytes: 0, ...over });
const cuda = (over: Partial<GpuDevice> = {}): GpuDevice => ({ type: 'cuda', names: ['RTX 4070'], totalBytes: 8 * GiB, freeBytes: 8 * GiB, usedByLoadoutBytes: 0, unified: false, ...over });
const limits = { vram_budget: 0, vram_reserve: 1 * GiB };

describe('V6/V9 layer decision', () => {
  const cases: { what: string; req: LayerRequest; gpu?: 'auto' | 'cpu' | 'cuda' | 'vulkan'; device?: GpuDevice | null; lim?: typeof limits; label: string; vram: number; reason: RegExp }[] = [
    { what: 'auto, room for all', req: target(), label: 'GPU 33/33', vram: 3400 * MiB, reason: /loads all 33 layers on the GPU/ },
    { what: 'auto, partial offload', req: target(), device: cuda({ freeBytes: 3 * GiB }), label: 'GPU 20/33', vram: 2000 * MiB, reason: /^loads 20 of 33 layers on the GPU: 2\.0 GB VRAM free$/ },
    { what: 'auto, not one layer fits', req: target(), device: cuda({ freeBytes: 1 * GiB + 50 * MiB }), label: 'CPU', vram: 0, reason: /runs on the CPU: not enough VRAM for one layer/ },
    { what: 'gpu_layers -1 is auto', req: target({ gpuLayers: -1 }), label: 'GPU 33/33', vram: 3400 * MiB, reason: /all 33/ },
    { what: 'gpu_layers 0', req: target({ gpuLayers: 0 }), label: 'CPU', vram: 0, reason: /gpu_layers is 0/ },
    { what: 'gpu: cpu', req: target(), gpu: 'cpu', label: 'CPU', vram: 0, reason: /gpu setting is cpu/ },
    { what: 'no GPU', req: target(), device: null, label: 'CPU', vram: 0, reason: /no GPU was found/ },
    { what: 'gpu: vulkan on a CUDA-only machine', req: target(), gpu: 'vulkan', label: 'CPU', vram: 0, reason: /gpu setting is vulkan but no VULKAN device/ },
    { what: 'explicit count that fits', req: target({ gpuLayers: 10 }), label: 'GPU 10/33', vram: 1000 * MiB, reason: /gpu_layers 10/ },
    { what: 'explicit count above the total', req: target({ gpuLayers: 99 }), label: 'GPU 33/33', vram: 3400 * MiB, reason: /33 of 33/ },
    { what: 'vram_budget caps it', req: target(), lim: { vram_budget: 1 * GiB, vram_reserve: 1 * GiB }, label: 'GPU 10/33', vram: 1000 * MiB, reason: /10 of 33/ },
    { what: 'Loadout’s other use counts against the budget', req: target(), device: cuda({ usedByLoadoutBytes: 512 * MiB, freeBytes: 7.5 * GiB }), lim: { vram_budget: 1 * GiB, vram_reserve: 1 * GiB }, label: 'GPU 5/33', vram: 500 * MiB, reason: /5 of 33/ },
  ];
  it.each(cases)('$what', ({ req, gpu, device, lim, label, vram, reason }) => {
    const devices = device === null ? [] : [device ?? cuda()];
    const d = decideLayers(req, gpu ?? 'auto', devices, lim ?? limits);
    if (!d.ok) throw new Error(d.message);
    expect(placementLabel(d.placement)).toBe(label);
    expect(d.vramNeedBytes).toBe(vram);
    expect(d.reason).toMatch(reason);
  });

  it('V8: the CPU layers of a partly offloaded model are its RAM need', () => {
    const d = decideLayers(target(), 'auto', [cuda({ freeBytes: 3 * GiB })], limits);
    if (!d.ok) throw new Error(d.message);
    // 12 blocks stay on the CPU, with the output layer and the token embedding.
    expect(d.ramNeedBytes).toBe(250 * MiB + 12 * 100 * MiB + 200 * MiB);
  });

  it('an explicit gpu_layers that does not fit is a memory error naming need, budget and free', () => {
    const d = decideLayers(target({ gpuLayers: 33 }), 'auto', [cuda({ freeBytes: 3 * GiB })], limits);
    expect(d).toEqual({
      ok: false,
      code: 'memory',
      message: expect.stringMatching(/^T does not fit in VRAM with gpu_layers 33: needs 3\.3 GB, VRAM budget 7\.0 GB, free 3\.0 GB .*Lower gpu_layers/),
    });
  });
});

const model = (name: string, over: Partial<PolicyModel & VramModel> = {}): PolicyModel & VramModel => ({
  name,
  state: 'ready',
  groups: [],
  pinned: false,
  inFlight: 0,
  lastUsed: 1,
  remote: false,
  address: null,
  memoryBytes: 0,
  vramBytes: 2 * GiB,
  ...over,
});

function admit(models: VramModel[], device: GpuDevice, over: Partial<Parameters<typeof decideVramAdmission>[0]> = {}): VramAdmission {
  return decideVramAdmission({ models, target: target(), gpu: 'auto', devices: [device], limits: { ...limits, eviction_wait: 30 }, leaving: new Set(), standbyVramBytes: 0, ...over });
}
const ok = (a: VramAdmission) => {
  if (a.kind !== 'admit') throw new Error(a.message);
  return a;
};

describe('V5/V7 VRAM admission', () => {
  // A and B hold 2 GiB each; with nothing else, the room is min(7 - 4, 4 - 1) = 3 GiB < 3400 MiB.
  const full = cuda({ usedByLoadoutBytes: 4 * GiB, freeBytes: 4 * GiB });

  it('fits as it is: nothing unloaded', () => {
    const a = ok(admit([model('A')], cuda({ usedByLoadoutBytes: 2 * GiB, freeBytes: 6 * GiB })));
    expect(a.unloads).toEqual([]);
    expect(placementLabel(a.layers.placement)).toBe('GPU 33/33');
  });

  it('unloads the least recently used idle GPU model, and says so in VRAM', () => {
    const a = ok(admit([model('A', { lastUsed: 5 }), model('B', { lastUsed: 2 }), model('C', { lastUsed: 1, vramBytes: 0 })], full));
    expect(a.unloads).toEqual([{ name: 'B', reason: 'memory', sentence: 'unloaded B: to free 2.0 GB of VRAM for T' }]);
    expect(placementLabel(a.layers.placement)).toBe('GPU 33/33');
  });

  it('groups first: a model already leaving for a group conflict frees its VRAM, so no LRU unload', () => {
    const models = [model('G', { groups: ['gpu-heavy'], lastUsed: 9 }), model('B', { lastUsed: 2 })];
    const policy = decideAdmission(models, { name: 'T', groups: ['gpu-heavy'], remote: false, address: null, needBytes: 0 }, { max_active_models: 0, memory_budget: 0, eviction_wait: 30 });
    expect(policy.kind).toBe('make_room');
    const leaving = new Set(policy.kind === 'make_room' ? policy.unloads.map((u) => u.name) : []);
    const a = ok(admit(models, full, { leaving }));
    expect(a.unloads).toEqual([]);
    expect(placementLabel(a.layers.placement)).toBe('GPU 33/33');
  });

  it('the warm standby goes before any model', () => {
    // Loadout: A 2 GiB + standby 0.5 GiB; other programs 1.2 GiB. Room 3.3 GiB, 3.8 GiB without the standby.
    const device = cuda({ usedByLoadoutBytes: 2.5 * GiB, freeBytes: 8 * GiB - 3.7 * GiB });
    const a = ok(admit([model('A')], device, { standbyVramBytes: 0.5 * GiB }));
    expect(a.stopStandby).toBe(true);
    expect(a.unloads).toEqual([]);
  });

  it('pinned and busy models are never unloaded: auto-fit offloads what fits (V6)', () => {
    const a = ok(admit([model('A', { pinned: true }), model('B', { state: 'busy', inFlight: 1 })], full));
    expect(a.unloads).toEqual([]);
    expect(a.waitIdle).toEqual([]);
    expect(a.layers.reason).toBe('loads 30 of 33 layers on the GPU: 3.0 GB VRAM free');
  });

  it('auto-fit after every idle model is gone: partial offload with the unloads', () => {
    // Other programs hold 4 GiB: even with A gone the room is 4 - 1 = 3 GiB.
    const a = ok(admit([model('A')], cuda({ usedByLoadoutBytes: 2 * GiB, freeBytes: 2 * GiB })));
    expect(a.unloads.map((u) => u.name)).toEqual(['A']);
    expect(placementLabel(a.layers.placement)).toBe('GPU 30/33');
  });

  it('auto-fit that still ends on the CPU unloads nothing', () => {
    const a = ok(admit([model('A', { vramBytes: 50 * MiB })], cuda({ usedByLoadoutBytes: 50 * MiB, freeBytes: 1 * GiB })));
    expect(a.unloads).toEqual([]);
    expect(a.layers.placement.device).toBe('cpu');
  });

  it('an explicit gpu_layers waits for a busy GPU model, with a memory timeout', () => {
    const a = ok(admit([model('A', { pinned: true }), model('B', { state: 'busy', inFlight: 1 })], full, { target: target({ gpuLayers: 33 }) }));
    expect(a.waitIdle.map((w) => w.name)).toEqual(['B']);
    expect(a.timeout?.code).toBe('memory');
    expect(a.timeout?.message).toMatch(/busy B, still busy after waiting 30 s/);
  });

  it('an explicit gpu_layers that cannot fit past pinned models fails with memory (507)', () => {
    const a = admit([model('A', { pinned: true }), model('B', { pinned: true })], full, { target: target({ gpuLayers: 33 }) });
    expect(a).toMatchObject({ kind: 'fail', code: 'memory', message: expect.stringMatching(/needs 3\.3 GB, VRAM budget 7\.0 GB, free 4\.0 GB/) });
  });

  it.each([
    ['gpu_layers 0', { target: target({ gpuLayers: 0 }) }],
    ['gpu: cpu', { gpu: 'cpu' as const }],
  ])('V9: %s never evicts a GPU model', (_what, over) => {
    const a = ok(admit([model('A'), model('B')], cuda({ usedByLoadoutBytes: 4 * GiB, freeBytes: 0 }), { standbyVramBytes: GiB, ...over }));
    expect(a).toMatchObject({ unloads: [], waitIdle: [], stopStandby: false });
    expect(a.layers.vramNeedBytes).toBe(0);
  });
});

describe('V10 VRAM reclaimer', () => {
  // Loadout holds 4 GiB (A, B); 95% of 8 GiB is 7.6 GiB.
  const models = [model('A', { lastUsed: 1 }), model('B', { lastUsed: 2 })];
  const pressure = (othersGiB: number, over: Partial<Parameters<typeof decideVramPressure>[0]> = {}) =>
    decideVramPressure({ models, device: cuda({ usedByLoadoutBytes: 4 * GiB, freeBytes: (4 - othersGiB) * GiB }), threshold: 0.95, standbyVramBytes: 0, ...over });

  it('under the threshold: nothing', () => {
    expect(pressure(3)).toEqual({ stopStandby: false, unloads: [] });
  });

  it('another program pushes VRAM over the threshold: the least recently used idle model goes', () => {
    expect(pressure(3.9)).toEqual({
      stopStandby: false,
      unloads: [{ name: 'A', reason: 'vram_pressure', sentence: 'unloaded A: VRAM is running low (another program uses 3.9 GB of VRAM; 99% in use, threshold 95%)' }],
    });
  });

  it('the standby goes first, and may be enough', () => {
    expect(pressure(3.8, { standbyVramBytes: 0.5 * GiB })).toEqual({ stopStandby: true, unloads: [] });
  });

  it('pinned and busy models stay', () => {
    const r = pressure(4, { models: [model('A', { pinned: true }), model('B', { state: 'busy', inFlight: 2 }), model('C', { lastUsed: 9, vramBytes: 0.1 * GiB })] });
    expect(r.unloads.map((u) => u.name)).toEqual(['C']);
  });

  it('names the program class only when told', () => {
    expect(pressure(3.9, { cause: 'a game' }).unloads[0].sentence).toMatch(/a game uses/);
  });

  it('Loadout’s own use over the threshold is not pressure', () => {
    const r = decideVramPressure({ models, device: cuda({ usedByLoadoutBytes: 7.9 * GiB, freeBytes: 0.1 * GiB }), threshold: 0.95, standbyVramBytes: 0 });
    expect(r.unloads).toEqual([]);
  });
});
