/**
 * `npm run bench:llama-server`: Loadout's built-in engine against llama.cpp's `llama-server`, side by side
 * in one run, on generated `tiny` and `small` models (1 thread, greedy, same prompt and context):
 *   - llama-server called directly (its /completion stream),
 *   - Loadout with `backend: llama-server` (through the core's completion path),
 *   - Loadout's built-in backend (node-llama-cpp).
 * Prints tokens/s (after the first token), time to first token and cold start to ready (medians of
 * interleaved runs) and writes bench-results/llama-server.json. Needs a llama-server (setting-free lookup:
 * LOADOUT_LLAMA_SERVER, PATH, or `npm run build-llama-server`); exits 1 saying so when there is none.
 *
 * The built-in backend runs as the app ships it (the app's build under plain node), unless
 * LOADOUT_LLAMA_BACKEND names another entry.
 *
 * Each run also times the first token of a long prompt (the short one repeated, with a different
 * start so no cache can reuse the short run's prefix): prompt processing, where node-llama-cpp's
 * prebuilt binary is slowest and `npm run build-engine`'s local build is meant to help. The
 * built-in backend uses that local build when there is one (printed at the start).
 *
 * Environment: BENCH_RUNS (interleaved runs, default 5), BENCH_PRESETS (default "tiny,small"; a
 * preset may name a quantization, "medium:Q4_K_M": the F32 model is quantized with the
 * `llama-quantize` that `npm run build-llama-server` puts beside llama-server).
 */
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { request } from 'undici';
import { LLAMA_BACKEND_OVERRIDE } from '../src/main/core/backends/builtin';
import { locateLlamaServer } from '../src/main/core/backends/llamaServer/locate';
import { createCore } from '../src/main/core/createCore';
import { makeModel, type ModelPreset } from '../src/main/core/gguf/makeModel';
import { defaultDataDir } from '../src/main/core/paths';
import { freePort } from '../src/wire';
import { appBackendEntry } from './bench/bundle';
import { localBuildsDir, nodeLlamaCppDir } from '../src/main/core/engineBuild';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS) || 5);
const PRESETS = (process.env.BENCH_PRESETS ?? 'tiny,small').split(',').map((entry) => {
  const [preset, quant] = entry.trim().split(':') as [ModelPreset, string | undefined];
  return { label: entry.trim(), preset, quant: quant ?? null };
});
const PROMPT = 'Once upon a time there was a little house by the river';
const LONG_PROMPT = `In the valley, ${Array.from({ length: 16 }, () => PROMPT).join(', and ')}.`;
const LONG_TOKENS = 4;
const TOKENS: Record<ModelPreset, number> = { tiny: 512, small: 128, 'small-h64': 128, medium: 64 };
const CONTEXT = 2048;

interface Run {
  ttftMs: number;
  tokPerS: number;
  tokens: number;
}

const median = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s.length % 2 ? s[(s.length - 1) / 2]! : (s[s.length / 2 - 1]! + s[s.length / 2]!) / 2;
};

function timed(): { first: () => void; end: (tokens: number) => Run } {
  const start = performance.now();
  let firstAt = 0;
  return {
    first: () => {
      if (!firstAt) firstAt = performance.now();
    },
    end: (tokens) => {
      const end = performance.now();
      return { ttftMs: firstAt - start, tokens, tokPerS: tokens > 1 ? ((tokens - 1) * 1000) / (end - firstAt) : NaN };
    },
  };
}

/** llama-server called directly: the same arguments Loadout gives it. */
async function direct(binary: string, model: string, preset: ModelPreset): Promise<{ runs: (prompt?: string, nPredict?: number) => Promise<Run & { promptTokens: number }>; coldMs: number; stop: () => void }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(binary, ['--host', '127.0.0.1', '--port', String(port), '-m', model, '-c', String(CONTEXT), '-np', '1', '-t', '1', '-tb', '1', '--no-webui'], { stdio: 'ignore' });
  let exited: string | null = null;
  child.once('exit', (code, signal) => (exited = signal ?? `exit code ${code}`));
  for (;;) {
    if (exited) throw new Error(`llama-server stopped before it was ready (${exited}) on ${model}`);
    try {
      const r = await request(`http://127.0.0.1:${port}/health`);
      await r.body.text();
      if (r.statusCode === 200) break;
    } catch {
      // not listening yet
    }
    await new Promise((r) => setTimeout(r, 10));
  }
  const coldMs = performance.now() - started;
  const runs = async (prompt = PROMPT, nPredict = TOKENS[preset]): Promise<Run & { promptTokens: number }> => {
    const t = timed();
    const res = await request(`http://127.0.0.1:${port}/completion`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt, n_predict: nPredict, temperature: 0, top_p: 1, min_p: 0, repeat_penalty: 1, stream: true, cache_prompt: false }),
    });
    let tokens = 0;
    let promptTokens = 0;
    let buf = '';
    for await (const chunk of res.body) {
      buf += chunk.toString();
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!line.startsWith('data:')) continue;
        const msg = JSON.parse(line.slice(5)) as { content?: string; timings?: { prompt_n?: number } };
        if (msg.content) {
          t.first();
          tokens++;
        }
        promptTokens = msg.timings?.prompt_n ?? promptTokens;
      }
    }
    return { ...t.end(tokens), promptTokens };
  };
  return { runs, coldMs, stop: () => child.kill('SIGKILL') };
}

/** node-llama-cpp's local builds (`npm run build-engine`), which it prefers over its prebuilt binary. */
function localEngineBuilds(): string[] {
  const dir = localBuildsDir(nodeLlamaCppDir());
  return existsSync(dir) ? readdirSync(dir) : [];
}

/** Quantizes with the llama-quantize built beside llama-server (`npm run build-llama-server`). */
function quantize(llamaServer: string, from: string, to: string, type: string): void {
  const tool = join(dirname(llamaServer), process.platform === 'win32' ? 'llama-quantize.exe' : 'llama-quantize');
  if (!existsSync(tool)) {
    process.stderr.write(`bench:llama-server: ${tool} not found; \`npm run build-llama-server\` builds it beside llama-server\n`);
    process.exit(1);
  }
  const r = spawnSync(tool, [from, to, type, '2'], { encoding: 'utf8' });
  if (r.status !== 0) {
    process.stderr.write(`bench:llama-server: llama-quantize ${type} failed:\n${r.stderr.slice(-2000)}\n`);
    process.exit(1);
  }
}

async function main(): Promise<void> {
  const where = locateLlamaServer({ configured: process.env.LOADOUT_LLAMA_SERVER ?? '', dataDir: defaultDataDir() });
  if (!where.found) {
    process.stderr.write(`bench:llama-server: ${where.why}\n`);
    process.exit(1);
  }
  const binary = where.found.path;
  const dir = mkdtempSync(join(os.tmpdir(), 'loadout-bench-engine-'));
  // The built-in backend as the app ships it: the app's own build run by plain node, not
  // TypeScript through tsx's loader, which added about 0.4 s to each cold start.
  process.env[LLAMA_BACKEND_OVERRIDE] ??= appBackendEntry();
  const builds = localEngineBuilds();
  const engineBuild = builds.length > 0 ? `local build (${builds.join(', ')})` : 'prebuilt binary';
  process.stdout.write(`built-in backend: node-llama-cpp ${engineBuild}\n`);
  const results: Record<string, unknown> = { binary, engineBuild, runs: RUNS, loadavg: os.loadavg(), at: new Date().toISOString() };
  try {
    for (const { label, preset, quant } of PRESETS) {
      const models = join(dir, `models-${label.replace(':', '-')}`);
      mkdirSync(models, { recursive: true });
      if (quant) {
        await makeModel(join(models, 'f32.gguf'), { preset, seed: 42 });
        quantize(binary, join(models, 'f32.gguf'), join(models, 'm.gguf'), quant);
        rmSync(join(models, 'f32.gguf'));
      } else {
        await makeModel(join(models, 'm.gguf'), { preset, seed: 42 });
      }
      const yaml = (name: string, backend: string) => `name: ${name}\n${backend}parameters:\n  model: m.gguf\ncontext_size: ${CONTEXT}\nthreads: 1\n`;
      writeFileSync(join(models, 'ls.yaml'), yaml('ls', 'backend: llama-server\n'));
      writeFileSync(join(models, 'builtin.yaml'), yaml('builtin', ''));
      const core = await createCore({ dataDir: join(dir, `data-${label.replace(':', '-')}`), overrides: { models_dir: models, warm_standby: false, llama_server_path: binary }, demoModel: false, cores: 2 });
      const cold: Record<string, number[]> = { direct: [], ls: [], builtin: [] };
      const gen: Record<string, Run[]> = { direct: [], ls: [], builtin: [] };
      const long: Record<string, Run[]> = { direct: [], ls: [], builtin: [] };
      let promptTokens = 0;
      const viaCore = async (name: string, prompt = PROMPT, maxTokens = TOKENS[preset]): Promise<Run> => {
        const t = timed();
        let tokens = 0;
        for await (const c of core.commands.complete(name, { prompt, max_tokens: maxTokens, temperature: 0, top_p: 1, min_p: 0, repeat_penalty: 1 })) {
          if (c.text) t.first();
          tokens = Math.max(tokens, c.tokens);
        }
        return t.end(tokens);
      };
      try {
        for (let i = 0; i < RUNS; i++) {
          const d = await direct(binary, join(models, 'm.gguf'), preset);
          cold.direct!.push(d.coldMs);
          gen.direct!.push(await d.runs());
          const l = await d.runs(LONG_PROMPT, LONG_TOKENS);
          long.direct!.push(l);
          promptTokens = l.promptTokens;
          d.stop();
          for (const name of ['ls', 'builtin']) {
            const s = performance.now();
            await core.commands.load(name);
            cold[name]!.push(performance.now() - s);
            gen[name]!.push(await viaCore(name));
            long[name]!.push(await viaCore(name, LONG_PROMPT, LONG_TOKENS));
            await core.commands.unload(name, { force: true });
          }
          process.stdout.write(`${label}: run ${i + 1}/${RUNS} done\n`);
        }
      } finally {
        await core.dispose();
      }
      const row = (k: string) => ({
        tokPerS: median(gen[k]!.map((r) => r.tokPerS)),
        ttftMs: median(gen[k]!.map((r) => r.ttftMs)),
        longTtftMs: median(long[k]!.map((r) => r.ttftMs)),
        coldMs: median(cold[k]!),
        tokens: median(gen[k]!.map((r) => r.tokens)),
      });
      const figures = { direct: row('direct'), llamaServerBackend: row('ls'), builtin: row('builtin') };
      results[label] = { ...figures, longPromptTokens: promptTokens };
      process.stdout.write(`\n${label} (medians of ${RUNS}, 1 thread, greedy, load average ${os.loadavg()[0]!.toFixed(1)}; long prompt ${promptTokens} tokens):\n`);
      process.stdout.write('| | tok/s | vs llama-server | TTFT ms | TTFT long prompt ms | vs llama-server | cold start to ready ms |\n|---|---|---|---|---|---|---|\n');
      for (const [name, f] of [['llama-server direct', figures.direct], ['Loadout, backend: llama-server', figures.llamaServerBackend], ['Loadout built-in', figures.builtin]] as const) {
        process.stdout.write(`| ${name} | ${f.tokPerS.toFixed(1)} | ${(f.tokPerS / figures.direct.tokPerS).toFixed(2)}x | ${f.ttftMs.toFixed(0)} | ${f.longTtftMs.toFixed(0)} | ${(f.longTtftMs / figures.direct.longTtftMs).toFixed(2)}x | ${f.coldMs.toFixed(0)} |\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench-results', 'llama-server.json'), `${JSON.stringify(results, null, 2)}\n`);
}

await main();
