import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type * as NodeLlamaCpp from 'node-llama-cpp';
import type { GpuSetting } from '../../shared/model';
import { GPU_CHOICES } from '../../shared/settings';

export type NodeLlamaModule = typeof NodeLlamaCpp;

/** The environment variable the core sets to the `gpu` setting (resolved with its detection cache, V2). */
export const GPU_ENV = 'LOADOUT_GPU';

/**
 * The `gpu` choice from the environment. Unset means the CPU: a backend started without the
 * core (a test, a hand-run) keeps today's CPU path; the core always says.
 */
export function gpuFromEnv(env: NodeJS.ProcessEnv): GpuSetting {
  const value = env[GPU_ENV]?.trim().toLowerCase() ?? '';
  return (GPU_CHOICES as readonly string[]).includes(value) ? (value as GpuSetting) : 'cpu';
}

/** V1: what the backend asked node-llama-cpp for, what it got, and why not the GPU. */
export interface GpuOutcome {
  requested: GpuSetting;
  used: NodeLlamaCpp.LlamaGpuType;
  /** Why a GPU was asked for and the CPU is used; null when there was no fallback. */
  fallbackReason: string | null;
}

/** node-llama-cpp's module and its llama.cpp binding, ready to load models. */
export interface LlamaRuntime {
  mod: NodeLlamaModule;
  llama: NodeLlamaCpp.Llama;
  gpu: GpuOutcome;
  /**
   * llama.cpp's error lines logged after `performance.now()` was `since`. A failed load throws
   * "Failed to load model"; the reason ("tensor ... is not within the file bounds") is only logged.
   */
  errorsSince(since: number): string[];
}

export type Log = (line: string) => void;

/**
 * The folder where node-llama-cpp, as patched at install (scripts/patch-node-llama-cpp.ts),
 * remembers binaries that passed its self-test, so a fresh backend does not fork a child to test
 * the same binary again (about 0.5-1 s of every start). Per user, and in tmp so a reboot (a new
 * driver, say) tests again.
 */
export const PASSED_BINARY_TESTS_ENV = 'LOADOUT_PASSED_BINARY_TESTS';

export function passedBinaryTestsFolder(): string {
  return join(tmpdir(), `loadout-passed-binary-tests-${process.getuid?.() ?? 'user'}`);
}

const ms = (from: number): string => `${Math.round(performance.now() - from)} ms`;

/**
 * Imports node-llama-cpp and loads llama.cpp's binary for the `gpu` choice, a big part of a
 * backend's start (the import ~0.1 s from the app's build, where node-llama-cpp is inlined; 0.4-0.6 s
 * from its ~500 separate modules, as under tsx), so main.ts starts it before binding the gRPC
 * server. The import is dynamic so that nothing else waits for it.
 */
export async function startLlamaRuntime(
  log: Log,
  gpu: GpuSetting = gpuFromEnv(process.env),
  importModule: () => Promise<NodeLlamaModule> = () => import('node-llama-cpp'),
): Promise<LlamaRuntime> {
  let t = performance.now();
  const mod = await importModule();
  log(`import node-llama-cpp ${ms(t)}`);
  t = performance.now();
  const errors: Array<{ at: number; text: string }> = [];
  // getLlama tests the prebuilt binary in a forked child, which inherits our execArgv. That child
  // runs node-llama-cpp's own JavaScript only: a TypeScript loader (`--import tsx` in headless
  // dev mode) just makes it start slower (about 0.3 s here). Under Electron there is none.
  process.execArgv = withoutTypeScriptLoader(process.execArgv);
  process.env[PASSED_BINARY_TESTS_ENV] ??= passedBinaryTestsFolder();
  const options: NodeLlamaCpp.LlamaOptions = {
    // Never compile llama.cpp from source: if the prebuilt binary does not work, node-llama-cpp
    // would otherwise silently build for minutes. Fail instead, with a message (NoBinaryFoundError).
    build: 'never',
    skipDownload: true,
    // No cap of node-llama-cpp's own: a context gets exactly the threads LoadModel asks for (the
    // app shares one CPU budget across models, R6).
    maxThreads: 0,
    progressLogs: false,
    logLevel: mod.LlamaLogLevel.warn,
    logger: (level, message) => {
      const text = message.trim();
      if (!text) return;
      log(`llama.cpp ${level}: ${text}`);
      if (level === mod.LlamaLogLevel.error || level === mod.LlamaLogLevel.fatal) {
        errors.push({ at: performance.now(), text });
        if (errors.length > 20) errors.shift();
      }
    },
  };
  const { llama, outcome } = await openLlama(mod, gpu, options);
  log(`getLlama ${ms(t)} (${llama.buildType} binary, gpu ${outcome.used || 'none'}${outcome.fallbackReason ? `: ${outcome.fallbackReason}` : ''})`);
  return { mod, llama, gpu: outcome, errorsSince: (since) => errors.filter((e) => e.at >= since).map((e) => e.text) };
}

/**
 * V1: getLlama with the `gpu` choice, falling back to the CPU with the reason when the GPU
 * binary cannot load (no driver, no device, a failing self-test). The only code here that
 * cannot run without a GPU is node-llama-cpp's own.
 */
export async function openLlama(
  mod: Pick<NodeLlamaModule, 'getLlama' | 'getLlamaGpuTypes'>,
  gpu: GpuSetting,
  options: NodeLlamaCpp.LlamaOptions,
): Promise<{ llama: NodeLlamaCpp.Llama; outcome: GpuOutcome }> {
  if (gpu === 'cpu') {
    const llama = await mod.getLlama({ ...options, gpu: false });
    return { llama, outcome: { requested: gpu, used: llama.gpu, fallbackReason: null } };
  }
  let reason: string;
  try {
    const llama = await mod.getLlama({ ...options, gpu });
    if (llama.gpu !== false) return { llama, outcome: { requested: gpu, used: llama.gpu, fallbackReason: null } };
    // Auto found nothing usable and already runs on the CPU; say why.
    const supported = (await mod.getLlamaGpuTypes('supported')).filter(Boolean);
    reason =
      supported.length === 0
        ? 'no GPU found (node-llama-cpp finds no CUDA, Vulkan or Metal driver on this machine)'
        : `the ${supported.join(' and ')} binary did not pass node-llama-cpp's self-test`;
    return { llama, outcome: { requested: gpu, used: false, fallbackReason: reason } };
  } catch (e) {
    const message = e instanceof Error ? e.message : String(e);
    reason = `${gpu} could not be used: ${message === 'NoBinaryFoundError' ? `no working ${gpu} binary for this machine (driver or device missing)` : message}`;
  }
  const llama = await mod.getLlama({ ...options, gpu: false });
  return { llama, outcome: { requested: gpu, used: false, fallbackReason: reason } };
}

/** What `main --probe` prints (one JSON line): the GPU node-llama-cpp settled on, and its VRAM (V2, V3). */
export interface GpuProbe extends GpuOutcome {
  deviceNames: string[];
  vram: { total: number; used: number; free: number; unifiedSize: number };
  /**
   * The GPU types whose driver node-llama-cpp finds on this machine, binaries or not (V14: CUDA
   * here while `used` is not CUDA means the CUDA pack is worth fetching).
   */
  supportedGpuTypes: NodeLlamaCpp.LlamaGpuType[];
}

export async function probeGpu(runtime: LlamaRuntime): Promise<GpuProbe> {
  const [deviceNames, vram, supportedGpuTypes] = await Promise.all([
    runtime.llama.getGpuDeviceNames(),
    runtime.llama.getVramState(),
    runtime.mod.getLlamaGpuTypes('supported'),
  ]);
  return { ...runtime.gpu, deviceNames, vram, supportedGpuTypes };
}

/** `execArgv` minus `--import tsx` / `--loader tsx` / `--require tsx` (in any of their spellings). */
export function withoutTypeScriptLoader(execArgv: readonly string[]): string[] {
  const isTsx = (value: string): boolean => /(^|[\\/])tsx([\\/]|$)|^tsx(\/|$)/.test(value);
  const out: string[] = [];
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i];
    const m = /^(--import|--loader|--experimental-loader|--require|-r)(?:=(.*))?$/.exec(arg);
    if (m) {
      const value = m[2] ?? execArgv[i + 1] ?? '';
      if (isTsx(value)) {
        if (m[2] === undefined) i++;
        continue;
      }
    }
    out.push(arg);
  }
  return out;
}
