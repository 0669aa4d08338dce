/** A model's load settings as llama-server's command line, and llama-server's memory from its log. */
import { isAbsolute, join } from 'node:path';
import type { ModelOptions } from '../../../../wire';
import { parallelOption, parseOptions } from '../../catalog/options';

/** The GGUF to load: an absolute ModelFile as is, else relative to ModelPath (the models folder). */
export function modelFileOf(o: ModelOptions): string {
  const file = o.ModelFile ?? '';
  return isAbsolute(file) || !o.ModelPath ? file : join(o.ModelPath, file);
}

/**
 * `llama-server` arguments for one model on `127.0.0.1:<port>`: the same settings the built-in
 * backend takes (context per slot, threads, GPU layers, parallel slots, flash attention, mmap).
 */
export function llamaServerArgs(o: ModelOptions, port: number): string[] {
  const parallel = parallelOption(parseOptions(o.Options ?? [])) || 1;
  const args = ['--host', '127.0.0.1', '--port', String(port), '-m', modelFileOf(o), '--alias', o.Model || 'model', '--no-webui'];
  // The built-in backend gives each slot the whole context; llama-server splits -c among its slots.
  if (o.ContextSize && o.ContextSize > 0) args.push('-c', String(o.ContextSize * parallel));
  args.push('-np', String(parallel));
  if (o.Threads && o.Threads > 0) args.push('-t', String(o.Threads), '-tb', String(o.Threads));
  if (o.NGPULayers !== undefined) args.push('-ngl', String(o.NGPULayers));
  if (o.MainGPU) args.push('-mg', o.MainGPU);
  if (o.TensorSplit) args.push('-ts', o.TensorSplit);
  const fa = (o.FlashAttention ?? '').toLowerCase();
  if (fa === 'on' || fa === 'true') args.push('-fa', 'on');
  else if (fa === 'off' || fa === 'false') args.push('-fa', 'off');
  else if (fa === 'auto') args.push('-fa', 'auto');
  // proto3 cannot tell unset from false: the loader always sends the config's mmap (default on).
  if (o.MMap === false) args.push('--no-mmap');
  if (o.MLock) args.push('--mlock');
  if (o.NoKVOffload) args.push('--no-kv-offload');
  if (o.CacheTypeKey) args.push('-ctk', o.CacheTypeKey);
  if (o.CacheTypeValue) args.push('-ctv', o.CacheTypeValue);
  if (o.NBatch && o.NBatch > 0) args.push('-b', String(o.NBatch));
  if (o.Seed && o.Seed > 0) args.push('--seed', String(o.Seed));
  if (o.Embeddings) args.push('--embeddings');
  return args;
}

/**
 * VRAM from llama.cpp's own log (clarification 9): the "<buffer> model|KV|compute|output buffer
 * size = N MiB" lines, summed over device buffers. CPU buffers (CPU, CPU_Mapped, CPU_REPACK) and
 * pinned host memory (CUDA_Host and the like) live in RAM and are left out.
 */
export class LlamaLogMemory {
  private vram = 0;
  private tail = '';

  /** Feed log text as it arrives (any chunking). */
  push(text: string): void {
    const lines = (this.tail + text).split('\n');
    this.tail = lines.pop() ?? '';
    for (const line of lines) this.line(line);
  }

  /** Bytes of device memory the log reported so far. */
  vramBytes(): number {
    return this.vram;
  }

  private line(line: string): void {
    const m = /:\s+(\S+)\s+(?:[\w ]+?\s+)?buffer size\s*=\s*([\d.]+)\s*MiB/.exec(line);
    if (!m) return;
    const buffer = m[1]!;
    if (/^CPU/i.test(buffer) || /_Host$/i.test(buffer)) return;
    this.vram += Math.round(Number(m[2]) * 1024 * 1024);
  }
}

/**
 * The cause of a failed start, from llama-server's log: its first error line. llama-server ends a
 * failed load with "exiting due to model loading error", which names no cause; the cause ("invalid
 * magic characters: ..., expected 'GGUF'", "failed to open GGUF file ... (No such file or
 * directory)") comes first. Lines are "<time> E <text>" in current builds, "...error..." in older ones.
 */
export class LlamaLogErrors {
  private firstError: string | null = null;
  private tail = '';

  /** Feed log text as it arrives (any chunking). */
  push(text: string): void {
    if (this.firstError !== null) return;
    const lines = (this.tail + text).split('\n');
    this.tail = lines.pop() ?? '';
    for (const line of lines) {
      const cause = errorText(line);
      if (cause) {
        this.firstError = cause;
        return;
      }
    }
  }

  /** The first error llama-server logged, without its time and level; null when none. */
  first(): string | null {
    return this.firstError ?? (this.tail ? errorText(this.tail) : null);
  }
}

const MAX_ERROR_LINE = 300;

function errorText(line: string): string | null {
  const leveled = /^\s*(?:[\d.:]+\s+)?E\s+(.*\S)\s*$/.exec(line);
  const text = leveled ? leveled[1]! : /\berror\b/i.test(line) ? line.trim() : null;
  if (!text) return null;
  return text.length <= MAX_ERROR_LINE ? text : `${text.slice(0, MAX_ERROR_LINE)}…`;
}
