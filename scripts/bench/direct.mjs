#!/usr/bin/env node
// The benchmark's baseline: node-llama-cpp used directly in one fresh process, no app around it.
// Run by scripts/bench-core.ts as `node scripts/bench/direct.mjs '<json>'` with
//   { model, contextSize, threads, prompt, tokens, seed }
// It loads llama.cpp, the model and a context exactly as the built-in backend does
// (src/backends/llama/engine.ts: same getLlama, loadModel and createContext options), writes
// "READY" on stdout the moment the context exists (the parent times spawn -> READY on its own
// clock), then generates `tokens` tokens from `prompt` as the backend does (LlamaCompletion,
// greedy, no repeat penalty, no context shift, same seed) and prints one line
// "RESULT <json>" with the phases, the token timings and the text.
// Plain JavaScript run by plain node: the baseline pays for no TypeScript loader.
import { writeSync } from 'node:fs';

const t0 = performance.now(); // ms since this process started (performance.timeOrigin)
const cfg = JSON.parse(process.argv[2] ?? '{}');
for (const key of ['model', 'contextSize', 'threads', 'prompt', 'tokens', 'seed']) {
  if (cfg[key] === undefined) {
    process.stderr.write(`direct.mjs: missing "${key}" in the JSON argument\n`);
    process.exit(2);
  }
}

const phases = {};
let t = performance.now();
const mod = await import('node-llama-cpp');
phases.import = performance.now() - t;

t = performance.now();
const llama = await mod.getLlama({
  build: 'never',
  skipDownload: true,
  gpu: false,
  maxThreads: 0,
  progressLogs: false,
  logLevel: mod.LlamaLogLevel.warn,
  logger: (level, message) => {
    if (message.trim()) process.stderr.write(`llama.cpp ${level}: ${message.trim()}\n`);
  },
});
phases.getLlama = performance.now() - t;

t = performance.now();
// useMmap: the core sends the config's mmap, true by default (LocalAI's default).
const model = await llama.loadModel({ modelPath: cfg.model, gpuLayers: 0, useMmap: true, useMlock: false });
phases.loadModel = performance.now() - t;

t = performance.now();
const context = await model.createContext({ contextSize: cfg.contextSize, sequences: 1, threads: cfg.threads, flashAttention: 'auto' });
const sequence = context.getSequence();
const completion = new mod.LlamaCompletion({ contextSequence: sequence });
phases.createContext = performance.now() - t;
const readyAt = performance.now();
writeSync(1, 'READY\n');

// The prompt as the backend tokenizes a raw completion: special tokens on, and without a leading
// BOS because LlamaCompletion prepends it.
let input = model.tokenize(cfg.prompt, true);
if (model.tokens.shouldPrependBosToken && input[0] === model.tokens.bos) input = input.slice(1);

let first = null;
let last = null;
let firstCount = 0;
let count = 0;
const meter = sequence.tokenMeter.getState();
const genStart = performance.now();
const result = await completion.generateCompletionWithMeta(input, {
  temperature: 0,
  repeatPenalty: false,
  seed: cfg.seed,
  maxTokens: cfg.tokens,
  disableContextShift: true,
  customStopTriggers: [],
  onToken: (tokens) => {
    const now = performance.now();
    count += tokens.length;
    if (first === null) {
      first = now;
      firstCount = count;
    }
    last = now;
  },
});
const genEnd = performance.now();

const out = {
  pid: process.pid,
  startToReadyMs: readyAt, // child clock: from process start (not spawn) to a ready context
  scriptStartMs: t0,
  phases,
  contextSize: context.contextSize,
  threads: context.idealThreads,
  promptTokens: input.length + 1,
  tokens: sequence.tokenMeter.diff(meter).usedOutputTokens,
  onTokenCount: count,
  // Throughput over the first token -> last token interval (count - firstCount tokens in it).
  firstToLastMs: last !== null && first !== null ? last - first : 0,
  tokensInInterval: count - firstCount,
  promptMs: (first ?? genEnd) - genStart,
  stopReason: result.metadata.stopReason,
  text: result.response,
};
writeSync(1, `RESULT ${JSON.stringify(out)}\n`);
process.exit(0);
