/**
 * Child processes of the benchmark: every one is tracked so that an error or Ctrl-C still ends
 * them (by pid, never by name), and their `RESULT <json>` line is parsed.
 */
import { spawn, type ChildProcess } from 'node:child_process';

const live = new Set<ChildProcess>();

/** SIGKILLs every child this benchmark started that is still running. */
export function killChildren(): void {
  for (const child of live) {
    if (child.exitCode === null && child.signalCode === null) {
      try {
        child.kill('SIGKILL');
      } catch {
        // already gone
      }
    }
  }
  live.clear();
}

export interface ChildRun<T> {
  result: T;
  /** Parent clock (performance.now) just before spawn. */
  spawnedAt: number;
  /** Parent clock when the child's first `READY` line arrived, if it printed one. */
  readyAt: number | null;
  stderr: string;
}

/**
 * Runs `command args` to its end and returns its `RESULT <json>` line. Rejects, with the child's
 * last error output, when it exits non-zero, prints no result or runs past `timeoutMs`.
 */
export function runChild<T>(command: string, args: string[], opts: { cwd?: string; timeoutMs: number; env?: NodeJS.ProcessEnv }): Promise<ChildRun<T>> {
  return new Promise((resolve, reject) => {
    const spawnedAt = performance.now();
    const child = spawn(command, args, { cwd: opts.cwd, env: opts.env ?? process.env, stdio: ['ignore', 'pipe', 'pipe'] });
    live.add(child);
    let readyAt: number | null = null;
    let out = '';
    let err = '';
    child.stdout.setEncoding('utf8').on('data', (text: string) => {
      out += text;
      if (readyAt === null && /(^|\n)READY\n/.test(out)) readyAt = performance.now();
    });
    child.stderr.setEncoding('utf8').on('data', (text: string) => {
      err = (err + text).slice(-8192);
    });
    const timer = setTimeout(() => {
      child.kill('SIGKILL');
    }, opts.timeoutMs);
    child.on('error', (e) => {
      clearTimeout(timer);
      live.delete(child);
      reject(new Error(`cannot run ${command}: ${e.message}`));
    });
    child.on('close', (code, signal) => {
      clearTimeout(timer);
      live.delete(child);
      const line = out.split('\n').find((l) => l.startsWith('RESULT '));
      const tail = err.trim().split('\n').slice(-5).join(' | ');
      if (code !== 0 || !line) {
        const how = signal ? `was killed by ${signal}${signal === 'SIGKILL' ? ` (timeout ${opts.timeoutMs} ms?)` : ''}` : `exited with code ${code}`;
        reject(new Error(`${[command, ...args.slice(0, 2)].join(' ')} ${how}${line ? '' : ', without a RESULT line'}${tail ? `: ${tail}` : ''}`));
        return;
      }
      try {
        resolve({ result: JSON.parse(line.slice('RESULT '.length)) as T, spawnedAt, readyAt, stderr: err });
      } catch (e) {
        reject(new Error(`bad RESULT line from ${command}: ${(e as Error).message}`));
      }
    });
  });
}
