/**
 * `npm run bench:gpu-auto` (V2): on a machine without a GPU, a cold load with the warm standby off
 * and `gpu: auto` costs at most 1.1x the same load with `gpu: cpu`.
 *
 * Since the installers carry node-llama-cpp's Vulkan build (V14), `getLlama({gpu: "auto"})` tries
 * it first wherever a Vulkan loader library is installed, GPU or not (it goes by the library's
 * presence), and pays a failing self-test before the CPU build. The core passes `auto` only to the
 * first backend of a data folder with no kept detection (it learns the result from that backend's
 * Status and keeps it); later backends get what was found (the CPU here), which this measures,
 * with the first-run load as an informative figure. Scenarios: this machine as it is, and,
 * where Chromium's own Vulkan loader is installed (/usr/lib/chromium/libvulkan.so.1), the same
 * machine with that loader on LD_LIBRARY_PATH: a desktop with a Vulkan loader and no GPU.
 *
 * Each variant is a real core (warm standby off) over the bundled backend, loading `small` cold
 * (spawn, Health, LoadModel) in interleaved rounds. `ROUNDS=n` (default 5).
 */
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { builtinLlamaCommand, LLAMA_BACKEND_OVERRIDE } from '../src/main/core/backends/builtin';
import { createCore, type Core } from '../src/main/core/createCore';
import { detectGpu, resolveBackendGpu } from '../src/main/core/gpu/detect';
import { DetectionCache } from '../src/main/core/gpu/detectionCache';
import { makeModel } from '../src/main/core/gguf/makeModel';
import type { GpuSetting } from '../src/shared/model';
import { appBackendEntry } from './bench/bundle';
import { median } from './bench/stats';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const ROUNDS = Math.max(1, Number(process.env.ROUNDS ?? 5));
const CHROMIUM_VULKAN = '/usr/lib/chromium';

const say = (line: string) => process.stdout.write(`${line}\n`);
const cores: Core[] = [];
const temp: string[] = [];

async function cleanup(): Promise<void> {
  for (const core of cores.splice(0)) await core.dispose().catch(() => {});
  for (const dir of temp.splice(0)) rmSync(dir, { recursive: true, force: true });
}
for (const signal of ['SIGINT', 'SIGTERM'] as const) process.on(signal, () => void cleanup().finally(() => process.exit(130)));

interface Variant {
  label: string;
  gpu: GpuSetting;
  official: boolean;
  /** A fresh core and data folder for every load (nothing detected yet). */
  firstRun: boolean;
}

function newCore(root: string, modelsDir: string, gpu: GpuSetting): Promise<Core> {
  return createCore({ dataDir: mkdtempSync(join(root, 'data-')), overrides: { models_dir: modelsDir, warm_standby: false, gpu }, demoModel: false });
}

/** One scenario: what detection finds, then interleaved cold loads of each variant. */
async function scenario(name: string, env: Record<string, string>, root: string, modelsDir: string): Promise<Record<string, unknown>> {
  const saved = { ...process.env };
  Object.assign(process.env, env);
  try {
    // What the app does once per run (cached across runs): the probe with gpu auto.
    const t = performance.now();
    const { detection } = await detectGpu({ command: builtinLlamaCommand(), cache: new DetectionCache(mkdtempSync(join(root, 'det-'))), key: name, now: Date.now });
    const probeMs = performance.now() - t;
    const resolved = resolveBackendGpu('auto', detection);
    say(`\n${name}: detection ${JSON.stringify(detection.gpu)} in ${probeMs.toFixed(0)} ms (${detection.fallbackReason ?? 'GPU found'}); gpu auto starts backends with "${resolved}"`);
    const variants: Variant[] = [
      { label: 'gpu cpu', gpu: 'cpu', official: true, firstRun: false },
      { label: `gpu auto (detection kept: as the app runs, backends start with "${resolved}")`, gpu: 'auto', official: true, firstRun: false },
      { label: 'gpu auto on a first run (nothing detected yet) [info]', gpu: 'auto', official: false, firstRun: true },
    ];
    const runs = new Map<string, number[]>(variants.map((v) => [v.label, []]));
    const coreOf = new Map<string, Core>();
    for (const v of variants.filter((x) => !x.firstRun)) {
      const core = await newCore(root, modelsDir, v.gpu);
      cores.push(core);
      coreOf.set(v.label, core);
      // The first load of a run is where `auto` learns (and keeps) the detection: not measured.
      await core.commands.load('small');
      await core.commands.unload('small');
    }
    for (let round = 1; round <= ROUNDS; round++) {
      const line: string[] = [];
      for (const v of variants) {
        const core = v.firstRun ? await newCore(root, modelsDir, v.gpu) : coreOf.get(v.label)!;
        if (v.firstRun) cores.push(core);
        const start = performance.now();
        await core.commands.load('small');
        const ms = performance.now() - start;
        await core.commands.unload('small');
        if (v.firstRun) await core.dispose();
        runs.get(v.label)!.push(ms);
        line.push(`${v.label.split(' (')[0].split(' before')[0]}${v.official ? '' : ' (uncached)'} ${ms.toFixed(0)} ms`);
      }
      say(`  round ${round}: ${line.join(' | ')}`);
    }
    const cpu = median(runs.get(variants[0].label)!);
    const figures = variants.map((v) => ({ variant: v.label, gpu: v.gpu, medianMs: Math.round(median(runs.get(v.label)!)), ratio: median(runs.get(v.label)!) / cpu, official: v.official }));
    for (const f of figures) {
      const verdict = f.official && f !== figures[0] ? (f.ratio <= 1.1 ? '  met (<= 1.10x)' : '  NOT MET (<= 1.10x)') : '';
      say(`  ${f.variant}: ${f.medianMs} ms median, ${f.ratio.toFixed(2)}x gpu cpu${verdict}`);
    }
    return { scenario: name, detection: detection.gpu, reason: detection.fallbackReason, probeMs: Math.round(probeMs), figures };
  } finally {
    for (const core of cores.splice(0)) await core.dispose().catch(() => {});
    for (const k of Object.keys(process.env)) if (!(k in saved)) delete process.env[k];
    Object.assign(process.env, saved);
  }
}

async function main(): Promise<number> {
  const root = mkdtempSync(join(os.tmpdir(), 'loadout-bench-gpu-'));
  temp.push(root);
  const tmpDir = join(ROOT, '.tmp', `bench-gpu-${process.pid}`);
  mkdirSync(tmpDir, { recursive: true });
  temp.push(tmpDir);
  say(`gpu auto vs gpu cpu, cold load of small with the warm standby off: ${ROUNDS} interleaved rounds, node ${process.version}, ${os.cpus().length} CPUs, load average ${os.loadavg()[0].toFixed(1)}`);
  // The app's own build, as it ships (no tsx loader in the backend).
  process.env[LLAMA_BACKEND_OVERRIDE] = appBackendEntry();
  const modelsDir = join(root, 'models');
  mkdirSync(modelsDir);
  await makeModel(join(modelsDir, 'small.gguf'), { preset: 'small', seed: 7 });

  const results = [await scenario('this machine', {}, root, modelsDir)];
  if (existsSync(join(CHROMIUM_VULKAN, 'libvulkan.so.1'))) {
    results.push(await scenario('with a Vulkan loader (Chromium’s) and no GPU', { LD_LIBRARY_PATH: [CHROMIUM_VULKAN, process.env.LD_LIBRARY_PATH].filter(Boolean).join(':') }, root, modelsDir));
  } else {
    say(`\n(no ${CHROMIUM_VULKAN}/libvulkan.so.1: the Vulkan-loader scenario is not measured here)`);
  }
  mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench-results', 'gpu-auto.json'), `${JSON.stringify({ at: new Date().toISOString(), rounds: ROUNDS, loadAverage: os.loadavg()[0], results }, null, 2)}\n`);
  const failed = results.some((r) => (r.figures as { official: boolean; ratio: number }[]).slice(1).some((f) => f.official && f.ratio > 1.1));
  return failed ? 1 : 0;
}

main()
  .then(async (code) => {
    await cleanup();
    process.exit(code);
  })
  .catch(async (e: unknown) => {
    process.stderr.write(`${e instanceof Error ? (e.stack ?? e.message) : String(e)}\n`);
    await cleanup();
    process.exit(2);
  });
