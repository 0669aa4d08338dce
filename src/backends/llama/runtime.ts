import type * as NodeLlamaCpp from 'node-llama-cpp';

export type NodeLlamaModule = typeof NodeLlamaCpp;

/** node-llama-cpp's module and its llama.cpp binding, ready to load models. */
export interface LlamaRuntime {
  mod: NodeLlamaModule;
  llama: NodeLlamaCpp.Llama;
  /**
   * llama.cpp's error lines logged after `performance.now()` was `since`. A failed load throws
   * "Failed to load model"; the reason ("tensor ... is not within the file bounds") is only logged.
   */
  errorsSince(since: number): string[];
}

export type Log = (line: string) => void;

const ms = (from: number): string => `${Math.round(performance.now() - from)} ms`;

/**
 * Imports node-llama-cpp and loads llama.cpp's CPU binary. Together about 0.6 s, the biggest
 * part of a backend's start, so main.ts starts it before binding the gRPC server.
 * The import is dynamic so that nothing else waits for it.
 */
export async function startLlamaRuntime(log: Log): Promise<LlamaRuntime> {
  let t = performance.now();
  const mod: NodeLlamaModule = await import('node-llama-cpp');
  log(`import node-llama-cpp ${ms(t)}`);
  t = performance.now();
  const errors: Array<{ at: number; text: string }> = [];
  // getLlama tests the prebuilt binary in a forked child, which inherits our execArgv. That child
  // runs node-llama-cpp's own JavaScript only: a TypeScript loader (`--import tsx` in headless
  // dev mode) just makes it start slower (about 0.3 s here). Under Electron there is none.
  process.execArgv = withoutTypeScriptLoader(process.execArgv);
  const llama = await mod.getLlama({
    // Never compile llama.cpp from source: if the prebuilt binary does not work, node-llama-cpp
    // would otherwise silently build for minutes. Fail instead, with a message (NoBinaryFoundError).
    build: 'never',
    skipDownload: true,
    // CPU only: GPU detection costs start-up time and the app schedules CPU threads itself.
    gpu: false,
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
  });
  log(`getLlama ${ms(t)} (${llama.buildType} binary)`);
  return { mod, llama, errorsSince: (since) => errors.filter((e) => e.at >= since).map((e) => e.text) };
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
