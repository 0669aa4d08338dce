/**
 * `npm run bench:gpu-auto` (GPU V2): what `gpu: auto` costs a cold load against `gpu: cpu` on this
 * machine, warm standby off. Three cases, interleaved so machine noise hits all of them:
 *   - cpu:        `gpu: cpu`, a fresh core (the CPU path as before the GPU work);
 *   - auto, kept: `gpu: auto` with the detection an earlier run kept (what every run but the first
 *                 pays: the backend starts on the type detection found, here the CPU);
 *   - auto, first run: `gpu: auto` on a fresh data folder (node-llama-cpp tests the GPU types
 *                 once in the backend itself; the core learns the result from its Status).
 * Each figure is Load() to ready on a fresh core. Goal (issue 12): auto <= 1.1x cpu.
 *
 * Environment: BENCH_RUNS (rounds, default 5), BENCH_PRESET (tiny | small, default tiny).
 */
import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { createCore } from '../src/main/core/createCore';
import { makeModel, type ModelPreset } from '../src/main/core/gguf/makeModel';
import type { GpuSetting } from '../src/shared/model';
import { spread, summarize, table } from './bench/stats';

const RUNS = Math.max(3, Number(process.env.BENCH_RUNS) || 5);
const PRESET = (process.env.BENCH_PRESET === 'small' ? 'small' : 'tiny') as ModelPreset;

const root = mkdtempSync(join(os.tmpdir(), 'loadout-bench-gpu-'));
const modelsDir = join(root, 'models');
let dirs = 0;

/** One cold load on a fresh core over `dataDir`; returns Load() to ready in ms. */
async function coldLoad(gpu: GpuSetting, dataDir: string): Promise<number> {
  const core = await createCore({ dataDir, overrides: { models_dir: modelsDir, warm_standby: false, gpu }, demoModel: false });
  try {
    const start = performance.now();
    const row = await core.commands.load('bench');
    const took = performance.now() - start;
    if (row.state !== 'ready') throw new Error(`bench did not load: ${row.failure?.message ?? row.state}`);
    return took;
  } finally {
    await core.dispose();
  }
}

const fresh = () => join(root, `data-${dirs++}`);

async function main(): Promise<void> {
  mkdirSync(modelsDir, { recursive: true });
  await makeModel(join(modelsDir, 'bench.gguf'), { preset: PRESET, seed: 11 });
  // The data folder whose detection is kept, as after any earlier run.
  const kept = fresh();
  await coldLoad('auto', kept);
  const cases: Record<string, { run: () => Promise<number>; ms: number[] }> = {
    cpu: { run: () => coldLoad('cpu', fresh()), ms: [] },
    'auto, detection kept': { run: () => coldLoad('auto', kept), ms: [] },
    'auto, first run': { run: () => coldLoad('auto', fresh()), ms: [] },
  };
  for (let i = 0; i < RUNS; i++) {
    const line: string[] = [];
    for (const [name, c] of Object.entries(cases)) {
      const took = await c.run();
      c.ms.push(took);
      line.push(`${name} ${took.toFixed(0)} ms`);
    }
    process.stdout.write(`  round ${i + 1}: ${line.join(' | ')}\n`);
  }
  const cpu = summarize(cases.cpu.ms);
  const rows = Object.entries(cases).map(([name, c]) => {
    const s = summarize(c.ms);
    return [name, spread(s, 0, ' ms'), `${(s.median / cpu.median).toFixed(2)}x`];
  });
  process.stdout.write(`\nCold load of ${PRESET}, warm standby off, ${RUNS} rounds (median, min-max):\n`);
  process.stdout.write(`${table(['case', 'Load() to ready', 'vs cpu'], rows)}\n`);
  const kept2 = summarize(cases['auto, detection kept'].ms).median / cpu.median;
  process.stdout.write(`goal: gpu auto <= 1.10x gpu cpu: ${kept2.toFixed(2)}x with the detection kept (${kept2 <= 1.1 ? 'met' : 'missed'})\n`);
}

main()
  .catch((e: unknown) => {
    process.stderr.write(`bench:gpu-auto could not measure: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exitCode = 1;
  })
  .finally(() => rmSync(root, { recursive: true, force: true }));
