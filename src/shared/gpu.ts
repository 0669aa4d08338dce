/** GPU figures in the user's words, shared by the core's messages and the GUI (V12). */
import type { GpuDevice, GpuType, MemoryInfo, Placement } from './model';

const GIB = 1024 ** 3;

/** Sizes as the GUI shows them: GB for 1024^3 (clarification 10). */
export function formatVram(n: number): string {
  if (n >= GIB) return `${(n / GIB).toFixed(1)} GB`;
  return `${Math.max(0, Math.round(n / 1024 ** 2))} MB`;
}

/** "GPU 33/33", "GPU 20/32", "CPU" (the row's placement column); '' while not loaded. */
export function placementLabel(p: Placement | null): string {
  if (!p) return '';
  return p.device === 'cpu' || p.gpuLayers === 0 ? 'CPU' : `GPU ${p.gpuLayers}/${p.totalLayers}`;
}

/** Some layers on the GPU, the rest on the CPU (V6): it works, but generates slower. */
export function isPartialOffload(p: Placement | null): boolean {
  return !!p && p.device !== 'cpu' && p.gpuLayers > 0 && p.gpuLayers < p.totalLayers;
}

export const GPU_TYPE_LABEL: Record<GpuType, string> = { metal: 'Metal', cuda: 'CUDA', vulkan: 'Vulkan' };

/** The placement in a sentence: "the GPU (CUDA): 20 of 32 layers; the rest on the CPU (slower)". */
export function placementWords(p: Placement): string {
  if (p.device === 'cpu' || p.gpuLayers === 0) return 'the CPU (no layers on the GPU)';
  if (p.gpuLayers >= p.totalLayers) return `the GPU (${GPU_TYPE_LABEL[p.device]}): all ${p.totalLayers} layers`;
  return `the GPU (${GPU_TYPE_LABEL[p.device]}): ${p.gpuLayers} of ${p.totalLayers} layers; the rest on the CPU (slower)`;
}

/** The three parts of a device's VRAM bar, in bytes; they add up to `total`. */
export interface VramSplit {
  total: number;
  loadout: number;
  other: number;
  free: number;
}

/**
 * Loadout's models, other programs (total - free - Loadout's, never negative) and free. Figures
 * read at different moments can disagree (a model's VRAM measured before the device's free
 * figure caught up): each part is clamped so the three never add up to more than the device.
 */
export function vramSplit(d: Pick<GpuDevice, 'totalBytes' | 'freeBytes' | 'usedByLoadoutBytes'>): VramSplit {
  const total = Math.max(0, d.totalBytes);
  const free = Math.min(total, Math.max(0, d.freeBytes));
  const loadout = Math.min(total - free, Math.max(0, d.usedByLoadoutBytes));
  return { total, loadout, other: total - free - loadout, free };
}

/** Percent of the bar a part takes (0 when the device reports no total). */
export function barPercent(part: number, total: number): number {
  return total > 0 ? (part / total) * 100 : 0;
}

/**
 * A row's VRAM: measured once loaded (a model loaded on the CPU measures 0: none), else the
 * estimate (marked so), else none.
 */
export function vramFigure(memory: Pick<MemoryInfo, 'vramBytes' | 'vramEstimateBytes'>): { text: string; measured: boolean } | null {
  if (memory.vramBytes !== null) return memory.vramBytes > 0 ? { text: formatVram(memory.vramBytes), measured: true } : null;
  if (memory.vramEstimateBytes !== null && memory.vramEstimateBytes > 0) return { text: `~${formatVram(memory.vramEstimateBytes)}`, measured: false };
  return null;
}
