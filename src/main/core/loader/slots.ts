/**
 * Requests (R1-R6): a request loads its model on demand, takes a parallel slot or queues FIFO,
 * shares the thread budget, marks the model busy and records stream progress for W2.
 */
import { LoadoutError, isLoadoutError } from '../../../shared/errors';
import type { ModelRow } from '../../../shared/model';
import { isResident } from '../../../shared/model';
import type { ModelHost } from '../backends/types';
import { parallelOf } from '../catalog/options';
import type { CatalogEntry } from '../catalog/types';
import type {
  EmbeddingResult__Output as EmbeddingResult,
  PredictOptions,
  Reply__Output as Reply,
  TokenizationResponse__Output as TokenizationResponse,
  ToolCallDelta__Output as ToolCallDelta,
} from '../../../wire';
import type { RequestOptions, StreamChunk, UnloadOptions } from './router';
import type { RequestRecord, Runtime } from './runtime';
import type { ModelTable } from './table';
import type { ThreadBudget } from './threadBudget';

/** gRPC status 3: the backend refuses the request's input. */
const GRPC_INVALID_ARGUMENT = 3;

export interface SlotDeps {
  load(name: string, opts: RequestOptions): Promise<ModelRow>;
  unload(name: string, opts: UnloadOptions): Promise<void>;
  dropRemote(rt: Runtime, host: ModelHost, why: string): void;
}

export class RequestSlots {
  constructor(
    private readonly t: ModelTable,
    private readonly threadBudget: ThreadBudget,
    private readonly deps: SlotDeps,
  ) {}

  /** Streams a generation (R5: the core always generates through PredictStream). */
  async *stream(name: string, options: PredictOptions, opts: RequestOptions = {}): AsyncGenerator<StreamChunk> {
    const { rt, host, record, release } = await this.acquire(name, opts);
    const signal = opts.signal ? AbortSignal.any([opts.signal, record.abort.signal]) : record.abort.signal;
    try {
      for await (const reply of host.client.predictStream({ ...options, ModelIdentity: name }, { signal })) {
        record.lastProgressAt = this.t.o.clock.now();
        yield chunkOf(reply);
      }
    } catch (e) {
      throw this.requestError(rt, host, record, e, opts.signal);
    } finally {
      release();
    }
  }

  /** Joins a stream into one answer for callers that want one (R5). */
  async predict(name: string, options: PredictOptions, opts: RequestOptions = {}): Promise<StreamChunk> {
    let text = '';
    let tokens = 0;
    let promptTokens = 0;
    const toolCalls: ToolCallDelta[] = [];
    for await (const chunk of this.stream(name, options, opts)) {
      text += chunk.text;
      // Backends report running totals (at least on the last reply).
      tokens = Math.max(tokens, chunk.tokens);
      promptTokens = Math.max(promptTokens, chunk.promptTokens);
      if (chunk.toolCalls) toolCalls.push(...chunk.toolCalls);
    }
    return toolCalls.length > 0 ? { text, tokens, promptTokens, toolCalls } : { text, tokens, promptTokens };
  }

  embed(name: string, options: PredictOptions, opts: RequestOptions = {}): Promise<EmbeddingResult> {
    return this.unary(name, opts, (host, signal) => host.client.embedding({ ...options, ModelIdentity: name }, { signal }));
  }

  tokenize(name: string, options: PredictOptions, opts: RequestOptions = {}): Promise<TokenizationResponse> {
    return this.unary(name, opts, (host, signal) => host.client.tokenizeString({ ...options, ModelIdentity: name }, { signal }));
  }

  private async unary<T>(name: string, opts: RequestOptions, call: (host: ModelHost, signal: AbortSignal) => Promise<T>): Promise<T> {
    const { rt, host, record, release } = await this.acquire(name, opts);
    const signal = opts.signal ? AbortSignal.any([opts.signal, record.abort.signal]) : record.abort.signal;
    try {
      const result = await call(host, signal);
      record.lastProgressAt = this.t.o.clock.now();
      return result;
    } catch (e) {
      throw this.requestError(rt, host, record, e, opts.signal);
    } finally {
      release();
    }
  }

  /**
   * Runs one request on a model: loads it on demand (R4), takes a parallel slot or queues (R2),
   * shares the thread budget (R6), marks it busy (R1) and tracks stream progress for W2.
   */
  private async acquire(name: string, opts: RequestOptions): Promise<{ rt: Runtime; host: ModelHost; record: RequestRecord; release: () => void }> {
    const entry = this.t.o.catalog.get(name);
    // Trust 6: counted from before the load, so no other load can evict the model between it
    // becoming ready and this request taking its slot (the eviction waits as eviction_wait says).
    const waiting = entry ? this.t.runtime(name) : null;
    if (waiting) waiting.awaitingLoad++;
    try {
      await this.deps.load(name, { origin: opts.origin ?? 'user', signal: opts.signal });
    } finally {
      if (waiting) waiting.awaitingLoad--;
    }
    const rt = this.t.runtime(name);
    const parallel = entry ? parallelOf(entry.config) : 1;
    if (rt.active >= parallel || rt.queue.length > 0) {
      if (rt.queue.length >= this.t.o.settings().max_queue) {
        throw new LoadoutError('queue_full', `${name} already has ${rt.queue.length} requests waiting (max_queue). Try again shortly.`, { retryAfter: 1 });
      }
      await new Promise<void>((resolve, reject) => {
        const waiter = { admit: resolve, reject };
        rt.queue.push(waiter);
        this.t.changed(rt);
        opts.signal?.addEventListener('abort', () => {
          const i = rt.queue.indexOf(waiter);
          if (i >= 0) {
            rt.queue.splice(i, 1);
            this.t.changed(rt);
            reject(new LoadoutError('cancelled', 'The request was cancelled while waiting for a free slot.'));
          }
        }, { once: true });
      });
    } else {
      rt.active++;
    }
    // From here this request holds a slot: every exit path must release it.
    let released = false;
    const record: RequestRecord = { startedAt: this.t.o.clock.now(), lastProgressAt: this.t.o.clock.now(), abort: new AbortController() };
    const release = () => {
      if (released) return;
      released = true;
      rt.requests.delete(record);
      rt.active--;
      this.t.markUsed(rt);
      const next = rt.queue.shift();
      if (next) {
        rt.active++;
        next.admit();
      }
      if (rt.active === 0 && rt.threads.held > 0) {
        this.threadBudget.release(rt.threads.held);
        rt.threads.held = 0;
      }
      if (rt.requests.size === 0 && rt.state === 'busy') this.t.set(rt, 'ready');
      else this.t.changed(rt);
      if (rt.requests.size === 0 && rt.drain) {
        const { sentence } = rt.drain;
        void this.deps.unload(name, { reason: 'settings', sentence }).catch(() => {});
      }
    };
    try {
      const host = rt.host;
      if (!host || !isResident(rt.state)) {
        throw new LoadoutError('unloaded', `${name} was unloaded before this request could start. Try again.`);
      }
      if (host.kind === 'local') await this.holdThreads(rt, entry, opts.signal);
      if (rt.host !== host || !isResident(rt.state)) {
        throw new LoadoutError('unloaded', `${name} was unloaded before this request could start. Try again.`);
      }
      rt.requests.add(record);
      this.t.markUsed(rt);
      if (rt.state === 'ready') this.t.set(rt, 'busy');
      else this.t.changed(rt);
      return { rt, host, record, release };
    } catch (e) {
      release();
      throw e;
    }
  }

  /**
   * R6: a model holds its share of the thread budget while anything runs on it. Requests that
   * arrive while the share is being acquired wait on the same acquisition (never a second share).
   */
  private async holdThreads(rt: Runtime, entry: CatalogEntry | undefined, signal?: AbortSignal): Promise<void> {
    if (rt.threads.held > 0) return;
    if (!rt.threads.pending) {
      const need = entry?.config.threads || Math.max(1, this.t.o.physicalCores - 1);
      rt.threads.pending = this.threadBudget
        .acquire(need)
        .then((held) => {
          // Set before `pending` clears, so no request can see neither and acquire twice.
          if (rt.active === 0) this.threadBudget.release(held);
          else rt.threads.held = held;
          return held;
        })
        .finally(() => {
          rt.threads.pending = null;
        });
    }
    rt.waitingThreads++;
    this.t.changed(rt);
    try {
      await this.t.waitFor(rt.threads.pending, signal);
    } finally {
      rt.waitingThreads = Math.max(0, rt.waitingThreads - 1);
    }
  }

  /** Maps a failed request to the error its caller sees (I5: always a code and a message). */
  private requestError(rt: Runtime, host: ModelHost, record: RequestRecord, e: unknown, callerSignal?: AbortSignal): LoadoutError {
    if (record.abort.signal.aborted && isLoadoutError(record.abort.signal.reason)) return record.abort.signal.reason;
    if (callerSignal?.aborted) return new LoadoutError('cancelled', 'The request was cancelled.');
    if (isLoadoutError(e)) return e;
    const err = e as { kind?: string; message?: string; code?: number; details?: string };
    // The backend judged the input unusable (over the context, empty, a bad grammar): the client's to fix.
    if (err.code === GRPC_INVALID_ARGUMENT && err.details) return new LoadoutError('invalid', `${rt.name}: ${err.details}`);
    if (host.kind === 'remote' && isConnectionFailure(e)) {
      this.deps.dropRemote(rt, host, 'lost the connection to its remote backend');
      return new LoadoutError('backend_crashed', `${rt.name}: lost the connection to the remote backend ${host.address} (${err.message}).`);
    }
    if (err.kind === 'deadline') return new LoadoutError('timeout', `${rt.name} did not answer in time.`);
    if (err.kind === 'unavailable' && host.kind === 'local') {
      return new LoadoutError('backend_crashed', `${rt.name}'s backend stopped while answering.`);
    }
    return new LoadoutError('backend_failed', `${rt.name}: ${err.message ?? String(e)}`);
  }
}

/**
 * One reply as a chunk. LocalAI's backends put the raw text in `message` and the parsed chat view
 * in `chat_deltas` (content, tool calls): the text is `message`, or the deltas' content when a
 * backend sends only those; tool calls come from the deltas.
 */
export function chunkOf(reply: Reply): StreamChunk {
  const pieces = reply.pieces && reply.pieces.length > 1 ? reply.pieces.map(utf8) : undefined;
  let text = pieces ? pieces.join('') : reply.message === undefined ? '' : utf8(reply.message);
  const chunk: StreamChunk = { text, tokens: reply.tokens, promptTokens: reply.prompt_tokens };
  if (pieces) chunk.pieces = pieces;
  const deltas = reply.chat_deltas;
  if (deltas && deltas.length > 0) {
    if (!text) {
      for (const d of deltas) if (d.content) text += d.content;
      chunk.text = text;
    }
    const calls = deltas.flatMap((d) => d.tool_calls ?? []);
    if (calls.length > 0) chunk.toolCalls = calls;
  }
  return chunk;
}

/** grpc-js hands out bytes fields as Buffers; decoding one in place copies nothing. */
function utf8(bytes: Buffer | Uint8Array | string): string {
  if (typeof bytes === 'string') return bytes;
  return (Buffer.isBuffer(bytes) ? bytes : Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)).toString('utf8');
}

function isConnectionFailure(e: unknown): boolean {
  const err = e as { kind?: string; message?: string; details?: string };
  if (err.kind === 'unavailable') return true;
  return /ECONNREFUSED|ECONNRESET/.test(`${err.message ?? ''} ${err.details ?? ''}`);
}
