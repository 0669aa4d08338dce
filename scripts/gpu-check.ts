/**
 * `npm run gpu-check` (V15): what node-llama-cpp finds on this machine, and, where it finds a GPU,
 * a generated model loaded on it with all layers: layers offloaded, our VRAM estimate against the
 * measured VRAM, and tokens/s on the GPU against the CPU. Without a GPU it says so, with
 * node-llama-cpp's reason, and exits 0. Native code runs only in child processes (the backend's
 * `--probe`, then one per llama instance), so a failing GPU binary cannot take this process down.
 *
 * Usage: npm run gpu-check [-- --tokens 128]
 */
import { spawn } from 'node:child_process';
import fs from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { builtinLlamaCommand } from '../src/main/core/backends/builtin';
import { runProbe } from '../src/main/core/gpu/detect';
import { estimateModel, vramForLayers, type GpuType } from '../src/main/core/gpu/estimate';
import { formatVram } from '../src/main/core/gpu/placement';
import { makeModel } from '../src/main/core/gguf/makeModel';
import { readGgufHeader } from '../src/main/core/gguf/readGguf';

const CONTEXT = 512;

interface Bench {
  gpu: GpuType | false;
  gpuLayers: number;
  totalLayers: number;
  vramUsedBefore: number;
  vramUsedAfter: number;
  tokens: number;
  tokensPerSecond: number;
}

// ---------------------------------------------------------------------------------------------
// Children: the only code here that loads node-llama-cpp.

async function benchChild(gpu: 'auto' | 'cpu', modelPath: string, tokens: number): Promise<Bench> {
  const { getLlama, LlamaLogLevel } = await import('node-llama-cpp');
  const llama = await getLlama({ gpu: gpu === 'cpu' ? false : 'auto', build: 'never', logLevel: LlamaLogLevel.error });
  const before = await llama.getVramState();
  const model = await llama.loadModel({ modelPath, gpuLayers: gpu === 'cpu' ? 0 : 'max' });
  const context = await model.createContext({ contextSize: CONTEXT });
  const after = await llama.getVramState();
  const sequence = context.getSequence();
  const prompt = model.tokenize('the old river');
  let n = 0;
  const start = performance.now();
  for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
    void token;
    if (++n >= tokens) break;
  }
  const seconds = (performance.now() - start) / 1000;
  const result: Bench = {
    gpu: llama.gpu as GpuType | false,
    gpuLayers: model.gpuLayers,
    totalLayers: model.fileInsights.totalLayers,
    vramUsedBefore: before.used,
    vramUsedAfter: after.used,
    tokens: n,
    tokensPerSecond: n / seconds,
  };
  await context.dispose();
  await model.dispose();
  await llama.dispose();
  return result;
}

// ---------------------------------------------------------------------------------------------
// Parent.

const self = fileURLToPath(import.meta.url);

/** Runs this file as a child and returns the JSON it prints on its last stdout line. */
function runChild<T>(args: string[]): Promise<T> {
  const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
  return new Promise((resolve, reject) => {
    const child = spawn(process.execPath, ['--import', tsx, self, '--child', ...args], { stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stdout.on('data', (d: Buffer) => (out += d.toString()));
    child.stderr.on('data', (d: Buffer) => (err += d.toString()));
    child.on('error', reject);
    child.on('exit', (code, signal) => {
      const last = out.trim().split('\n').pop() ?? '';
      try {
        if (code === 0) return resolve(JSON.parse(last) as T);
      } catch {
        /* reported below */
      }
      reject(new Error(`gpu-check child ${args[0]} ended with ${signal ?? `exit code ${code}`}: ${(err || out).trim().split('\n').slice(-5).join(' | ')}`));
    });
  });
}

function arg(argv: string[], name: string, fallback: string): string {
  const i = argv.indexOf(`--${name}`);
  return i >= 0 && argv[i + 1] !== undefined ? argv[i + 1] : fallback;
}

async function main(argv: string[]): Promise<number> {
  if (argv[0] === '--child') {
    const result = await benchChild(arg(argv, 'gpu', 'auto') as 'auto' | 'cpu', arg(argv, 'model', ''), Number(arg(argv, 'tokens', '64')));
    process.stdout.write(`\n${JSON.stringify(result)}\n`);
    return 0;
  }
  const tokens = Math.max(1, Number(arg(argv, 'tokens', '128')) || 128);
  // The same probe the app runs (V2): the built-in backend program with `--probe`.
  const probe = await runProbe(builtinLlamaCommand());
  if (probe.used === false) {
    console.log('No GPU: node-llama-cpp runs on the CPU here.');
    console.log(`  reason: ${probe.fallbackReason ?? 'none given'}`);
    console.log('Models run on the CPU; the GPU settings (gpu, vram_*) have no effect on this machine.');
    return 0;
  }
  const dev = probe.deviceNames.join(', ') || 'unnamed device';
  console.log(`GPU: ${probe.used} (${dev}), VRAM ${formatVram(probe.vram.free)} free of ${formatVram(probe.vram.total)}${probe.vram.unifiedSize > 0 ? ', unified memory' : ''}`);

  const dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loadout-gpu-check-'));
  try {
    const { path: modelPath } = await makeModel(path.join(dir, 'small.gguf'), { preset: 'small' });
    const est = estimateModel(await readGgufHeader(modelPath, { skipArraysUnder: 'tokenizer.ggml.' }), CONTEXT);
    const estimate = vramForLayers(est, est.totalLayers, { deviceType: probe.used });
    const onGpu = await runChild<Bench>(['bench', '--gpu', 'auto', '--model', modelPath, '--tokens', String(tokens)]);
    const onCpu = await runChild<Bench>(['bench', '--gpu', 'cpu', '--model', modelPath, '--tokens', String(tokens)]);
    const measured = onGpu.vramUsedAfter - onGpu.vramUsedBefore;
    const off = measured > 0 ? ((estimate - measured) / measured) * 100 : NaN;
    console.log(`Model: generated "small" (${est.blockCount} blocks, ${formatVram(est.weightsBytes)}), context ${CONTEXT}`);
    console.log(`Layers offloaded: ${onGpu.gpuLayers}/${onGpu.totalLayers}`);
    console.log(`VRAM: estimate ${formatVram(estimate)}, measured ${formatVram(measured)}${Number.isFinite(off) ? ` (estimate ${off >= 0 ? '+' : ''}${off.toFixed(0)}%)` : ''}`);
    console.log(`Tokens/s: GPU ${onGpu.tokensPerSecond.toFixed(1)}, CPU ${onCpu.tokensPerSecond.toFixed(1)} (${(onGpu.tokensPerSecond / onCpu.tokensPerSecond).toFixed(1)}x, ${tokens} tokens each)`);
    return 0;
  } finally {
    fs.rmSync(dir, { recursive: true, force: true });
  }
}

main(process.argv.slice(2)).then(
  (code) => process.exit(code),
  (e: unknown) => {
    console.error(e instanceof Error ? e.message : String(e));
    process.exit(1);
  },
);
