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
 * The built-in backend runs as the app ships it (an esbuild bundle under plain node), unless
 * LOADOUT_LLAMA_BACKEND names another entry.
 *
 * Environment: BENCH_RUNS (interleaved runs, default 5), BENCH_PRESETS (default "tiny,small").
 */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
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
import { bundle } from './bench/bundle';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS) || 5);
const PRESETS = (process.env.BENCH_PRESETS ?? 'tiny,small').split(',').map((s) => s.trim()) as ModelPreset[];
const PROMPT = 'Once upon a time there was a little house by the river';
const TOKENS: Record<ModelPreset, number> = { tiny: 512, small: 128, medium: 64 };
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
async function direct(binary: string, model: string, preset: ModelPreset): Promise<{ runs: () => Promise<Run>; coldMs: number; stop: () => void }> {
  const port = await freePort();
  const started = performance.now();
  const child = spawn(binary, ['--host', '127.0.0.1', '--port', String(port), '-m', model, '-c', String(CONTEXT), '-np', '1', '-t', '1', '-tb', '1', '--no-webui'], { stdio: 'ignore' });
  for (;;) {
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
  const runs = async (): Promise<Run> => {
    const t = timed();
    const res = await request(`http://127.0.0.1:${port}/completion`, {
      method: 'POST',
      headers: { 'content-type': 'application/json' },
      body: JSON.stringify({ prompt: PROMPT, n_predict: TOKENS[preset], temperature: 0, top_p: 1, min_p: 0, repeat_penalty: 1, stream: true, cache_prompt: false }),
    });
    let tokens = 0;
    let buf = '';
    for await (const chunk of res.body) {
      buf += chunk.toString();
      let i: number;
      while ((i = buf.indexOf('\n\n')) >= 0) {
        const line = buf.slice(0, i);
        buf = buf.slice(i + 2);
        if (!line.startsWith('data:')) continue;
        const msg = JSON.parse(line.slice(5)) as { content?: string };
        if (msg.content) {
          t.first();
          tokens++;
        }
      }
    }
    return t.end(tokens);
  };
  return { runs, coldMs, stop: () => child.kill('SIGKILL') };
}

async function main(): Promise<void> {
  const where = locateLlamaServer({ configured: process.env.LOADOUT_LLAMA_SERVER ?? '', dataDir: defaultDataDir() });
  if (!where.found) {
    process.stderr.write(`bench:llama-server: ${where.why}\n`);
    process.exit(1);
  }
  const binary = where.found.path;
  const dir = mkdtempSync(join(os.tmpdir(), 'loadout-bench-engine-'));
  // The built-in backend as the app ships it: one bundle run by plain node, not TypeScript
  // through tsx's loader, which added about 0.4 s to each cold start. Inside the repo (.tmp/ is
  // gitignored) so node finds node_modules and proto/ from it.
  const bundleDir = join(ROOT, '.tmp', `bench-llama-server-${process.pid}`);
  process.env[LLAMA_BACKEND_OVERRIDE] ??= await bundle(join(ROOT, 'src/backends/llama/main.ts'), bundleDir, 'backend');
  const results: Record<string, unknown> = { binary, runs: RUNS, loadavg: os.loadavg(), at: new Date().toISOString() };
  try {
    for (const preset of PRESETS) {
      const models = join(dir, `models-${preset}`);
      mkdirSync(models, { recursive: true });
      await makeModel(join(models, 'm.gguf'), { preset, seed: 42 });
      const yaml = (name: string, backend: string) => `name: ${name}\n${backend}parameters:\n  model: m.gguf\ncontext_size: ${CONTEXT}\nthreads: 1\n`;
      writeFileSync(join(models, 'ls.yaml'), yaml('ls', 'backend: llama-server\n'));
      writeFileSync(join(models, 'builtin.yaml'), yaml('builtin', ''));
      const core = await createCore({ dataDir: join(dir, `data-${preset}`), overrides: { models_dir: models, warm_standby: false, llama_server_path: binary }, demoModel: false, cores: 2 });
      const cold: Record<string, number[]> = { direct: [], ls: [], builtin: [] };
      const gen: Record<string, Run[]> = { direct: [], ls: [], builtin: [] };
      const viaCore = async (name: string): Promise<Run> => {
        const t = timed();
        let tokens = 0;
        for await (const c of core.commands.complete(name, { prompt: PROMPT, max_tokens: TOKENS[preset], temperature: 0, top_p: 1, min_p: 0, repeat_penalty: 1 })) {
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
          d.stop();
          for (const name of ['ls', 'builtin']) {
            const s = performance.now();
            await core.commands.load(name);
            cold[name]!.push(performance.now() - s);
            gen[name]!.push(await viaCore(name));
            await core.commands.unload(name, { force: true });
          }
          process.stdout.write(`${preset}: run ${i + 1}/${RUNS} done\n`);
        }
      } finally {
        await core.dispose();
      }
      const row = (k: string) => ({
        tokPerS: median(gen[k]!.map((r) => r.tokPerS)),
        ttftMs: median(gen[k]!.map((r) => r.ttftMs)),
        coldMs: median(cold[k]!),
        tokens: median(gen[k]!.map((r) => r.tokens)),
      });
      const figures = { direct: row('direct'), llamaServerBackend: row('ls'), builtin: row('builtin') };
      results[preset] = figures;
      process.stdout.write(`\n${preset} (medians of ${RUNS}, 1 thread, greedy, load average ${os.loadavg()[0]!.toFixed(1)}):\n`);
      process.stdout.write('| | tok/s | vs llama-server | TTFT ms | cold start to ready ms |\n|---|---|---|---|---|\n');
      for (const [label, f] of [['llama-server direct', figures.direct], ['Loadout, backend: llama-server', figures.llamaServerBackend], ['Loadout built-in', figures.builtin]] as const) {
        process.stdout.write(`| ${label} | ${f.tokPerS.toFixed(1)} | ${(f.tokPerS / figures.direct.tokPerS).toFixed(2)}x | ${f.ttftMs.toFixed(0)} | ${f.coldMs.toFixed(0)} |\n`);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
    rmSync(bundleDir, { recursive: true, force: true });
  }
  mkdirSync(join(ROOT, 'bench-results'), { recursive: true });
  writeFileSync(join(ROOT, 'bench-results', 'llama-server.json'), `${JSON.stringify(results, null, 2)}\n`);
}

await main();
