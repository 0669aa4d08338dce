/**
 * Profiling driver for figure 2 of `npm run bench:api` (not a benchmark of record): starts a core
 * and its HTTP server in this process, loads a `parallel:4` `tiny`, and fires bursts of 32
 * streaming /v1/completions requests, interleaved burst by burst with the same through the core
 * without HTTP and through the backend directly. Per side (medians over bursts): wall time, this
 * process's CPU, its wake-ups and GC, the backends' CPU and time spent runnable but waiting for a
 * CPU (schedstat: the contention that slows generation), first-token time, request length and
 * the gap between one request's end and the next one's first piece on a slot.
 *
 *   npx tsx scripts/bench/apiBurst.ts
 *   node --cpu-prof --cpu-prof-dir=/tmp/prof --import tsx scripts/bench/apiBurst.ts
 *   node --perf-basic-prof --import tsx scripts/bench/apiBurst.ts   (with perf record -p)
 *
 * Environment: BURSTS (default 10); TOKENS per request (default 64; 1 shows per-request costs);
 * SIDES (comma list of api,child,core,direct; default all): `api` is the HTTP client in this
 * process (as in bench-api.ts), `child` the same client in a child process (sseClient.mjs);
 * PERSIST=1 keeps one keep-alive agent for all bursts; SEQ=1 prints every burst's CPU time (the
 * JIT's warm-up shows as a falling series).
 */
import { mkdirSync, mkdtempSync, readdirSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { Agent, request } from 'node:http';
import os from 'node:os';
import { PerformanceObserver } from 'node:perf_hooks';
import { join } from 'node:path';
import { spawn } from 'node:child_process';
import { createServer } from 'node:net';
import { builtinLlamaCommand } from '../../src/main/core/backends/builtin';
import { createCore } from '../../src/main/core/createCore';
import { createBackendClient } from '../../src/main/core/grpc/client';
import { makeModel } from '../../src/main/core/gguf/makeModel';
import { startHttpServer } from '../../src/main/core/server/httpServer';
import { startSseClient } from './sseClientProc';

const BURSTS = Number(process.env.BURSTS) || 10;
const SIDES = (process.env.SIDES ?? 'api,child,core,direct').split(',');
const N = 32;
const TOKENS = Number(process.env.TOKENS) || 64;
const SAMPLING = { temperature: 0, top_p: 1, top_k: 0, min_p: 0, repeat_penalty: 0, seed: 42 };
const prompt = (i: number) => `Once upon a time there was a little house by the river (${i % 8})`;

/** GC pause time of this process so far (ms). */
let gcMs = 0;
new PerformanceObserver((list) => {
  for (const e of list.getEntries()) gcMs += e.duration;
}).observe({ entryTypes: ['gc'] });

/** Times this process's main thread went to sleep (each is one wake-up later). */
function sleeps(): number {
  const m = /voluntary_ctxt_switches:\s+(\d+)/.exec(readFileSync(`/proc/self/task/${process.pid}/status`, 'utf8'));
  return m ? Number(m[1]) : NaN;
}

/** Per child process: ns run and ns waited runnable on a run queue, over all its threads (schedstat). */
function childSched(): Map<number, { run: number; wait: number }> {
  const out = new Map<number, { run: number; wait: number }>();
  for (const pid of readFileSync(`/proc/${process.pid}/task/${process.pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)) {
    try {
      let run = 0;
      let wait = 0;
      for (const tid of readdirSync(`/proc/${pid}/task`)) {
        const [r, w] = readFileSync(`/proc/${pid}/task/${tid}/schedstat`, 'utf8').split(' ').map(Number);
        run += r;
        wait += w;
      }
      out.set(pid, { run, wait });
    } catch {
      // gone
    }
  }
  return out;
}

/** Per request of the current burst: when its first and last events came (ms since the burst began). */
const marks: { first: number; last: number }[] = [];
let burstAt = 0;
/** SSE events and socket reads seen by the in-process client. */
let events = 0;
let reads = 0;

function stream(agent: Agent, port: number, body: unknown): Promise<number> {
  return new Promise((resolve, reject) => {
    let tokens = 0;
    const mark = { first: NaN, last: NaN };
    marks.push(mark);
    let buffer = '';
    const req = request({ host: '127.0.0.1', port, path: '/v1/completions', method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      res.setEncoding('utf8');
      res.on('data', (d: string) => {
        const now = performance.now() - burstAt;
        if (Number.isNaN(mark.first)) mark.first = now;
        mark.last = now;
        reads++;
        buffer += d;
        let cut: number;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
          const data = JSON.parse(event.slice(6));
          events++;
          if (data.usage) tokens = data.usage.completion_tokens;
        }
      });
      res.on('end', () => resolve(tokens));
    });
    req.on('error', reject);
    req.end(JSON.stringify(body));
  });
}

async function main(): Promise<void> {
  const root = mkdtempSync(join(os.tmpdir(), 'loadout-apiburst-'));
  const modelsDir = join(root, 'models');
  mkdirSync(modelsDir, { recursive: true });
  await makeModel(join(modelsDir, 'tiny.gguf'), { preset: 'tiny', seed: 1 });
  writeFileSync(join(modelsDir, 'tiny4.yaml'), 'name: tiny4\nparameters:\n  model: tiny.gguf\ncontext_size: 2048\nthreads: 1\noptions:\n  - parallel:4\n');
  const core = await createCore({ dataDir: join(root, 'data'), overrides: { models_dir: modelsDir }, demoModel: false });
  const server = await startHttpServer(core, { port: 0, ui: false });
  try {
    await core.commands.load('tiny4');
    // PERSIST=1: one keep-alive agent for all bursts (connections made once, as the gRPC side's).
    const kept = new Agent({ keepAlive: true, maxSockets: Infinity, timeout: 4000 });
    const api = async () => {
      const agent = process.env.PERSIST ? kept : new Agent({ keepAlive: true, maxSockets: Infinity });
      const counts = await Promise.all(
        Array.from({ length: N }, (_, i) =>
          stream(agent, server.port, { model: 'tiny4', prompt: prompt(i), stream: true, stream_options: { include_usage: true }, max_tokens: TOKENS, ...SAMPLING }),
        ),
      );
      if (agent !== kept) agent.destroy();
      return counts.reduce((a, b) => a + b, 0);
    };
    const viaCore = async () => {
      const counts = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          let n = 0;
          const mark = { first: NaN, last: NaN };
          marks.push(mark);
          for await (const c of core.commands.complete('tiny4', { prompt: prompt(i), max_tokens: TOKENS, ...SAMPLING })) {
            const now = performance.now() - burstAt;
            if (Number.isNaN(mark.first)) mark.first = now;
            mark.last = now;
            n = Math.max(n, c.tokens);
          }
          return n;
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    };
    // The backend driven directly (as bench-api.ts does), all 32 at once.
    const port = await new Promise<number>((res) => {
      const srv = createServer().listen(0, '127.0.0.1', () => {
        const p = (srv.address() as { port: number }).port;
        srv.close(() => res(p));
      });
    });
    const cmd = builtinLlamaCommand();
    const backend = spawn(cmd.command, [...cmd.args, '--addr', `127.0.0.1:${port}`], { env: { ...process.env, ...cmd.env }, stdio: ['pipe', 'ignore', 'inherit'] });
    const grpc = createBackendClient(`127.0.0.1:${port}`);
    await grpc.waitReady({ timeoutMs: 60_000 });
    const loaded = await grpc.loadModel(
      { Model: 'tiny4', ModelFile: 'tiny.gguf', ModelPath: modelsDir, ContextSize: 2048, Threads: 1, Seed: 0, F16Memory: false, MMap: true, NGPULayers: 0, Embeddings: false, Options: ['parallel:4'] },
      { timeoutMs: 300_000 },
    );
    if (!loaded.success) throw new Error(loaded.message);
    const direct = async () => {
      const counts = await Promise.all(
        Array.from({ length: N }, async (_, i) => {
          const mark = { first: NaN, last: NaN };
          marks.push(mark);
          let n = 0;
          for await (const r of grpc.predictStream({ Temperature: 0, TopP: 1, TopK: 0, MinP: 0, Penalty: 0, Seed: 42, StopPrompts: [], Prompt: prompt(i), Tokens: TOKENS, ModelIdentity: 'tiny4' })) {
            const now = performance.now() - burstAt;
            if (Number.isNaN(mark.first)) mark.first = now;
            mark.last = now;
            n = Math.max(n, r.tokens);
          }
          return n;
        }),
      );
      return counts.reduce((a, b) => a + b, 0);
    };
    const client = startSseClient();
    const child = async () => {
      const t = performance.now() - burstAt;
      const a = await client.run(
        server.port,
        Array.from({ length: N }, (_, i) => ({ path: '/v1/completions', body: { model: 'tiny4', prompt: prompt(i), stream: true, stream_options: { include_usage: true }, max_tokens: TOKENS, ...SAMPLING } })),
      );
      // The child's clock differs from ours: only its durations are used.
      const first = Math.min(...a.results.map((r) => r.firstAt));
      const last = Math.max(...a.results.map((r) => r.lastAt));
      const startedAt = first - Math.min(...a.results.map((r) => r.ttftMs));
      marks.push({ first: t + (first - startedAt), last: t + (last - startedAt) });
      return a.results.reduce((n, r) => n + r.tokens, 0);
    };
    const sides = { api, child, core: viaCore, direct } as Record<string, () => Promise<number>>;
    for (const s of SIDES) await sides[s]();
    interface Stats {
      cpu: number[];
      sys: number[];
      walls: number[];
      firsts: number[];
      backendWait: number[];
      backendCpu: number[];
      clientCpu: number[];
      sleeps: number[];
      gc: number[];
      gaps: number[];
      durs: number[];
      events: number;
      reads: number;
      tokens: number;
    }
    const stats = new Map<string, Stats>(SIDES.map((s) => [s, { cpu: [], sys: [], walls: [], firsts: [], backendWait: [], backendCpu: [], clientCpu: [], sleeps: [], gc: [], gaps: [], durs: [], events: 0, reads: 0, tokens: 0 }]));
    // Sides interleave burst by burst (rotating who goes first) so machine noise hits all alike.
    for (let b = 0; b < BURSTS; b++) {
      for (let k = 0; k < SIDES.length; k++) {
        const s = SIDES[(b + k) % SIDES.length];
        const st = stats.get(s)!;
        marks.length = 0;
        events = 0;
        reads = 0;
        const z0 = sleeps();
        const g0 = gcMs;
        const c0 = process.cpuUsage();
        const s0 = childSched();
        const t0 = performance.now();
        burstAt = t0;
        st.tokens = await sides[s]();
        st.walls.push(performance.now() - t0);
        const c = process.cpuUsage(c0);
        const s1 = childSched();
        st.sleeps.push(sleeps() - z0);
        st.gc.push(gcMs - g0);
        st.firsts.push(Math.min(...marks.map((m) => m.first)));
        {
          // Slot gaps: from a request's last piece to the first piece of the request that took its slot.
          const iv = [...marks].sort((x, y) => x.first - y.first);
          const ends: number[] = [];
          const gaps: number[] = [];
          const durs: number[] = [];
          for (const m of iv) {
            durs.push(m.last - m.first);
            if (ends.length < 4) ends.push(m.last);
            else {
              ends.sort((x, y) => x - y);
              gaps.push(m.first - ends.shift()!);
              ends.push(m.last);
            }
          }
          st.gaps.push(gaps.reduce((x, y) => x + y, 0) / Math.max(1, gaps.length));
          st.durs.push(durs.reduce((x, y) => x + y, 0) / durs.length);
        }
        st.events = events;
        st.reads = reads;
        let bw = 0;
        let bc = 0;
        for (const [pid, v] of s1) {
          const a0 = s0.get(pid);
          if (!a0) continue;
          if (pid === client.pid) st.clientCpu.push((v.run - a0.run) / 1e6);
          else {
            bw += (v.wait - a0.wait) / 1e6;
            bc += (v.run - a0.run) / 1e6;
          }
        }
        st.backendWait.push(bw);
        st.backendCpu.push(bc);
        st.cpu.push((c.user + c.system) / 1000);
        st.sys.push(c.system / 1000);
      }
    }
    if (process.env.SEQ) for (const [s, st] of stats) process.stdout.write(`${s} cpu: ${st.cpu.map((x) => x.toFixed(0)).join(' ')}\n`);
    const med = (xs: number[]) => (xs.length ? [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)] : NaN);
    for (const [s, st] of stats) {
      const wall = med(st.walls);
      process.stdout.write(
        `${s.padEnd(6)} ${st.tokens} tokens: wall ${wall.toFixed(0)} ms (${((st.tokens / wall) * 1000).toFixed(0)} tok/s); this process CPU ${med(st.cpu).toFixed(1)} ms (sys ${med(st.sys).toFixed(1)}), ${med(st.sleeps)} wake-ups, GC ${med(st.gc).toFixed(1)} ms` +
          `${st.clientCpu.length ? `, client process ${med(st.clientCpu).toFixed(1)} ms` : ''}; backends run ${med(st.backendCpu).toFixed(0)} ms, wait ${med(st.backendWait).toFixed(0)} ms; ` +
          `first token at ${med(st.firsts).toFixed(1)} ms, request ${med(st.durs).toFixed(1)} ms, slot gap ${med(st.gaps).toFixed(2)} ms; ${st.events} events in ${st.reads} reads\n`,
      );
    }
    kept.destroy();
    await client.stop();
    grpc.close();
    backend.kill('SIGTERM');
  } finally {
    await server.close();
    await core.dispose();
    rmSync(root, { recursive: true, force: true });
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  },
);
