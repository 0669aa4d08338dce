/**
 * Test fixture: runs the real backend program (`node --import tsx main.ts --addr ...`) and talks
 * to it with a raw grpc-js client made from `backendService()`. Not a test file itself.
 */
import * as grpc from '@grpc/grpc-js';
import { spawn, type ChildProcess, type StdioOptions } from 'node:child_process';
import { dirname, join } from 'node:path';
import { fileURLToPath } from 'node:url';
import { backendService, freePort, type ModelOptions, type PredictOptions, type Reply__Output } from '../../wire';

export const MAIN = join(dirname(fileURLToPath(import.meta.url)), 'main.ts');
/** Run the backend the way headless mode does. */
export const NODE_ARGS = ['--import', 'tsx', MAIN];

export { freePort };

export type RawClient = grpc.Client & Record<string, (...args: unknown[]) => unknown>;

export function rawClient(addr: string): RawClient {
  const Client = backendService();
  // Low reconnect backoff: a refused first connect would otherwise wait a whole second.
  return new Client(addr, grpc.credentials.createInsecure(), {
    'grpc.initial_reconnect_backoff_ms': 20,
    'grpc.max_reconnect_backoff_ms': 50,
  }) as unknown as RawClient;
}

/** One unary call; rejects with the grpc ServiceError. */
export function unary<T>(client: RawClient, method: string, request: object, timeoutMs = 20_000): Promise<T> {
  return new Promise((resolve, reject) => {
    client[method](request, { deadline: Date.now() + timeoutMs }, (err: grpc.ServiceError | null, res: T) =>
      err ? reject(err) : resolve(res),
    );
  });
}

export interface StreamResult {
  chunks: Reply__Output[];
  /** Every chunk's text bytes, concatenated. */
  bytes: Buffer;
  last: Reply__Output | undefined;
}

/** Collects a PredictStream; `onChunk` may cancel it. */
export function stream(
  client: RawClient,
  request: PredictOptions,
  onChunk?: (reply: Reply__Output, call: grpc.ClientReadableStream<Reply__Output>) => void,
): Promise<StreamResult> & { call: grpc.ClientReadableStream<Reply__Output> } {
  const call = client.PredictStream(request, { deadline: Date.now() + 30_000 }) as grpc.ClientReadableStream<Reply__Output>;
  const chunks: Reply__Output[] = [];
  const done = new Promise<StreamResult>((resolve, reject) => {
    call.on('data', (reply: Reply__Output) => {
      chunks.push(reply);
      onChunk?.(reply, call);
    });
    call.on('error', reject);
    call.on('end', () =>
      resolve({ chunks, bytes: Buffer.concat(chunks.map((c) => Buffer.from(c.message))), last: chunks.at(-1) }),
    );
  });
  return Object.assign(done, { call });
}

export interface Backend {
  child: ChildProcess;
  addr: string;
  client: RawClient;
  /** Everything the backend wrote to stderr so far. */
  stderr(): string;
  /** Milliseconds from spawn to the first Health OK. */
  healthMs: number;
  exited: Promise<{ code: number | null; signal: NodeJS.Signals | null }>;
  /** SIGKILLs it if still running and closes the client. */
  kill(): Promise<void>;
}

export function spawnBackend(addr: string, stdio: StdioOptions = ['pipe', 'pipe', 'pipe'], env: NodeJS.ProcessEnv = process.env): ChildProcess {
  return spawn(process.execPath, [...NODE_ARGS, '--addr', addr], { stdio, env });
}

export function exitOf(child: ChildProcess): Promise<{ code: number | null; signal: NodeJS.Signals | null }> {
  if (child.exitCode !== null || child.signalCode !== null) {
    return Promise.resolve({ code: child.exitCode, signal: child.signalCode });
  }
  return new Promise((resolve) => child.once('exit', (code, signal) => resolve({ code, signal })));
}

/** Spawns a backend and waits until Health answers OK. */
export async function startBackend(timeoutMs = 20_000, env: NodeJS.ProcessEnv = process.env): Promise<Backend> {
  const addr = `127.0.0.1:${await freePort()}`;
  const started = performance.now();
  const child = spawnBackend(addr, undefined, env);
  let err = '';
  child.stderr?.on('data', (d: Buffer) => (err += d.toString()));
  child.stdout?.resume();
  const exited = exitOf(child);
  const client = rawClient(addr);
  const kill = async (): Promise<void> => {
    client.close();
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
    await exited;
  };
  try {
    await new Promise<void>((resolve, reject) => {
      exited.then(({ code, signal }) => reject(new Error(`backend exited (${code ?? signal}) before Health: ${err}`)));
      client.waitForReady(Date.now() + timeoutMs, (e) => (e ? reject(e) : resolve()));
    });
    for (;;) {
      const reply = await unary<Reply__Output>(client, 'Health', {}, 2000);
      if (Buffer.from(reply.message).toString() === 'OK') break;
    }
  } catch (e) {
    await kill();
    throw e;
  }
  return { child, addr, client, stderr: () => err, healthMs: performance.now() - started, exited, kill };
}

export function loadOptions(file: string, extra: Partial<ModelOptions> = {}): ModelOptions {
  return { Model: 'tiny', ModelFile: file, Threads: 1, ContextSize: 0, MMap: true, ...extra };
}

export function isAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch {
    return false;
  }
}

export function text(reply: Reply__Output | undefined): string {
  return reply ? Buffer.from(reply.message).toString('utf8') : '';
}
