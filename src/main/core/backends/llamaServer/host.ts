/**
 * One model served by llama.cpp's `llama-server` (Engine 1), behind the same `ModelHost` the loader
 * uses for every backend. llama-server takes the model and its settings on its command line, so the
 * process starts on the loader's LoadModel (with the load's timeout and cancellation), and is ready
 * once its /health answers 200. The process itself is a `LocalHost` started by the launcher: its
 * own process group, the model's log, the pid file and the app's reaper, as for any backend.
 */
import { LoadoutError } from '../../../../shared/errors';
import type { ModelOptions, Result__Output } from '../../../../wire';
import type { CallOptions } from '../../grpc/types';
import { describeExit, type LocalHost } from '../localHost';
import type { ExitInfo, ModelHost } from '../types';
import { llamaServerArgs, LlamaLogErrors, LlamaLogMemory, modelFileOf } from './args';
import { LlamaServerClient } from './client';

export interface LlamaServerHostInit {
  model: string;
  command: string;
  port: number;
  /** The launcher's spawn (process group, log, pid file, reaper). */
  spawn(o: { command: string; args: string[]; address: string; client: LlamaServerClient; onOutput: (text: string) => void }): Promise<LocalHost>;
}

export class LlamaServerHost implements ModelHost {
  readonly kind = 'local' as const;
  readonly address: string;
  readonly client: LlamaServerClient;
  readonly exited: Promise<ExitInfo>;

  private process: LocalHost | null = null;
  private stopped = false;
  private ready = false;
  private resolveExited!: (info: ExitInfo) => void;
  private readonly memory = new LlamaLogMemory();
  private readonly errors = new LlamaLogErrors();

  constructor(private readonly init: LlamaServerHostInit) {
    this.address = `127.0.0.1:${init.port}`;
    this.exited = new Promise((r) => (this.resolveExited = r));
    this.client = new LlamaServerClient(this.address, {
      load: (options, opts) => this.load(options, opts),
      memory: (): Record<string, number> => {
        const vram = this.memory.vramBytes();
        return vram > 0 ? { vram } : {};
      },
    });
  }

  get pid(): number | null {
    return this.process?.pid ?? null;
  }

  rssBytes(): number | null {
    return this.process?.rssBytes() ?? null;
  }

  stop(graceMs: number): Promise<ExitInfo> {
    this.stopped = true;
    if (this.process) return this.process.stop(graceMs);
    this.client.close();
    this.resolveExited({ code: null, signal: null, stderr: null });
    return this.exited;
  }

  private async load(options: ModelOptions, opts: CallOptions): Promise<Result__Output> {
    if (this.stopped) throw new LoadoutError('cancelled', `llama-server for ${this.init.model} was stopped before it started`);
    if (this.process) throw new LoadoutError('invalid', `llama-server for ${this.init.model} already has its model; unload it first`);
    if (!modelFileOf(options)) throw new LoadoutError('invalid', `${this.init.model} has no model file for llama-server: set "model:" (a .gguf) in its config`);
    const args = llamaServerArgs(options, this.init.port);
    const proc = await this.init.spawn({
      command: this.init.command,
      args,
      address: this.address,
      client: this.client,
      onOutput: (text) => {
        this.memory.push(text);
        this.errors.push(text);
      },
    });
    this.process = proc;
    void proc.exited.then((info) => this.resolveExited(this.ready ? info : { ...info, stderr: whyItExited(info.stderr, this.errors.first()) }));
    if (this.stopped) void proc.stop(0);
    const exitedNow = new AbortController();
    void proc.exited.then(() => exitedNow.abort());
    const signal = opts.signal ? AbortSignal.any([opts.signal, exitedNow.signal]) : exitedNow.signal;
    try {
      await this.client.waitReady({ timeoutMs: opts.timeoutMs ?? 2 ** 31 - 1, signal });
      this.ready = true;
    } catch (e) {
      if (!exitedNow.signal.aborted || opts.signal?.aborted) throw e;
      const info = await this.exited;
      throw new LoadoutError('backend_failed', `llama-server ${describeExit(info)} while loading ${this.init.model}${info.stderr ? `: ${info.stderr}` : ' (see the model log)'}`);
    }
    return { success: true, message: `llama-server (pid ${proc.pid}) loaded ${options.Model || modelFileOf(options)}` };
  }
}

/**
 * What a llama-server that exited before it was ready says about why: its first error line, which
 * names the cause ("invalid magic characters ... expected 'GGUF'"), then its last line when that
 * differs (a failed load always ends "exiting due to model loading error", which names none).
 */
export function whyItExited(lastLine: string | null, firstError: string | null): string | null {
  if (!firstError) return lastLine;
  if (!lastLine || lastLine.endsWith(firstError)) return firstError;
  return `${firstError} (last line: ${lastLine})`;
}
