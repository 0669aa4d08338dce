/**
 * V2, V3: which GPU the built-in backend gets on this machine, asked once per run of the backend
 * program (`--probe`, a child: the app process never loads node-llama-cpp) and cached across runs
 * under the detection key. The devices for the state come from the same figures.
 */
import { spawn } from 'node:child_process';
import type { BuiltinCommand } from '../backends/builtin';
import type { DetectionCache, GpuDetection } from './detectionCache';
import type { GpuType } from './estimate';
import type { GpuDevice, GpuSetting } from './placement';

/** One JSON line of `main --probe` (src/backends/llama/runtime.ts GpuProbe). */
export interface ProbeResult {
  used: GpuType | false;
  fallbackReason: string | null;
  deviceNames: string[];
  vram: { total: number; used: number; free: number; unifiedSize: number };
  /** The GPU types whose driver node-llama-cpp finds, binaries or not (V14: the CUDA pack's trigger). */
  supportedGpuTypes?: (GpuType | false)[];
}

export interface DetectOptions {
  command: BuiltinCommand;
  cache: DetectionCache;
  key: string;
  now: () => number;
  timeoutMs?: number;
}

/** Runs the backend program with `--probe` and `gpu: auto`; rejects with what it said when it fails. */
export function runProbe(command: BuiltinCommand, timeoutMs = 60_000): Promise<ProbeResult> {
  return new Promise((resolve, reject) => {
    const child = spawn(command.command, [...command.args, '--probe'], {
      env: { ...process.env, ...command.env, LOADOUT_GPU: 'auto' },
      stdio: ['ignore', 'pipe', 'pipe'],
    });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    const timer = setTimeout(() => child.kill('SIGKILL'), timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      reject(e);
    });
    child.on('exit', (code, signal) => {
      clearTimeout(timer);
      try {
        if (code === 0) return resolve(JSON.parse(out.trim().split('\n').pop() ?? '') as ProbeResult);
      } catch {
        /* reported below */
      }
      const last = err.trim().split('\n').pop() ?? '';
      reject(new Error(`GPU detection ended with ${signal ?? `exit code ${code}`}${last ? `: ${last.slice(0, 500)}` : ''}`));
    });
  });
}

/** What a probe (or a backend's Status report, which carries the same figures) says, as kept in the cache. */
export function detectionFromProbe(probe: ProbeResult, detectedAt: number): GpuDetection {
  return {
    gpu: probe.used,
    deviceNames: probe.deviceNames,
    totalBytes: probe.vram.total,
    unified: probe.vram.unifiedSize > 0,
    fallbackReason: probe.fallbackReason,
    supportedGpuTypes: probe.supportedGpuTypes ?? [],
    detectedAt,
  };
}

/**
 * The cached detection when its key still holds, else a fresh probe (then cached). A probe that
 * fails reads as "no GPU" with the reason, and is not cached: the next run tries again.
 */
export async function detectGpu(o: DetectOptions): Promise<{ detection: GpuDetection; cached: boolean; probe: ProbeResult | null }> {
  const hit = o.cache.read(o.key);
  if (hit) return { detection: hit, cached: true, probe: null };
  try {
    const probe = await runProbe(o.command, o.timeoutMs);
    const detection = detectionFromProbe(probe, o.now());
    await o.cache.write(o.key, detection).catch(() => {});
    return { detection, cached: false, probe };
  } catch (e) {
    const reason = e instanceof Error ? e.message : String(e);
    return { detection: { gpu: false, deviceNames: [], totalBytes: 0, unified: false, fallbackReason: reason, detectedAt: o.now() }, cached: false, probe: null };
  }
}

/** V3: the state's `gpus` (one entry per GPU backend type) from a probe's VRAM figures. */
export function devicesFromProbe(probe: ProbeResult, usedByLoadoutBytes: number): GpuDevice[] {
  if (probe.used === false) return [];
  return [
    {
      type: probe.used,
      names: probe.deviceNames,
      totalBytes: probe.vram.total,
      freeBytes: probe.vram.free,
      usedByLoadoutBytes,
      unified: probe.vram.unifiedSize > 0,
    },
  ];
}

/**
 * V2: the choice a built-in backend is started with. With `auto` and a known detection it is
 * what detection found (the CPU when there is no GPU), so a backend start does not test every GPU
 * type again; before detection has answered it stays `auto`.
 */
export function resolveBackendGpu(setting: GpuSetting, detection: GpuDetection | null): GpuSetting {
  if (setting !== 'auto' || !detection) return setting;
  return detection.gpu === false ? 'cpu' : detection.gpu;
}
