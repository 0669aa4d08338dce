/**
 * Drives scripts/bench/sseClient.mjs: the API benchmark's HTTP client in a process of its own.
 * One child serves every job of a benchmark (it starts once, its JIT warms with the rest).
 */
import { spawn } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';

const SCRIPT = join(dirname(fileURLToPath(import.meta.url)), 'sseClient.mjs');

export interface SseResult {
  ok: boolean;
  error?: string;
  ttftMs: number;
  text: string;
  tokens: number;
  /** On the client process's clock (performance.now there). */
  firstAt: number;
  lastAt: number;
}

export interface SseAnswer {
  wallMs: number;
  results: SseResult[];
}

export interface SseClient {
  /** Sends every request at once (fresh keep-alive connections) and resolves when all have ended. */
  run(port: number, requests: { path: string; body: unknown }[]): Promise<SseAnswer>;
  stop(): Promise<void>;
  readonly pid: number | undefined;
}

export function startSseClient(): SseClient {
  // stdin is a pipe: the child ends when it closes, so it cannot outlive us.
  const child = spawn(process.execPath, [SCRIPT], { stdio: ['pipe', 'pipe', 'pipe'] });
  const waiting = new Map<number, { resolve: (a: SseAnswer) => void; reject: (e: Error) => void }>();
  let seq = 0;
  let stderr = '';
  let out = '';
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  child.stderr.setEncoding('utf8').on('data', (d: string) => (stderr = (stderr + d).slice(-4000)));
  child.stdout.setEncoding('utf8').on('data', (d: string) => {
    out += d;
    let cut: number;
    while ((cut = out.indexOf('\n')) >= 0) {
      const line = out.slice(0, cut);
      out = out.slice(cut + 1);
      if (!line.startsWith('RESULT ')) continue;
      const answer = JSON.parse(line.slice(7)) as SseAnswer & { id: number; fatal?: string };
      const w = waiting.get(answer.id);
      waiting.delete(answer.id);
      if (!w) continue;
      if (answer.fatal) w.reject(new Error(`the benchmark's HTTP client failed: ${answer.fatal}`));
      else w.resolve(answer);
    }
  });
  child.once('exit', (code, signal) => {
    for (const w of waiting.values()) w.reject(new Error(`the benchmark's HTTP client exited (${code ?? signal}): ${stderr.trim().split('\n').slice(-3).join(' | ')}`));
    waiting.clear();
  });
  return {
    pid: child.pid,
    run: (port, requests) =>
      new Promise((resolve, reject) => {
        const id = ++seq;
        waiting.set(id, { resolve, reject });
        child.stdin.write(`${JSON.stringify({ id, port, requests })}\n`);
      }),
    stop: async () => {
      if (child.exitCode !== null || child.signalCode !== null) return;
      child.stdin.end();
      const timer = setTimeout(() => child.kill('SIGKILL'), 5000);
      await exited;
      clearTimeout(timer);
    },
  };
}
