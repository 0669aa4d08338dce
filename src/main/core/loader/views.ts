/** What the loader shows (E1, E3): model rows, the snapshot and the dry run of a load. */
import { toErrorData } from '../../../shared/errors';
import type { ModelRow, Plan, Snapshot } from '../../../shared/model';
import { isOccupying, isResident, samplingDefaults } from '../../../shared/model';
import { parallelOf } from '../catalog/options';
import type { CatalogEntry } from '../catalog/types';
import { BUILTIN_BACKEND } from '../backends/registry';
import { builtinModelOptions } from '../gpu/configKeys';
import type { LoaderGpu } from './gpu';
import { decideAdmission } from './policy';
import type { Runtime } from './runtime';
import type { ModelTable } from './table';

/** E3: the same decision a load acts on, shown before the user clicks. */
export function planOf(table: ModelTable, gpu: LoaderGpu, name: string): Plan {
  const entry = table.o.catalog.get(name);
  if (!entry) return { model: name, ok: false, unloads: [], failure: { code: 'not_found', message: `There is no model named "${name}".` } };
  const rt = table.runtimes.get(name);
  if (rt && (isResident(rt.state) || rt.loading)) return { model: name, ok: true, unloads: [], failure: null };
  try {
    table.loadableEntry(name);
  } catch (e) {
    return { model: name, ok: false, unloads: [], failure: toErrorData(e, 'invalid') as Plan['failure'] };
  }
  const decision = decideAdmission(table.policyView(), table.policyTarget(entry), table.o.settings());
  if (decision.kind === 'fail') return { model: name, ok: false, unloads: [], failure: { code: decision.code, message: decision.message } };
  const unloads =
    decision.kind === 'admit'
      ? []
      : [
          ...decision.unloads,
          ...decision.waitIdle.map((u) => ({ ...u, sentence: `${u.sentence} (busy: waits up to ${table.o.settings().eviction_wait} s for it to finish)` })),
        ];
  if ((entry.config.backend ?? BUILTIN_BACKEND) !== BUILTIN_BACKEND) return { model: name, ok: true, unloads, failure: null };
  // V6/V7: the built-in backend's layers and the GPU models that make room for them.
  const leaving = new Set(decision.kind === 'admit' ? [] : [...unloads.map((u) => u.name), ...decision.waitExit]);
  const vram = gpu.plan(entry, leaving);
  if (vram.failure) return { model: name, ok: false, unloads: [], failure: { code: 'memory', message: vram.failure } };
  const layers = vram.layers;
  const standby = vram.stopStandby ? 'stops the warm standby backend to free its VRAM, then ' : '';
  return {
    model: name,
    ok: true,
    unloads: [...unloads, ...vram.unloads],
    failure: null,
    gpu: layers ? { placement: layers.placement, vramEstimateBytes: layers.vramNeedBytes, sentence: `${standby}${layers.reason}` } : null,
  };
}

export function snapshotOf(table: ModelTable, gpu: LoaderGpu): Snapshot {
  const names = new Set<string>();
  for (const e of table.o.catalog.list()) names.add(e.name);
  for (const rt of table.runtimes.values()) if (rt.state !== 'unloaded' || rt.loading) names.add(rt.name);
  const models = [...names].sort().map((n) => table.rowOf(n));
  const lru = [...table.runtimes.values()].filter((r) => isResident(r.state)).sort((a, b) => a.lastUsed - b.lastUsed).map((r) => r.name);
  const groups: Record<string, string[]> = {};
  for (const m of models) for (const g of m.groups) (groups[g] ??= []).push(m.name);
  const pending = [...table.runtimes.values()].filter((r) => r.loading).map((r) => r.name);
  return { models, lru, groups, pending, settings: table.o.settings(), gpus: gpu.monitor.devices(gpu.usedByLoadout()), gpuNotice: gpu.monitor.note() };
}

const iso = (ms: number | null) => (ms ? new Date(ms).toISOString() : null);

export function buildRow(name: string, entry: CatalogEntry | undefined, rt: Runtime | undefined, estimate: (e: CatalogEntry) => number | null): ModelRow {
  const c = entry?.config;
  const state = rt?.state ?? 'unloaded';
  return {
    name,
    status: entry?.status ?? 'error',
    error: entry ? entry.error : 'its config was removed',
    backend: c?.backend ?? 'llama-cpp',
    file: entry?.file ?? entry?.uri ?? null,
    sizeBytes: entry?.sizeBytes ?? null,
    groups: c?.concurrency_groups ?? [],
    pinned: c?.pinned ?? false,
    state,
    failure: rt?.failure ?? null,
    pid: rt?.host?.pid ?? null,
    address: rt?.host?.address ?? null,
    loadedAt: isResident(state) ? iso(rt?.loadedAt ?? null) : null,
    loadStartedAt: rt?.loading || state === 'starting' || state === 'loading' ? iso(rt?.loadStartedAt ?? null) : null,
    lastUsed: iso(rt?.lastUsed || null),
    inFlight: rt?.requests.size ?? 0,
    queued: (rt?.queue.length ?? 0) + (rt?.waitingThreads ?? 0),
    progress: state === 'starting' || state === 'loading' ? (rt?.progress ?? null) : null,
    memory: {
      estimateBytes: entry ? estimate(entry) : null,
      rssBytes: rt?.host && isOccupying(state) ? rt.rssBytes : null,
      vramBytes: rt?.host && isOccupying(state) ? rt.vramBytes : null,
      vramEstimateBytes: rt?.gpu && isOccupying(state) ? rt.gpu.vramEstimateBytes : null,
    },
    ttl: c?.ttl ?? null,
    contextSize: c?.context_size ?? entry?.gguf?.contextLength ?? null,
    parallel: entry ? parallelOf(entry.config) : 1,
    configPath: entry?.configPath ?? null,
    gguf: entry?.gguf ?? null,
    reloadPending: !!(rt?.loadKey && entry && isResident(state) && rt.loadKey !== entry.loadKey),
    templateWarning: rt?.templateWarning ?? null,
    warnings: c && (c.backend ?? BUILTIN_BACKEND) === BUILTIN_BACKEND ? builtinModelOptions(c, 0).warnings : [],
    remote: rt?.host?.kind === 'remote',
    placement: rt?.gpu && isOccupying(state) ? { ...rt.gpu.placement, note: rt.gpu.note } : null,
    sampling: samplingDefaults(c?.parameters),
    cluster: c?.cluster ?? null,
  };
}
