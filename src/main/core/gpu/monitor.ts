/**
 * V2, V3: what the core knows about this machine's GPU. Detection is learned once per run, and
 * lazily: from the detection cache of an earlier run, else from the first built-in backend the
 * loader starts with `gpu: auto` (its Status carries what `--probe` prints), so no core pays a
 * separate probe and a core that never loads a model on the built-in backend detects nothing.
 * With `gpu: cpu` nothing is read or detected. Fresh VRAM figures come the same way, from a
 * running built-in backend's Status (the loader asks every 5 s while GPU models run).
 */
import type { GpuDevice, GpuSetting, GpuType } from '../../../shared/model';
import type { GpuDetection } from './detectionCache';
import type { ProbeResult } from './detect';
import { detectionFromProbe, resolveBackendGpu } from './detect';

export interface GpuMonitorOptions {
  setting: () => GpuSetting;
  now: () => number;
  /** The detection kept by an earlier run, if still valid (read once, at first need). */
  readCache?: () => GpuDetection | null;
  /** Keeps a fresh detection for the next run. */
  writeCache?: (d: GpuDetection) => void;
  /** A detection became known (from the cache or a backend's report): the CUDA pack's trigger (V14). */
  onDetected?: (d: GpuDetection) => void;
  /** Extra environment for a built-in backend (the CUDA pack's runtimes folder, once installed). */
  backendEnv?: () => Record<string, string>;
}

/** One backend's report (StatusResponse.gpu), as `--probe` prints it, with what it asked for. */
export type GpuReport = ProbeResult & { requested?: GpuSetting };

export interface VramReading {
  totalBytes: number;
  freeBytes: number;
  at: number;
}

/** Parses StatusResponse.gpu; null when empty (llama.cpp still starting) or not ours. */
export function parseGpuReport(text: string | undefined): GpuReport | null {
  if (!text) return null;
  try {
    const r = JSON.parse(text) as GpuReport;
    return r && typeof r === 'object' && r.vram && typeof r.vram.free === 'number' ? r : null;
  } catch {
    return null;
  }
}

export class GpuMonitor {
  private detection: GpuDetection | null = null;
  /** The setting the detection was made under: `auto` (kept across runs) or one GPU type (this run only). */
  private detectedUnder: GpuSetting = 'auto';
  private cacheRead = false;
  private reading: VramReading | null = null;
  private noteText: string | null = null;
  private arriving: GpuType | null = null;
  /** Told when the note changes (the loader emits it with the devices). */
  onNoteChange: (() => void) | null = null;

  constructor(private readonly o: GpuMonitorOptions) {}

  /** What detection found, or null while unknown (and always with `gpu: cpu`). */
  known(): GpuDetection | null {
    const setting = this.o.setting();
    if (setting === 'cpu') return null;
    if (this.detection && this.detectedUnder !== 'auto' && this.detectedUnder !== setting) this.detection = null;
    if (!this.detection && !this.cacheRead) {
      this.cacheRead = true;
      this.detection = this.o.readCache?.() ?? null;
      if (this.detection) this.o.onDetected?.(this.detection);
    }
    return this.detection;
  }

  /** Drops what detection found, so the next built-in backend starts on `auto` and detects again (the CUDA pack arrived). */
  forget(): void {
    this.detection = null;
    this.detectedUnder = 'auto';
    this.cacheRead = false;
  }

  /** A line for the GPU panel (V14: the CUDA pack's progress, or why it could not be fetched); null when none. */
  note(): string | null {
    return this.noteText;
  }

  /** V14: the GPU type whose runtime is being fetched now (the CUDA pack), or null. */
  runtimeArriving(): GpuType | null {
    return this.arriving;
  }

  setRuntimeArriving(type: GpuType | null): void {
    this.arriving = type;
  }

  setNote(text: string | null): void {
    if (text === this.noteText) return;
    this.noteText = text;
    this.onNoteChange?.();
  }

  /** The built-in backend's extra environment (V14). */
  backendEnv(): Record<string, string> {
    return this.o.backendEnv?.() ?? {};
  }

  /** The `gpu` a built-in backend starts with: the detected type once known (V2), `auto` before. */
  backendGpu(): GpuSetting {
    return resolveBackendGpu(this.o.setting(), this.known());
  }

  /** True when a built-in load must ask its backend before deciding layers (unknown, or a GPU to read). */
  needsReport(): boolean {
    const setting = this.o.setting();
    if (setting === 'cpu') return false;
    const d = this.known();
    return d === null || d.gpu !== false;
  }

  /** A built-in backend's Status said what it got: detection (once, from an `auto` start) and VRAM now. */
  learn(report: GpuReport): void {
    const now = this.o.now();
    const setting = this.o.setting();
    const requested = report.requested ?? 'auto';
    // Only a start under the current setting answers for it (`auto`'s answer is kept across runs).
    if (!this.known() && setting !== 'cpu' && requested === setting) {
      this.detectedUnder = setting;
      this.detection = detectionFromProbe(report, now);
      if (setting === 'auto') this.o.writeCache?.(this.detection);
      this.o.onDetected?.(this.detection);
    }
    if (report.used !== false) this.reading = { totalBytes: report.vram.total, freeBytes: report.vram.free, at: now };
  }

  /** When the VRAM figures were read (0: never). */
  readAt(): number {
    return this.reading?.at ?? 0;
  }

  /**
   * V3: the GPU the setting gives the built-in backend, as one entry per GPU type (clarification
   * 4); `usedByLoadoutBytes` comes from the loader. Empty without a GPU, before detection, and
   * with a setting that names another type than the one found.
   */
  devices(usedByLoadoutBytes: number): GpuDevice[] {
    const d = this.known();
    if (!d || d.gpu === false) return [];
    const setting = this.o.setting();
    if (setting !== 'auto' && setting !== d.gpu) return [];
    const total = this.reading?.totalBytes ?? d.totalBytes;
    return [
      {
        type: d.gpu,
        names: d.deviceNames,
        totalBytes: total,
        // Before any reading (a cached detection, nothing started yet) all but our own use is free.
        freeBytes: this.reading?.freeBytes ?? Math.max(0, total - usedByLoadoutBytes),
        usedByLoadoutBytes,
        unified: d.unified,
      },
    ];
  }

  /** Why the built-in backend runs on the CPU under the `auto` setting, when detection said so. */
  fallbackReason(): string | null {
    const d = this.known();
    return d && d.gpu === false ? (d.fallbackReason ?? 'no GPU was found') : null;
  }
}
