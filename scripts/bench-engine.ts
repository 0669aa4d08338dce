/**
 * `npm run bench:engine`: the built-in engine's own figures (issue 15, item 2), each side by side
 * in one run, interleaved (A, B, B, A, ...) so machine noise hits both; figures are medians.
 *
 * 1. Cold start to ready of `small` without the warm standby: spawn the backend, Health OK,
 *    LoadModel done. node-llama-cpp's binary self-test on every start (the variable that
 *    remembers passes set empty) against remembered passes (scripts/patch-node-llama-cpp.ts).
 * 2. Generation on `small` (1 thread, greedy, 256 tokens) streamed over gRPC PredictStream:
 *    tokens/s, and replies per token. With BENCH_BASELINE=<another checkout with its own
 *    node_modules> (a `git worktree` of main, or one whose node-llama-cpp is a local build) the
 *    same runs go to that checkout's backend too, interleaved.
 * 3. What one SSE event per token costs (clarifications 2): the same pieces written through the
 *    API's SseStream to a real HTTP client, one event per piece against one event per reply (6
 *    pieces), the client parsing every event; the difference per piece.
 *
 * Environment: BENCH_RUNS (interleaved runs, default 5), BENCH_BASELINE (figure 2), BENCH_ONLY
 * (e.g. "1,3"). Writes bench-results/engine.json.
 */
import { spawn } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, request, type ServerResponse } from 'node:http';
import { tmpdir } from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PASSED_BINARY_TESTS_ENV } from '../src/backends/llama/runtime';
import { freePort, rawClient, stream, unary, type RawClient } from '../src/backends/llama/testBackend';
import { makeModel } from '../src/main/core/gguf/makeModel';
import { systemClock } from '../src/main/core/clock';
import { SsePacer } from '../src/main/core/server/api/sse';
import type { Reply__Output } from '../src/wire';
import { median, table } from './bench/stats';

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
const RUNS = Math.max(3, Number(process.env.BENCH_RUNS) || 5);
const ONLY = new Set((process.env.BENCH_ONLY ?? '').split(',').map((x) => x.trim()).filter(Boolean));
const BASELINE = process.env.BENCH_BASELINE ? resolve(process.env.BENCH_BASELINE) : null;
const TOKENS = 256;
const PROMPT = 'Once upon a time there was a little house by the river';

interface Started {
  client: RawClient;
  stop(): Promise<void>;
}

/** Starts `checkout`'s backend as headless mode does and loads `file`; resolves when it is ready. */
async function startReady(checkout: string, file: string, env: NodeJS.ProcessEnv): Promise<Started & { ms: number }> {
  const addr = `127.0.0.1:${await freePort()}`;
  const t0 = performance.now();
  const child = spawn(process.execPath, ['--import', 'tsx', join(checkout, 'src/backends/llama/main.ts'), '--addr', addr], {
    cwd: checkout,
    env: { ...process.env, ...env },
    stdio: ['ignore', 'ignore', 'pipe'],
  });
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const client = rawClient(addr);
  const stop = async (): Promise<void> => {
    client.close();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    await new Promise<void>((res, rej) => client.waitForReady(Date.now() + 60_000, (e) => (e ? rej(e) : res())));
    for (;;) {
      const reply = await unary<Reply__Output>(client, 'Health', {}, 5000);
      if (Buffer.from(reply.message).toString() === 'OK') break;
    }
    await unary(client, 'LoadModel', { Model: 'small', ModelFile: file, Threads: 1, ContextSize: 2048, MMap: true }, 60_000);
  } catch (e) {
    await stop();
    throw new Error(`backend in ${checkout} did not get ready: ${e instanceof Error ? e.message : String(e)}\n${err.slice(-2000)}`);
  }
  return { client, stop, ms: performance.now() - t0 };
}

/** Interleaved A B B A ...: `runs` samples of each side. */
async function interleaved<T>(sides: Array<() => Promise<T>>, runs: number): Promise<T[][]> {
  const out = sides.map(() => [] as T[]);
  for (let r = 0; r < runs; r++) {
    const order = r % 2 === 0 ? sides.map((_, i) => i) : sides.map((_, i) => i).reverse();
    for (const i of order) out[i].push(await sides[i]());
  }
  return out;
}

function patched(): boolean {
  const file = join(ROOT, 'node_modules/node-llama-cpp/dist/bindings/utils/testBindingBinary.js');
  return readFileSync(file, 'utf8').includes('testBindingBinaryEveryTime');
}

async function coldStart(file: string, work: string): Promise<Record<string, unknown>> {
  const remembered = join(work, 'passed-binary-tests');
  const side = (folder: string) => async () => {
    const b = await startReady(ROOT, file, { [PASSED_BINARY_TESTS_ENV]: folder });
    await b.stop();
    return b.ms;
  };
  await side(remembered)(); // primes the remembered pass (and the page cache for both)
  const [every, once] = await interleaved([side(''), side(remembered)], RUNS);
  const result = { selfTestEveryStartMs: median(every), rememberedMs: median(once), patched: patched() };
  console.log(`\n1. Cold start to ready, small, no standby (median of ${RUNS})`);
  console.log(table(['self-test every start', 'remembered pass', 'saved'], [[`${median(every).toFixed(0)} ms`, `${median(once).toFixed(0)} ms`, `${(median(every) - median(once)).toFixed(0)} ms`]]));
  if (!result.patched) console.log('   node-llama-cpp is not patched here (run `npm install` or `npx tsx scripts/patch-node-llama-cpp.ts`): both sides test.');
  return result;
}

async function generation(file: string): Promise<Record<string, unknown>> {
  const checkouts = BASELINE ? [ROOT, BASELINE] : [ROOT];
  const backends = await Promise.all(checkouts.map((c) => startReady(c, file, {})));
  try {
    const req = { Prompt: PROMPT, Tokens: TOKENS, Temperature: 0, Seed: 1, IgnoreEOS: true };
    const side = (b: Started) => async () => {
      const t0 = performance.now();
      const r = await stream(b.client, req);
      const tokens = r.last?.tokens ?? 0;
      return { tokS: tokens / ((performance.now() - t0) / 1000), repliesPerToken: (r.chunks.length - 1) / Math.max(1, tokens) };
    };
    for (const b of backends) await side(b)(); // warm-up
    const samples = await interleaved(backends.map(side), RUNS);
    const rows = samples.map((s, i) => [i === 0 ? 'this checkout' : `baseline ${BASELINE}`, median(s.map((x) => x.tokS)).toFixed(1), median(s.map((x) => x.repliesPerToken)).toFixed(2)]);
    console.log(`\n2. Generation, small, ${TOKENS} tokens over PredictStream (median of ${RUNS})`);
    console.log(table(['backend', 'tokens/s', 'replies per token'], rows));
    return { sides: rows.map(([name, tokS, rpt]) => ({ name, tokS: Number(tokS), repliesPerToken: Number(rpt) })) };
  } finally {
    await Promise.all(backends.map((b) => b.stop()));
  }
}

/** An OpenAI completion chunk as the API writes it (the fields a client parses). */
const event = (text: string): string =>
  `data: ${JSON.stringify({ id: 'cmpl-bench', object: 'text_completion', created: 1, model: 'small', choices: [{ index: 0, text, logprobs: null, finish_reason: null }] })}\n\n`;

async function eventCost(): Promise<Record<string, unknown>> {
  const PIECES = 6000;
  const PER_REPLY = 6;
  const pieces = Array.from({ length: PIECES }, (_, i) => ` w${i % 97}`);
  const pacer = new SsePacer(systemClock);
  let mode: 'perPiece' | 'perReply' = 'perPiece';
  const server = createServer((_req, res: ServerResponse) => {
    res.writeHead(200, { 'content-type': 'text/event-stream' });
    const s = pacer.stream(res, event);
    let i = 0;
    const next = (): void => {
      if (i >= PIECES) {
        res.end('data: [DONE]\n\n');
        return;
      }
      const batch = pieces.slice(i, i + PER_REPLY);
      i += PER_REPLY;
      const wait = mode === 'perPiece' ? s.sendPieces(batch) : s.sendPieces([batch.join('')]);
      if (wait) void wait.then(() => setImmediate(next));
      else setImmediate(next);
    };
    next();
  });
  const port = await new Promise<number>((r) => server.listen(0, '127.0.0.1', () => r((server.address() as { port: number }).port)));
  const once = (m: typeof mode) => () =>
    new Promise<number>((res, rej) => {
      mode = m;
      const cpu0 = process.cpuUsage();
      request({ port, host: '127.0.0.1', path: '/' }, (r) => {
        let buf = '';
        let chars = 0;
        r.setEncoding('utf8');
        r.on('data', (d: string) => {
          buf += d;
          let at: number;
          while ((at = buf.indexOf('\n\n')) >= 0) {
            const line = buf.slice(6, at);
            buf = buf.slice(at + 2);
            if (line !== '[DONE]') chars += (JSON.parse(line) as { choices: Array<{ text: string }> }).choices[0].text.length;
          }
        });
        r.on('end', () => {
          const cpu = process.cpuUsage(cpu0);
          if (chars === 0) rej(new Error('no text arrived'));
          res((cpu.user + cpu.system) / PIECES);
        });
        r.on('error', rej);
      })
        .on('error', rej)
        .end();
    });
  await once('perPiece')();
  await once('perReply')();
  const [perPiece, perReply] = await interleaved([once('perPiece'), once('perReply')], RUNS);
  server.close();
  const cost = median(perPiece) - median(perReply);
  console.log(`\n3. SSE events (server and client CPU per token, median of ${RUNS}, ${PIECES} pieces, ${PER_REPLY} per backend reply)`);
  console.log(table(['one event per token', `one event per ${PER_REPLY} tokens`, 'cost of per-token events'], [[`${median(perPiece).toFixed(1)} us`, `${median(perReply).toFixed(1)} us`, `${cost.toFixed(1)} us/token`]]));
  return { perPieceUs: median(perPiece), perReplyUs: median(perReply), costUsPerToken: cost };
}

async function main(): Promise<void> {
  const work = mkdtempSync(join(tmpdir(), 'loadout-bench-engine-'));
  const results: Record<string, unknown> = { runs: RUNS, at: new Date().toISOString() };
  try {
    const file = join(work, 'small.gguf');
    if (!ONLY.size || ONLY.has('1') || ONLY.has('2')) await makeModel(file, { preset: 'small', seed: 1 });
    if (!ONLY.size || ONLY.has('1')) results.coldStart = await coldStart(file, work);
    if (!ONLY.size || ONLY.has('2')) results.generation = await generation(file);
    if (!ONLY.size || ONLY.has('3')) results.events = await eventCost();
  } finally {
    rmSync(work, { recursive: true, force: true });
  }
  const dir = join(ROOT, 'bench-results');
  if (!existsSync(dir)) mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'engine.json'), `${JSON.stringify(results, null, 2)}\n`);
}

main().catch((e: unknown) => {
  console.error(e);
  process.exit(1);
});
