// Original file: proto/backend.proto

import type { MemoryUsageData as _backend_MemoryUsageData, MemoryUsageData__Output as _backend_MemoryUsageData__Output } from '../backend/MemoryUsageData';

// Original file: proto/backend.proto

export const _backend_StatusResponse_State = {
  UNINITIALIZED: 'UNINITIALIZED',
  BUSY: 'BUSY',
  READY: 'READY',
  ERROR: 'ERROR',
} as const;

export type _backend_StatusResponse_State =
  | 'UNINITIALIZED'
  | 0
  | 'BUSY'
  | 1
  | 'READY'
  | 2
  | 'ERROR'
  | -1

export type _backend_StatusResponse_State__Output = typeof _backend_StatusResponse_State[keyof typeof _backend_StatusResponse_State]

export interface StatusResponse {
  'state'?: (_backend_StatusResponse_State);
  'memory'?: (_backend_MemoryUsageData | null);
  /**
   * Loadout extension: 0-1 while LoadModel runs. LocalAI backends never send it (reads 0).
   */
  'load_progress'?: (number | string);
  /**
   * Loadout extension: the built-in backend's GPU as JSON (what `--probe` prints: the GPU type it
   * got, why not, device names, VRAM now), "" until llama.cpp has started (GPU V2, V3).
   */
  'gpu'?: (string);
}

export interface StatusResponse__Output {
  'state': (_backend_StatusResponse_State__Output);
  'memory': (_backend_MemoryUsageData__Output | null);
  /**
   * Loadout extension: 0-1 while LoadModel runs. LocalAI backends never send it (reads 0).
   */
  'load_progress': (number);
  /**
   * Loadout extension: the built-in backend's GPU as JSON (what `--probe` prints: the GPU type it
   * got, why not, device names, VRAM now), "" until llama.cpp has started (GPU V2, V3).
   */
  'gpu': (string);
}
