/**
 * V6, V9: how many of a model's layers go on the GPU. The core decides and always sends an
 * explicit count to the backend (clarification 4), so what the plan says is what loads.
 * Pure: the devices and the VRAM freed by planned unloads come in as data.
 */
import type { GpuDevice, GpuSetting, Placement } from '../../../shared/model';
import { vramForLayers, ramForLayers, type ModelEstimate } from './estimate';
import { formatVram } from '../../../shared/gpu';

// The GUI words sizes and placements the same way: one definition, in src/shared.
export { formatVram, placementLabel } from '../../../shared/gpu';

export type { GpuDevice, GpuSetting, Placement };

export interface VramLimits {
  /** Bytes Loadout's models may hold in VRAM; 0 = total minus the reserve. */
  vram_budget: number;
  /** VRAM left free for other programs and the desktop. */
  vram_reserve: number;
}

export interface LayerRequest {
  name: string;
  estimate: ModelEstimate;
  /** The config's `gpu_layers`: undefined or -1 auto-fit, 0 CPU only, N that many layers. */
  gpuLayers?: number;
  /** False with `no_kv_offloading`. */
  kvOffload?: boolean;
  /** A measured per-process base for the device type, when known. */
  baseBytes?: number;
}

export interface LayerDecision {
  placement: Placement;
  vramNeedBytes: number;
  ramNeedBytes: number;
  /** One sentence for the plan and the row: why this many layers. */
  reason: string;
}

export type LayerOutcome = ({ ok: true } & LayerDecision) | { ok: false; code: 'memory'; message: string };

/** The device a model would use under the `gpu` setting, or why there is none. */
export function pickDevice(gpu: GpuSetting, devices: readonly GpuDevice[]): { device: GpuDevice } | { device: null; why: string } {
  if (gpu === 'cpu') return { device: null, why: 'the gpu setting is cpu' };
  if (gpu === 'auto') return devices.length > 0 ? { device: devices[0] } : { device: null, why: 'no GPU was found' };
  const device = devices.find((d) => d.type === gpu);
  return device ? { device } : { device: null, why: `the gpu setting is ${gpu} but no ${gpu.toUpperCase()} device was found` };
}

/**
 * VRAM a new load may take (clarification 4): min(budget - Loadout's other GPU use, free -
 * reserve), after `freedBytes` of planned unloads (the standby included).
 */
export function vramRoom(device: GpuDevice, limits: VramLimits, freedBytes = 0): number {
  const budget = limits.vram_budget > 0 ? limits.vram_budget : device.totalBytes - limits.vram_reserve;
  const ours = Math.max(0, device.usedByLoadoutBytes - freedBytes);
  return Math.max(0, Math.min(budget - ours, device.freeBytes + freedBytes - limits.vram_reserve));
}

/** The budget as the messages name it. */
function budgetOf(device: GpuDevice, limits: VramLimits): number {
  return limits.vram_budget > 0 ? limits.vram_budget : device.totalBytes - limits.vram_reserve;
}

function cpuDecision(req: LayerRequest, reason: string): LayerOutcome {
  const est = req.estimate;
  return {
    ok: true,
    placement: { device: 'cpu', gpuLayers: 0, totalLayers: est.totalLayers },
    vramNeedBytes: 0,
    ramNeedBytes: ramForLayers(est, 0, { kvOffload: req.kvOffload }),
    reason,
  };
}

/** The layer decision for one load, with `freedBytes` of VRAM freed by planned unloads. */
export function decideLayers(
  req: LayerRequest,
  gpu: GpuSetting,
  devices: readonly GpuDevice[],
  limits: VramLimits,
  freedBytes = 0,
): LayerOutcome {
  const est = req.estimate;
  const total = est.totalLayers;
  if (req.gpuLayers === 0) return cpuDecision(req, 'runs on the CPU: gpu_layers is 0 in its config');
  const picked = pickDevice(gpu, devices);
  if (!picked.device) return cpuDecision(req, `runs on the CPU: ${picked.why}`);
  const device = picked.device;
  const split = { deviceType: device.type, kvOffload: req.kvOffload, baseBytes: req.baseBytes };
  const need = (k: number) => vramForLayers(est, k, split);
  const room = vramRoom(device, limits, freedBytes);
  const gpuDecision = (k: number, reason: string): LayerOutcome => ({
    ok: true,
    placement: { device: device.type, gpuLayers: k, totalLayers: total },
    vramNeedBytes: need(k),
    ramNeedBytes: ramForLayers(est, k, { kvOffload: req.kvOffload }),
    reason,
  });

  const explicit = req.gpuLayers !== undefined && req.gpuLayers > 0;
  if (explicit) {
    const k = Math.min(req.gpuLayers as number, total);
    if (need(k) <= room) return gpuDecision(k, `loads ${k} of ${total} layers on the GPU (gpu_layers ${req.gpuLayers}): needs ${formatVram(need(k))} of VRAM, ${formatVram(room)} available`);
    return {
      ok: false,
      code: 'memory',
      message:
        `${req.name} does not fit in VRAM with gpu_layers ${req.gpuLayers}: needs ${formatVram(need(k))}, ` +
        `VRAM budget ${formatVram(budgetOf(device, limits))}, free ${formatVram(device.freeBytes + freedBytes)} ` +
        `(${formatVram(limits.vram_reserve)} kept in reserve). Lower gpu_layers, remove it to fit automatically, or unload a GPU model.`,
    };
  }
  // Auto-fit (V6): the most layers that fit; need() grows with k.
  let k = total;
  while (k > 0 && need(k) > room) k--;
  if (k === total) return gpuDecision(k, `loads all ${total} layers on the GPU: needs ${formatVram(need(k))} of VRAM, ${formatVram(room)} available`);
  if (k > 0) return gpuDecision(k, `loads ${k} of ${total} layers on the GPU: ${formatVram(room)} VRAM free`);
  return cpuDecision(req, `runs on the CPU: not enough VRAM for one layer (needs ${formatVram(need(1))}, ${formatVram(room)} available)`);
}
