/**
 * A test fixture: a real `Loader` over the fake launcher and a `FakeClock`, with an in-memory
 * catalog. Its timeouts, waits and backoffs run in fake time (`advance`), never in real seconds.
 */
import type { CoreEvent, ModelState, Settings } from '../../../shared/model';
import { defaultSettings } from '../../../shared/settings';
import type { CatalogEntry, ModelConfig } from '../catalog/types';
import { FakeClock } from '../clock';
import { Journal } from '../journal';
import type { GpuDetection } from '../gpu/detectionCache';
import type { ModelEstimate } from '../gpu/estimate';
import { GpuMonitor } from '../gpu/monitor';
import { FakeLauncher } from './fakeLauncher';
import type { FakeBehaviour } from './fakeLauncher';
import { Loader } from './loader';
import type { LoaderOptions } from './loader';

export const MiB = 1024 ** 2;

export interface HarnessOptions {
  models: Record<string, Partial<ModelConfig> & { sizeBytes?: number }>;
  settings?: Partial<Settings>;
  behaviour?: Record<string, FakeBehaviour>;
  estimateMemory?: LoaderOptions['estimateMemory'];
  usage?: LoaderOptions['usage'];
  /** Models run on the built-in backend (its GPU placement and VRAM admission apply). */
  builtin?: boolean;
  /** GPU side: each model's layout (V4), an earlier run's detection, the warm standby. */
  gpu?: {
    estimates?: Record<string, ModelEstimate>;
    cached?: GpuDetection | null;
    standby?: { vramBytes(): number; drop(): Promise<void> };
  };
}

export function entryOf(name: string, c: Partial<ModelConfig> & { sizeBytes?: number } = {}): CatalogEntry {
  const { sizeBytes = 50 * MiB, ...config } = c;
  return {
    name,
    status: 'ok',
    error: null,
    config: { name, backend: 'fake', parameters: {}, stopwords: [], concurrency_groups: [], pinned: false, disabled: false, options: [], ...config },
    configPath: null,
    file: `/models/${name}.gguf`,
    uri: null,
    sizeBytes,
    gguf: null,
    loadKey: 'k1',
  };
}

export function loaderHarness(o: HarnessOptions) {
  const clock = new FakeClock();
  const launcher = new FakeLauncher(clock, (m) => o.behaviour?.[m] ?? {});
  const entries = new Map(Object.entries(o.models).map(([n, c]) => [n, entryOf(n, o.builtin ? { backend: 'llama-cpp', ...c } : c)]));
  const cacheWrites: GpuDetection[] = [];
  let settings: Settings = { ...defaultSettings(), ...o.settings };
  const journal = new Journal();
  const events: CoreEvent[] = [];
  const monitor = new GpuMonitor({ setting: () => settings.gpu, now: () => clock.now(), readCache: () => o.gpu?.cached ?? null, writeCache: (d) => cacheWrites.push(d) });
  const loader = new Loader({
    catalog: { get: (n) => entries.get(n), list: () => [...entries.values()], modelsDir: () => '/models' },
    backends: { resolve: (n) => ({ kind: 'program', name: n, command: n, args: [] }), candidatesFor: () => ['fake'] },
    launchers: { local: launcher, remote: launcher },
    settings: () => settings,
    clock,
    journal,
    emit: (e) => events.push(e),
    log: () => {},
    physicalCores: 8,
    estimateMemory: o.estimateMemory ?? ((e) => e.sizeBytes),
    usage: o.usage,
    gpu: {
      monitor,
      estimate: async (e) => o.gpu?.estimates?.[e.name] ?? null,
      standby: o.gpu?.standby,
    },
  });

  /** Lets promise chains run (no time passes). */
  const flush = async () => {
    for (let i = 0; i < 5; i++) await new Promise<void>((r) => setImmediate(r));
  };
  /** Moves fake time forward in small steps, letting the loader react between them. */
  const advance = async (ms: number, step = 50) => {
    await flush();
    for (let done = 0; done < ms; done += step) {
      clock.advance(Math.min(step, ms - done));
      await flush();
    }
  };
  /** The states a model went through, in order (E1). */
  const states = (name: string): ModelState[] =>
    events
      .filter((e): e is Extract<CoreEvent, { type: 'model' }> => e.type === 'model' && e.row.name === name)
      .map((e) => e.row.state)
      .filter((s, i, all) => i === 0 || all[i - 1] !== s);

  return {
    clock,
    launcher,
    loader,
    monitor,
    journal,
    events,
    cacheWrites,
    entries,
    flush,
    advance,
    states,
    setSettings: (patch: Partial<Settings>) => {
      settings = { ...settings, ...patch };
    },
    state: (name: string) => loader.rowOf(name).state,
  };
}

/** Settles a promise into a value or an error, so a test can look at it later. */
export function settle<T>(p: Promise<T>): { done: () => boolean; value: () => T | undefined; error: () => (Error & { code?: string; retryAfter?: number }) | undefined } {
  let done = false;
  let value: T | undefined;
  let error: (Error & { code?: string }) | undefined;
  p.then(
    (v) => {
      done = true;
      value = v;
    },
    (e) => {
      done = true;
      error = e;
    },
  );
  return { done: () => done, value: () => value, error: () => error };
}

/** Drains a stream in the background. */
export function drain(it: AsyncIterable<{ text: string }>) {
  return settle(
    (async () => {
      let text = '';
      for await (const c of it) text += c.text;
      return text;
    })(),
  );
}
