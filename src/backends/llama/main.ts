/**
 * The built-in `llama-cpp` backend: `<program> --addr 127.0.0.1:<port>` serves LocalAI's gRPC
 * Backend service over node-llama-cpp until it is stopped (SIGTERM / SIGINT: exit 0) or its
 * parent dies (U4). Runs under plain Node (`node --import tsx`) and, bundled, under Electron
 * with ELECTRON_RUN_AS_NODE=1. stderr gets one line per start-up phase and errors, nothing else.
 */
import type * as grpc from '@grpc/grpc-js';
import { LlamaEngine } from './engine';
import { watchParent } from './parentWatch';
import { probeGpu, startLlamaRuntime, type Log } from './runtime';
import { LLAMA_RUNTIME_DIR_ENV, registerRuntimeDirHook } from './runtimeHook';

const log: Log = (line) => {
  process.stderr.write(`[llama] ${line}\n`);
};
// A parent that died closes our stdout/stderr pipes: never crash on the write that finds out.
process.stdout.on('error', () => {});
process.stderr.on('error', () => {});

// V14: the CUDA pack fetched into the data folder, where the core says it is.
const fromRuntimeDir = registerRuntimeDirHook();
if (fromRuntimeDir.length > 0) log(`${fromRuntimeDir.join(', ')} from ${process.env[LLAMA_RUNTIME_DIR_ENV]}`);

function parseAddr(argv: readonly string[]): string | undefined {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--addr') return argv[i + 1];
    if (arg.startsWith('--addr=')) return arg.slice('--addr='.length);
  }
  return undefined;
}

// `--probe` (V2): start llama.cpp with the GPU choice, print what it found as one JSON line, exit.
// The core runs this once per run (and caches it) instead of loading native code itself.
if (process.argv.includes('--probe')) {
  startLlamaRuntime(log)
    .then(async (runtime) => {
      process.stdout.write(`${JSON.stringify(await probeGpu(runtime))}\n`);
      await runtime.llama.dispose().catch(() => {});
      process.exit(0);
    })
    .catch((err: unknown) => {
      log(`probe failed: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    });
} else {
  startServer();
}

function startServer(): void {
  const addr = parseAddr(process.argv.slice(2));
  if (!addr || !/^[^:\s]+:\d+$/.test(addr)) {
    log('usage: main --addr <host>:<port>   (for example --addr 127.0.0.1:50051)');
    process.exit(2);
  }

  // Loading llama.cpp (import node-llama-cpp + getLlama, which tests a binary not tested before in a
  // child process) is a slow part of the start: begin it now, while the server binds. Health answers
  // as soon as the server listens; LoadModel waits for llama.cpp. (gRPC's modules load first, as
  // static imports: measured here, starting llama.cpp before them or alongside them made Health
  // later and LoadModel no sooner, since both are mostly main-thread work.)
  const engine = new LlamaEngine(startLlamaRuntime(log), log);
  let server: grpc.Server | undefined;
  let stopping = false;
  const stopWatching = watchParent((reason) => void shutdown(reason));
  process.on('SIGTERM', () => void shutdown('SIGTERM'));
  process.on('SIGINT', () => void shutdown('SIGINT'));

  async function shutdown(reason: string): Promise<void> {
    if (stopping) return;
    stopping = true;
    log(`stopping: ${reason}`);
    stopWatching();
    // Prompt exit even if llama.cpp is slow to let go.
    setTimeout(() => process.exit(0), 1500).unref();
    const t = performance.now();
    server?.forceShutdown();
    await engine.dispose().catch(() => {});
    log(`stopped in ${Math.round(performance.now() - t)} ms`);
    process.exit(0);
  }

  // No top-level await: the bundle for Electron may not be an ES module. gRPC's modules load
  // while node-llama-cpp's binary self-test runs in its child process.
  import('./server').then(({ AddressInUseError, serve }) => serve(addr, engine).then(
    (bound) => {
      server = bound;
      log(`ready ${Math.round(performance.now())} ms after process start, serving on ${addr}`);
    },
    (err: unknown) => {
      log(err instanceof AddressInUseError ? err.message : `cannot listen on ${addr}: ${err instanceof Error ? err.message : String(err)}`);
      process.exit(1);
    },
  ));
}
