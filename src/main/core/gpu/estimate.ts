/**
 * V4: the VRAM and RAM a GGUF model needs at a given number of GPU layers and context size,
 * from the core's own header reader (the app process never loads node-llama-cpp: clarification 4).
 * The weights are exact (the file's tensor sizes); the KV cache follows from the shape; the
 * compute buffer and the per-process base are allowances, replaced by the measured figure once
 * the model has loaded (the loader keeps it for the next load of the same model and settings).
 */
import { ggmlTensorBytes, ggufInfoFromHeader, type GgufHeader } from '../gguf/readGguf';

import type { GpuType } from '../../../shared/model';

export type { GpuType };

/**
 * VRAM a backend process takes on a device before any model (driver context, kernels). An
 * allowance per device type until measured (clarification 4: "measured per device type");
 * the loader may pass measured figures instead.
 */
export const PROCESS_BASE_BYTES: Record<GpuType, number> = {
  cuda: 320 * 1024 ** 2,
  vulkan: 160 * 1024 ** 2,
  metal: 64 * 1024 ** 2,
};

/** llama.cpp's default micro-batch: the compute buffer holds activations for this many tokens. */
const UBATCH = 512;
/** f16 K and V entries. */
const KV_ELEMENT_BYTES = 2;

export interface ModelEstimate {
  /** Repeating blocks plus the output layer, as node-llama-cpp counts `gpuLayers` ("GPU 33/33"). */
  totalLayers: number;
  blockCount: number;
  /** Weight bytes of each block, blk.0 first. */
  layerBytes: number[];
  /** The largest block: what one more offloaded layer costs at most. */
  bytesPerLayer: number;
  /** The output layer (output norm and head): offloaded only with all layers. */
  outputBytes: number;
  /** Weights that stay in RAM whatever the layer count (the token embedding, other globals). */
  fixedBytes: number;
  /** f16 K+V cache of one layer at `contextSize`. */
  kvBytesPerLayer: number;
  /** Allowance for the compute buffer (activations and attention scores of one micro-batch). */
  computeBytes: number;
  contextSize: number;
  /** All weight bytes in the file. */
  weightsBytes: number;
}

const BLOCK_TENSOR = /^blk\.(\d+)\./;

/** What a model needs, from its GGUF header, for a context of `contextSize` tokens (0: the model's own). */
export function estimateModel(header: GgufHeader, contextSize = 0): ModelEstimate {
  const info = ggufInfoFromHeader(header);
  const blockCount = info.blockCount ?? 0;
  const layerBytes = new Array<number>(blockCount).fill(0);
  let outputBytes = 0;
  let fixedBytes = 0;
  let weightsBytes = 0;
  let embeddingBytes = 0;
  let hasOutput = false;
  let vocab = 0;
  for (const t of header.tensors) {
    // An unknown type is counted as F32: overestimating is safer than a load that does not fit.
    const bytes = ggmlTensorBytes(t.type, t.elements) ?? t.elements * 4;
    weightsBytes += bytes;
    const block = BLOCK_TENSOR.exec(t.name);
    if (block && Number(block[1]) < blockCount) {
      layerBytes[Number(block[1])] += bytes;
    } else if (t.name.startsWith('output')) {
      outputBytes += bytes;
      if (t.name === 'output.weight') {
        hasOutput = true;
        vocab = t.dims[1] ?? vocab;
      }
    } else {
      fixedBytes += bytes;
      if (t.name === 'token_embd.weight') {
        embeddingBytes = bytes;
        vocab ||= t.dims[1] ?? 0;
      }
    }
  }
  // Tied embeddings: llama.cpp puts a copy of the token embedding on the GPU as the output head.
  if (!hasOutput) outputBytes += embeddingBytes;

  const context = contextSize > 0 ? contextSize : (info.contextLength ?? 0);
  const { embeddingLength, headCount } = info;
  const kvDim = embeddingLength && headCount ? (embeddingLength / headCount) * (info.headCountKv ?? headCount) : 0;
  const kvBytesPerLayer = 2 * context * kvDim * KV_ELEMENT_BYTES;
  const batch = Math.min(UBATCH, Math.max(context, 1));
  // Logits for the batch, a few embedding-wide activations, and the f32 attention scores.
  const computeBytes = 4 * batch * (vocab + 4 * (embeddingLength ?? 0) + context * (headCount ?? 0));

  return {
    totalLayers: blockCount + 1,
    blockCount,
    layerBytes,
    bytesPerLayer: Math.max(0, ...layerBytes),
    outputBytes,
    fixedBytes,
    kvBytesPerLayer,
    computeBytes,
    contextSize: context,
    weightsBytes,
  };
}

export interface SplitOptions {
  /** Device type the layers go to (its per-process base). */
  deviceType: GpuType;
  /** False when `no_kv_offloading` keeps the KV cache in RAM. */
  kvOffload?: boolean;
  /** A measured per-process base for this device type, when the loader has one. */
  baseBytes?: number;
}

/** How `gpuLayers` of `totalLayers` split: llama.cpp offloads the last blocks first, the output layer last. */
function split(est: ModelEstimate, gpuLayers: number): { gpuBlocks: number; outputOnGpu: boolean } {
  const k = Math.max(0, Math.min(gpuLayers, est.totalLayers));
  return { gpuBlocks: Math.min(k, est.blockCount), outputOnGpu: k > est.blockCount };
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0);

/** VRAM the model takes with `gpuLayers` offloaded (0 for none: no process base either). */
export function vramForLayers(est: ModelEstimate, gpuLayers: number, opts: SplitOptions): number {
  const { gpuBlocks, outputOnGpu } = split(est, gpuLayers);
  if (gpuBlocks === 0 && !outputOnGpu) return 0;
  const kvOffload = opts.kvOffload ?? true;
  return (
    (opts.baseBytes ?? PROCESS_BASE_BYTES[opts.deviceType]) +
    est.computeBytes +
    sum(est.layerBytes.slice(est.blockCount - gpuBlocks)) +
    (outputOnGpu ? est.outputBytes : 0) +
    (kvOffload ? est.kvBytesPerLayer * gpuBlocks : 0)
  );
}

/** RAM the model takes with `gpuLayers` offloaded (V8: the CPU layers count against memory_budget). */
export function ramForLayers(est: ModelEstimate, gpuLayers: number, opts: Pick<SplitOptions, 'kvOffload'> = {}): number {
  const { gpuBlocks, outputOnGpu } = split(est, gpuLayers);
  const cpuBlocks = est.blockCount - gpuBlocks;
  const kvLayers = (opts.kvOffload ?? true) ? cpuBlocks : est.blockCount;
  return (
    est.fixedBytes +
    sum(est.layerBytes.slice(0, cpuBlocks)) +
    (outputOnGpu ? 0 : est.outputBytes) +
    est.kvBytesPerLayer * kvLayers +
    (gpuBlocks === 0 && !outputOnGpu ? est.computeBytes : 0)
  );
}
