/**
 * V5, V7, V9: VRAM admission, and V10: the VRAM reclaimer, as pure functions of a snapshot.
 * The loader's policy (`decideAdmission`) decides group conflicts, the model cap and RAM; this
 * adds VRAM: with the models that decision already unloads counted as freed, the warm standby
 * goes first, then the least recently used idle GPU models, never pinned or busy ones.
 */
import type { ModelState, PlannedUnload } from '../../../shared/model';
import { decideLayers, formatVram, pickDevice, vramRoom, type GpuDevice, type GpuSetting, type LayerDecision, type LayerRequest, type VramLimits } from './placement';
import { vramForLayers } from './estimate';

/** The loader's PolicyModel fields this needs, plus the VRAM the model holds (0 on the CPU). */
export interface VramModel {
  name: string;
  state: ModelState;
  pinned: boolean;
  inFlight: number;
  lastUsed: number;
  remote: boolean;
  /** Measured VRAM when loaded, else the estimate of its placement; 0 for CPU models. */
  vramBytes: number;
}

export interface VramAdmissionInput {
  models: readonly VramModel[];
  target: LayerRequest;
  gpu: GpuSetting;
  devices: readonly GpuDevice[];
  limits: VramLimits & { eviction_wait: number };
  /** Models already leaving (the group, cap and RAM unloads of decideAdmission, stopping ones): their VRAM counts as freed. */
  leaving: ReadonlySet<string>;
  /** VRAM of the warm standby process (0 when none or on the CPU). */
  standbyVramBytes: number;
}

export type VramAdmission =
  | { kind: 'fail'; code: 'memory'; message: string }
  | {
      kind: 'admit';
      layers: LayerDecision;
      /** Stop the warm standby first: it holds GPU memory the load needs. */
      stopStandby: boolean;
      unloads: PlannedUnload[];
      /** Busy GPU models to wait for (an explicit gpu_layers that fits only once they are gone). */
      waitIdle: PlannedUnload[];
      timeout: { code: 'memory'; message: string } | null;
    };

const byLeastRecentlyUsed = (a: VramModel, b: VramModel) => a.lastUsed - b.lastUsed || a.name.localeCompare(b.name);
const isIdle = (m: VramModel) => m.state === 'ready' && m.inFlight === 0;
const isWaitable = (m: VramModel) => m.state === 'busy' || m.state === 'starting' || m.state === 'loading' || (m.state === 'ready' && m.inFlight > 0);

/** V7: the plan's and the journal's sentence for a model unloaded for VRAM. */
export function vramUnloadSentence(name: string, freedBytes: number, forName: string): string {
  return `unloaded ${name}: to free ${formatVram(freedBytes)} of VRAM for ${forName}`;
}

/** V5/V6/V9: what a load needs in VRAM, and which GPU models must make room for it. */
export function decideVramAdmission(input: VramAdmissionInput): VramAdmission {
  const { target, gpu, devices, limits, leaving } = input;
  const gpuModels = input.models.filter((m) => m.name !== target.name && !m.remote && m.vramBytes > 0);
  let freed = gpuModels.filter((m) => leaving.has(m.name)).reduce((s, m) => s + m.vramBytes, 0);
  const admit = (layers: LayerDecision, stopStandby = false, unloads: PlannedUnload[] = [], waitIdle: PlannedUnload[] = [], timeout: { code: 'memory'; message: string } | null = null): VramAdmission =>
    ({ kind: 'admit', layers, stopStandby, unloads, waitIdle, timeout });
  const picked = pickDevice(gpu, devices);
  // V9: a CPU load never evicts a GPU model.
  if (!picked.device || target.gpuLayers === 0) {
    const cpu = decideLayers(target, gpu, devices, limits, freed);
    return cpu.ok ? admit(cpu) : { kind: 'fail', code: 'memory', message: cpu.message };
  }
  const device = picked.device;
  const explicit = target.gpuLayers !== undefined && target.gpuLayers > 0;
  const wanted = explicit ? Math.min(target.gpuLayers as number, target.estimate.totalLayers) : target.estimate.totalLayers;
  const need = vramForLayers(target.estimate, wanted, { deviceType: device.type, kvOffload: target.kvOffload, baseBytes: target.baseBytes });
  const fits = () => need <= vramRoom(device, limits, freed);

  let stopStandby = false;
  if (!fits() && input.standbyVramBytes > 0) {
    stopStandby = true;
    freed += input.standbyVramBytes;
  }
  const unloads: PlannedUnload[] = [];
  const candidates = gpuModels.filter((m) => !leaving.has(m.name) && !m.pinned && isIdle(m)).sort(byLeastRecentlyUsed);
  for (const m of candidates) {
    if (fits()) break;
    freed += m.vramBytes;
    unloads.push({ name: m.name, reason: 'memory', sentence: vramUnloadSentence(m.name, m.vramBytes, target.name) });
  }
  const layers = decideLayers(target, gpu, devices, limits, freed);
  if (layers.ok) {
    // Auto-fit that still lands on the CPU gains nothing from the unloads.
    if (layers.placement.device === 'cpu') return admit(layers);
    return admit(layers, stopStandby, unloads);
  }
  // An explicit gpu_layers that fits only once busy GPU models finish: wait for them (V5, as today).
  const waitIdle: PlannedUnload[] = [];
  for (const m of gpuModels.filter((m) => !leaving.has(m.name) && !m.pinned && isWaitable(m)).sort(byLeastRecentlyUsed)) {
    if (fits()) break;
    freed += m.vramBytes;
    waitIdle.push({ name: m.name, reason: 'memory', sentence: vramUnloadSentence(m.name, m.vramBytes, target.name) });
  }
  const afterWait = decideLayers(target, gpu, devices, limits, freed);
  if (!afterWait.ok || waitIdle.length === 0) return { kind: 'fail', code: 'memory', message: layers.message };
  return admit(afterWait, stopStandby, unloads, waitIdle, {
    code: 'memory',
    message: `${target.name} cannot load: the VRAM it needs is held by busy ${waitIdle.map((w) => w.name).join(', ')}, still busy after waiting ${limits.eviction_wait} s. Try again when they have finished, or lower gpu_layers.`,
  });
}

export interface VramPressureInput {
  models: readonly VramModel[];
  device: GpuDevice;
  /** `vram_threshold`: the used fraction of VRAM above which idle GPU models make way. */
  threshold: number;
  standbyVramBytes: number;
  /** The kind of program that took the VRAM, only where the OS says; otherwise "another program". */
  cause?: string;
}

export interface VramPressureUnload {
  name: string;
  reason: 'vram_pressure';
  sentence: string;
}

/**
 * V10: with `vram_reclaimer` on, when other programs push VRAM use above the threshold, the
 * standby and then idle GPU models (least recently used first, never pinned or busy) go until
 * use is back under it. Loadout's own use above the threshold is admission's business, not this.
 */
export function decideVramPressure(input: VramPressureInput): { stopStandby: boolean; unloads: VramPressureUnload[] } {
  const { device, threshold } = input;
  const used = device.totalBytes - device.freeBytes;
  const limit = threshold * device.totalBytes;
  const others = used - device.usedByLoadoutBytes;
  const none = { stopStandby: false, unloads: [] };
  if (used <= limit || others <= 0) return none;
  let excess = used - limit;
  const pct = (n: number) => `${Math.round((n / device.totalBytes) * 100)}%`;
  const text = `${input.cause ?? 'another program'} uses ${formatVram(others)} of VRAM; ${pct(used)} in use, threshold ${pct(limit)}`;
  let stopStandby = false;
  if (input.standbyVramBytes > 0) {
    stopStandby = true;
    excess -= input.standbyVramBytes;
  }
  const unloads: VramPressureUnload[] = [];
  const idle = input.models.filter((m) => !m.remote && m.vramBytes > 0 && !m.pinned && isIdle(m)).sort(byLeastRecentlyUsed);
  for (const m of idle) {
    if (excess <= 0) break;
    excess -= m.vramBytes;
    unloads.push({ name: m.name, reason: 'vram_pressure', sentence: `unloaded ${m.name}: VRAM is running low (${text})` });
  }
  return { stopStandby, unloads };
}
