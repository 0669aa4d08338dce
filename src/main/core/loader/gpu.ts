/**
 * The loader's GPU side (V4-V11): the layer count and VRAM admission of a built-in load, the
 * measured VRAM kept for the next load, the devices' figures every 5 s while GPU models run, and
 * the VRAM reclaimer. Decisions are the pure functions of `../gpu`; this part acts on them.
 */
import { LoadoutError } from '../../../shared/errors';
import type { GpuDevice, GpuSetting, GpuType, Placement, PlannedUnload } from '../../../shared/model';
import { isOccupying, isResident } from '../../../shared/model';
import type { ModelHost } from '../backends/types';
import { BUILTIN_BACKEND } from '../backends/registry';
import { parallelOf } from '../catalog/options';
import type { CatalogEntry } from '../catalog/types';
import { estimateModel, PROCESS_BASE_BYTES, type ModelEstimate } from '../gpu/estimate';
import { GpuMonitor, parseGpuReport, type GpuReport } from '../gpu/monitor';
import { pickDevice, type LayerDecision, type LayerRequest } from '../gpu/placement';
import { decideVramAdmission, decideVramPressure, type VramModel } from '../gpu/vramPolicy';
import { readGgufHeader } from '../gguf/readGguf';
import type { UnloadOptions } from './router';
import type { Runtime } from './runtime';
import type { ModelTable } from './table';

/** How often the devices' VRAM is read while GPU models run (clarification 4). */
export const GPU_REFRESH_MS = 5_000;
/** How often a starting built-in backend is asked for its GPU report (llama.cpp starts in ~0.6 s). */
const REPORT_POLL_MS = 50;
/** The context a model gets when its config sets none (the built-in backend's DEFAULT_CONTEXT_SIZE). */
const DEFAULT_CONTEXT = 4096;

/** What the loader knows of a built-in instance's GPU use (the row's placement and VRAM). */
export interface GpuUse {
  placement: Placement;
  /** VRAM the decision counted on, the per-process base included (V4). */
  vramEstimateBytes: number;
  /** The per-process base the estimate used (measured VRAM comes without it). */
  baseBytes: number;
  /** Why not (all) on the GPU, for the row (V1, V6); null when every layer is. */
  note: string | null;
  /** The key its measured VRAM is kept under for the next load (V4). */
  measureKey: string;
}

export interface LoaderGpuOptions {
  monitor: GpuMonitor;
  /** The model's layer layout (V4); default: its GGUF header. Null when it cannot be read. */
  estimate?: (entry: CatalogEntry, contextSize: number) => Promise<ModelEstimate | null>;
  /** The warm standby: its VRAM (a GPU process base) and how to stop it when a load or pressure needs the room. */
  standby?: { vramBytes(): number; drop(): Promise<void> };
  /** The `gpu` a built-in backend starts with when not the monitor's (to adopt a standby started under `auto`). */
  backendGpu?: () => GpuSetting | undefined;
}

const readEstimate = async (entry: CatalogEntry, contextSize: number): Promise<ModelEstimate | null> => {
  if (!entry.file) return null;
  try {
    return estimateModel(await readGgufHeader(entry.file, { skipArraysUnder: 'tokenizer.ggml.', lengthOnly: new Set(['tokenizer.chat_template']) }), contextSize);
  } catch {
    return null;
  }
};

export class LoaderGpu {
  readonly monitor: GpuMonitor;
  private readonly estimates = new Map<string, Promise<ModelEstimate | null>>();
  private readonly known = new Map<string, ModelEstimate | null>();
  /** V4: per model, settings and device type, the base that makes the estimate what was measured. */
  private readonly correctedBase = new Map<string, number>();
  private refreshTimer: unknown = null;
  private shownGpus = '[[],null]';
  private prefetched = false;

  constructor(
    private readonly t: ModelTable,
    private readonly o: LoaderGpuOptions,
    private readonly unload: (name: string, opts: UnloadOptions) => Promise<void>,
  ) {
    this.monitor = o.monitor;
    this.monitor.onNoteChange = () => this.emitDevices();
  }

  /** The `gpu` a built-in backend starts with (V2). */
  backendGpu() {
    return this.o.backendGpu?.() ?? this.monitor.backendGpu();
  }

  /** VRAM a model holds: measured (plus its process base) once loaded, else what its decision counted on. */
  vramOf(rt: Runtime): number {
    const g = rt.gpu;
    if (!g || g.placement.gpuLayers === 0 || !isOccupying(rt.state)) return 0;
    return rt.vramBytes !== null ? rt.vramBytes + g.baseBytes : g.vramEstimateBytes;
  }

  usedByLoadout(): number {
    let sum = this.o.standby?.vramBytes() ?? 0;
    for (const rt of this.t.runtimes.values()) sum += this.vramOf(rt);
    return sum;
  }

  /**
   * The devices as a load decides on them: the last reading, less what loads decided since
   * then will take (they are not in that reading yet).
   */
  devices(): GpuDevice[] {
    const readAt = this.monitor.readAt();
    let pending = 0;
    for (const rt of this.t.runtimes.values()) {
      if (!rt.gpu || !(rt.state === 'loading' || (rt.loadedAt ?? 0) > readAt)) continue;
      // Its process base is in the reading already when the backend had started by then.
      pending += this.vramOf(rt) - ((rt.loadStartedAt ?? Infinity) <= readAt ? rt.gpu.baseBytes : 0);
    }
    return this.monitor.devices(this.usedByLoadout()).map((d) => ({ ...d, freeBytes: Math.max(0, d.freeBytes - pending) }));
  }

  /** Emits the devices when they changed (V11: the GUI's VRAM bar follows). */
  emitDevices(): void {
    const gpus = this.monitor.devices(this.usedByLoadout());
    if (gpus.length > 0 && !this.prefetched) this.prefetch();
    const notice = this.monitor.note();
    const key = JSON.stringify([gpus, notice]);
    if (key === this.shownGpus) return;
    this.shownGpus = key;
    this.t.o.emit({ type: 'gpus', gpus, notice });
  }

  private vramModels(exclude: string): VramModel[] {
    const out: VramModel[] = [];
    for (const p of this.t.policyView()) {
      if (p.name === exclude) continue;
      const rt = this.t.runtimes.get(p.name);
      out.push({ name: p.name, state: p.state, pinned: p.pinned, inFlight: p.inFlight, lastUsed: p.lastUsed, remote: p.remote, vramBytes: rt ? this.vramOf(rt) : 0 });
    }
    return out;
  }

  private contextOf(entry: CatalogEntry): number {
    const c = entry.config.context_size || Math.min(entry.gguf?.contextLength || DEFAULT_CONTEXT, DEFAULT_CONTEXT);
    return c * parallelOf(entry.config);
  }

  /** The model's layout, read once per file version; `cachedEstimate` is what the plan (sync) can use. */
  estimate(entry: CatalogEntry): Promise<ModelEstimate | null> {
    const key = `${entry.file}\0${entry.loadKey}`;
    let p = this.estimates.get(key);
    if (!p) {
      p = (this.o.estimate ?? readEstimate)(entry, this.contextOf(entry)).then((e) => {
        this.known.set(key, e);
        return e;
      });
      this.estimates.set(key, p);
    }
    return p;
  }

  /**
   * Once a GPU is known, reads every built-in model's layout (one after another) so that a plan,
   * which cannot wait for a file, has the layers and VRAM lines from the first click.
   */
  private prefetch(): void {
    this.prefetched = true;
    const entries = this.t.o.catalog.list().filter((e) => e.status === 'ok' && (e.config.backend ?? BUILTIN_BACKEND) === BUILTIN_BACKEND);
    void entries.reduce<Promise<unknown>>((chain, e) => chain.then(() => (this.t.disposed ? null : this.estimate(e))), Promise.resolve());
  }

  private cachedEstimate(entry: CatalogEntry): ModelEstimate | null | undefined {
    const key = `${entry.file}\0${entry.loadKey}`;
    if (!this.known.has(key)) void this.estimate(entry);
    return this.known.get(key);
  }

  private measureKey(entry: CatalogEntry, type: GpuType | 'cpu'): string {
    return `${entry.name}\0${entry.loadKey}\0${type}`;
  }

  private request(entry: CatalogEntry, estimate: ModelEstimate, type: GpuType): LayerRequest {
    const c = entry.config;
    return {
      name: entry.name,
      estimate,
      gpuLayers: c.gpu_layers,
      kvOffload: !c.no_kv_offloading,
      baseBytes: this.correctedBase.get(this.measureKey(entry, type)) ?? PROCESS_BASE_BYTES[type],
    };
  }

  /** A CPU placement (no layout read needed: the header's block count gives the total). */
  private cpuUse(entry: CatalogEntry, note: string, estimate?: ModelEstimate | null): GpuUse {
    const total = estimate?.totalLayers ?? (entry.gguf?.blockCount ? entry.gguf.blockCount + 1 : 0);
    return { placement: { device: 'cpu', gpuLayers: 0, totalLayers: total }, vramEstimateBytes: 0, baseBytes: 0, note, measureKey: this.measureKey(entry, 'cpu') };
  }

  private cpuNote(entry: CatalogEntry): string | null {
    const setting = this.t.o.settings().gpu;
    if (entry.config.gpu_layers === 0) return 'runs on the CPU: gpu_layers is 0 in its config';
    if (setting === 'cpu') return 'runs on the CPU: the gpu setting is cpu';
    const fallback = this.monitor.fallbackReason();
    if (fallback) return `runs on the CPU: ${fallback}`;
    const picked = pickDevice(setting, this.monitor.devices(0));
    return picked.device ? null : `runs on the CPU: ${picked.why}`;
  }

  private useOf(entry: CatalogEntry, d: LayerDecision, req: LayerRequest): GpuUse {
    const all = d.placement.gpuLayers === d.placement.totalLayers;
    const type = d.placement.device === 'cpu' ? 'cpu' : d.placement.device;
    return { placement: d.placement, vramEstimateBytes: d.vramNeedBytes, baseBytes: d.placement.gpuLayers > 0 ? (req.baseBytes ?? 0) : 0, note: all ? null : d.reason, measureKey: this.measureKey(entry, type) };
  }

  /** Asks a started built-in backend for its GPU report until llama.cpp has started (null: it never did). */
  private async report(host: ModelHost, signal: AbortSignal): Promise<GpuReport | null> {
    const deadline = this.t.o.clock.now() + this.t.o.settings().start_timeout * 1000;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      const status = await host.client.status({ timeoutMs: 2000 }).catch(() => null);
      const text = status?.gpu ?? '';
      if (text) return parseGpuReport(text);
      // No answer at all, an exit, or too long: LoadModel will say what is wrong.
      if (!status || this.t.o.clock.now() >= deadline) return null;
      const exited = await Promise.race([host.exited.then(() => true), this.t.sleep(REPORT_POLL_MS).then(() => false)]);
      if (exited) return null;
    }
  }

  private async learnFrom(host: ModelHost, signal: AbortSignal): Promise<void> {
    const report = await this.report(host, signal);
    if (report) this.monitor.learn(report);
    this.emitDevices();
  }

  /**
   * V5-V9: the layers a built-in load gets, after the VRAM admission (the warm standby first, then
   * idle GPU models least recently used first; busy ones waited for up to eviction_wait when an
   * explicit gpu_layers needs them). Runs once the backend has started, so its own Status gives
   * fresh figures (and, the first time, the detection). Sets `rt.gpu`.
   */
  async place(rt: Runtime, entry: CatalogEntry, host: ModelHost, signal: AbortSignal): Promise<number> {
    const layers = await this.decideLayers(rt, entry, host, signal);
    // V14: a model loaded while the CUDA pack is on its way runs on what there was; its row says
    // how to move it once the pack is in (a restart of its backend, which the user decides).
    const arriving = this.monitor.runtimeArriving();
    if (arriving && rt.gpu && rt.gpu.placement.device !== arriving && entry.config.gpu_layers !== 0 && this.t.o.settings().gpu !== 'cpu') {
      const hint = `loaded while the ${arriving} runtime was being fetched: unload and load it again once that is installed to run on ${arriving}`;
      rt.gpu = { ...rt.gpu, note: rt.gpu.note ? `${rt.gpu.note}; ${hint}` : hint };
    }
    return layers;
  }

  private async decideLayers(rt: Runtime, entry: CatalogEntry, host: ModelHost, signal: AbortSignal): Promise<number> {
    if (this.monitor.needsReport()) await this.learnFrom(host, signal);
    const setting = this.t.o.settings().gpu;
    const note = this.cpuNote(entry);
    if (note) {
      rt.gpu = this.cpuUse(entry, note);
      return 0;
    }
    const estimate = await this.estimate(entry);
    if (!estimate) {
      rt.gpu = this.cpuUse(entry, 'runs on the CPU: its GGUF header could not be read to size it for the GPU');
      return 0;
    }
    let idleDeadline: number | null = null;
    for (;;) {
      if (signal.aborted) throw signal.reason;
      // GPU models on their way out free VRAM only once their process has exited.
      if (this.vramModels(rt.name).some((m) => m.state === 'stopping' && m.vramBytes > 0)) {
        await this.t.nextChange(undefined, signal);
        await this.learnFrom(host, signal);
        continue;
      }
      const device = pickDevice(setting, this.devices()).device;
      if (!device) {
        rt.gpu = this.cpuUse(entry, this.cpuNote(entry) ?? 'runs on the CPU: no GPU was found', estimate);
        return 0;
      }
      const req = this.request(entry, estimate, device.type);
      // A reading taken since this backend started already has its process base as used.
      const started = this.monitor.readAt() >= (rt.loadStartedAt ?? Infinity);
      const devices = this.devices().map((g) => (started && g.type === device.type ? { ...g, freeBytes: g.freeBytes + (req.baseBytes ?? 0) } : g));
      const s = this.t.o.settings();
      const d = decideVramAdmission({
        models: this.vramModels(rt.name),
        target: req,
        gpu: setting,
        devices,
        limits: { vram_budget: s.vram_budget, vram_reserve: s.vram_reserve, eviction_wait: s.eviction_wait },
        leaving: new Set(),
        standbyVramBytes: this.o.standby?.vramBytes() ?? 0,
      });
      if (d.kind === 'fail') throw new LoadoutError('memory', d.message);
      if (!d.stopStandby && d.unloads.length === 0 && d.waitIdle.length === 0) {
        rt.gpu = this.useOf(entry, d.layers, req);
        this.t.log(rt.name, d.layers.reason);
        return d.layers.placement.gpuLayers;
      }
      let waitMs: number | undefined;
      if (d.waitIdle.length === 0) {
        for (const u of d.unloads) {
          this.t.log(rt.name, `making room: ${u.sentence}`);
          void this.unload(u.name, { reason: u.reason, sentence: u.sentence, by: rt.name }).catch(() => {});
        }
        if (d.stopStandby) {
          this.t.log(rt.name, 'making room in VRAM: stopping the warm standby backend');
          await this.o.standby?.drop();
          if (d.unloads.length === 0) {
            await this.learnFrom(host, signal);
            continue;
          }
        }
      } else {
        const now = this.t.o.clock.now();
        idleDeadline ??= now + s.eviction_wait * 1000;
        if (now >= idleDeadline && d.timeout) throw new LoadoutError(d.timeout.code, d.timeout.message, { retryAfter: 5 });
        waitMs = idleDeadline - now;
      }
      await this.t.nextChange(waitMs ?? GPU_REFRESH_MS, signal);
      await this.learnFrom(host, signal);
    }
  }

  /** The GPU report in a Status the loader asked for anyway (after a load): fresher VRAM figures. */
  noteStatus(gpu: string | undefined): void {
    const report = parseGpuReport(gpu);
    if (report) this.monitor.learn(report);
  }

  /** V4: after the load, the backend's measured VRAM replaces the estimate for the next load of the same model and settings. */
  measured(rt: Runtime, vram: number, gpuLayers: number | undefined, totalLayers: number | undefined): void {
    const g = rt.gpu;
    if (!g) return;
    if (gpuLayers !== undefined && totalLayers !== undefined && totalLayers > 0) {
      g.placement = { ...g.placement, gpuLayers: Math.min(gpuLayers, totalLayers), totalLayers };
    }
    if (g.placement.gpuLayers === 0) return;
    this.scheduleRefresh();
    if (vram > 0) {
      // The estimate is base + the rest; the backend measures the rest. The next estimate at these
      // layers is then base + measured: the base that makes it so is kept.
      this.correctedBase.set(g.measureKey, Math.max(0, g.baseBytes + vram - (g.vramEstimateBytes - g.baseBytes)));
    }
  }

  /** Plan lines (E3, V6, V7): the sync view of what `place` would decide now, when the layout is known. */
  plan(entry: CatalogEntry, leaving: ReadonlySet<string>): { layers: LayerDecision | null; stopStandby: boolean; unloads: PlannedUnload[]; failure: string | null } {
    const none = { layers: null, stopStandby: false, unloads: [], failure: null };
    if (this.cpuNote(entry)) return none;
    const estimate = this.cachedEstimate(entry);
    if (!estimate) return none;
    const setting = this.t.o.settings().gpu;
    const devices = this.devices();
    const device = pickDevice(setting, devices).device;
    if (!device) return none;
    const s = this.t.o.settings();
    const d = decideVramAdmission({
      models: this.vramModels(entry.name),
      target: this.request(entry, estimate, device.type),
      gpu: setting,
      devices,
      limits: { vram_budget: s.vram_budget, vram_reserve: s.vram_reserve, eviction_wait: s.eviction_wait },
      leaving,
      standbyVramBytes: this.o.standby?.vramBytes() ?? 0,
    });
    if (d.kind === 'fail') return { ...none, failure: d.message };
    const unloads = [
      ...d.unloads,
      ...d.waitIdle.map((u) => ({ ...u, sentence: `${u.sentence} (busy: waits up to ${s.eviction_wait} s for it to finish)` })),
    ];
    return { layers: d.layers, stopStandby: d.stopStandby, unloads, failure: null };
  }

  /** Starts the 5 s device refresh while GPU models are resident (clarification 4). */
  scheduleRefresh(): void {
    if (this.refreshTimer !== null || this.t.disposed) return;
    this.refreshTimer = this.t.o.clock.setTimeout(() => void this.refresh(), GPU_REFRESH_MS);
  }

  stop(): void {
    this.t.o.clock.clearTimeout(this.refreshTimer);
    this.refreshTimer = null;
  }

  private gpuHosts(): { rt: Runtime; host: ModelHost }[] {
    const out: { rt: Runtime; host: ModelHost }[] = [];
    for (const rt of this.t.runtimes.values()) {
      if (rt.host && rt.host.kind === 'local' && isResident(rt.state) && this.vramOf(rt) > 0) out.push({ rt, host: rt.host });
    }
    return out;
  }

  /** Reads fresh VRAM figures from a GPU model's backend, then lets the reclaimer act (V10). */
  private async refresh(): Promise<void> {
    this.refreshTimer = null;
    const hosts = this.gpuHosts();
    if (hosts.length === 0 || this.t.disposed) return;
    const status = await hosts[0].host.client.status({ timeoutMs: 2000 }).catch(() => null);
    const report = parseGpuReport(status?.gpu);
    if (report) this.monitor.learn(report);
    this.emitDevices();
    this.reclaim();
    this.scheduleRefresh();
  }

  /** V10: other programs' VRAM use over the threshold unloads idle GPU models, least recently used first. */
  reclaim(): void {
    const s = this.t.o.settings();
    if (!s.vram_reclaimer) return;
    const device = this.monitor.devices(this.usedByLoadout())[0];
    if (!device) return;
    const d = decideVramPressure({ models: this.vramModels(''), device, threshold: s.vram_threshold, standbyVramBytes: this.o.standby?.vramBytes() ?? 0 });
    if (d.stopStandby) void this.o.standby?.drop();
    for (const u of d.unloads) void this.unload(u.name, { reason: u.reason, sentence: u.sentence }).catch(() => {});
  }
}
