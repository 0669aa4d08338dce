/** The GPU panel's sentences (pure, tested). */
import type { GpuDevice, GpuSetting } from '../../../../shared/model';
import { GPU_TYPE_LABEL } from '../../../../shared/gpu';

/** "NVIDIA GeForce RTX 4090", "2 × NVIDIA GeForce RTX 3090", "Apple M2 Pro + ..." */
export function deviceNames(d: Pick<GpuDevice, 'type' | 'names'>): string {
  if (d.names.length === 0) return `${GPU_TYPE_LABEL[d.type]} device`;
  if (d.names.length > 1 && d.names.every((n) => n === d.names[0])) return `${d.names.length} × ${d.names[0]}`;
  return d.names.join(' + ');
}

/** The quiet line without a GPU: why models run on the CPU. */
export function noGpuLine(gpu: GpuSetting | undefined): string {
  if (gpu === 'cpu') return 'GPU off (the gpu setting is cpu): models run on the CPU.';
  if (gpu && gpu !== 'auto') return `No ${GPU_TYPE_LABEL[gpu]} GPU found (the gpu setting is ${gpu}): models run on the CPU.`;
  return 'No GPU found: models run on the CPU.';
}
