/**
 * V13: LocalAI's GPU config keys, as external backends get them (the proto's ModelOptions) and
 * as the built-in backend gets them (node-llama-cpp's options). A key the built-in backend
 * cannot honour is still sent to external backends, and for the built-in one it becomes a row
 * warning: never silently dropped.
 */
import type { GpuSetting } from './placement';

/** The keys as a model's YAML has them (LocalAI's names, `mmlock` included). */
export interface GpuConfigKeys {
  gpu_layers?: number;
  mmap?: boolean;
  mmlock?: boolean;
  /** LocalAI took a bool, newer versions "auto" | "on" | "off". */
  flash_attention?: boolean | string;
  main_gpu?: string;
  tensor_split?: string;
  no_kv_offloading?: boolean;
}

/** The ModelOptions fields these keys set (proto/backend.proto). */
export interface GpuModelOptions {
  NGPULayers: number;
  MainGPU: string;
  TensorSplit: string;
  MMap: boolean;
  MLock: boolean;
  FlashAttention: string;
  NoKVOffload: boolean;
}

/** LocalAI's "all layers": what an external backend gets for an absent or -1 gpu_layers (clarification 4). */
export const ALL_LAYERS = 99_999_999;

function flashAttentionText(v: GpuConfigKeys['flash_attention']): string {
  if (v === undefined) return '';
  if (typeof v === 'boolean') return v ? 'on' : 'off';
  return v;
}

/** ModelOptions for an external (LocalAI) backend: it fits the layers itself. */
export function externalModelOptions(keys: GpuConfigKeys, gpu: GpuSetting): GpuModelOptions {
  const layers = keys.gpu_layers;
  return {
    NGPULayers: gpu === 'cpu' ? 0 : layers === undefined || layers < 0 ? ALL_LAYERS : layers,
    MainGPU: keys.main_gpu ?? '',
    TensorSplit: keys.tensor_split ?? '',
    // proto3 cannot tell "unset" from false, so LocalAI's default (mmap on) is sent explicitly.
    MMap: keys.mmap ?? true,
    MLock: keys.mmlock ?? false,
    FlashAttention: flashAttentionText(keys.flash_attention),
    NoKVOffload: keys.no_kv_offloading ?? false,
  };
}

/** The node-llama-cpp `loadModel` options the keys map to (LlamaModelOptions' names). */
export interface BuiltinModelOptions {
  gpuLayers: number;
  useMmap: boolean;
  useMlock: boolean;
  defaultContextFlashAttention?: boolean | 'auto';
}

/**
 * Options for the built-in backend, with the layer count the core decided (V6), and one warning
 * per key it cannot honour (node-llama-cpp 3.21.1 picks the GPU and splits layers itself, and
 * always keeps the KV cache of an offloaded layer on the GPU).
 */
export function builtinModelOptions(keys: GpuConfigKeys, gpuLayers: number): { options: BuiltinModelOptions; warnings: string[] } {
  const warnings: string[] = [];
  const ignored = (key: string, why: string) =>
    warnings.push(`${key} is not used by the built-in backend (${why}); external backends get it.`);
  if (keys.main_gpu !== undefined && keys.main_gpu !== '') ignored('main_gpu', 'node-llama-cpp chooses the GPU');
  if (keys.tensor_split !== undefined && keys.tensor_split !== '') ignored('tensor_split', 'node-llama-cpp splits layers across GPUs itself');
  if (keys.no_kv_offloading) ignored('no_kv_offloading', 'it keeps the KV cache with the offloaded layers');
  const options: BuiltinModelOptions = { gpuLayers, useMmap: keys.mmap ?? true, useMlock: keys.mmlock ?? false };
  const fa = keys.flash_attention;
  if (fa === true || fa === 'on') options.defaultContextFlashAttention = true;
  else if (fa === false || fa === 'off') options.defaultContextFlashAttention = false;
  else if (fa === 'auto') options.defaultContextFlashAttention = 'auto';
  else if (fa !== undefined) warnings.push(`flash_attention "${fa}" is not one of on, off, auto (or true/false); the built-in backend uses its default.`);
  return { options, warnings };
}
