/**
 * The backend interface the loader speaks (`BackendClient`), answered by llama.cpp's `llama-server`
 * over its HTTP API: the loader, the request slots and the API use a llama-server model exactly as
 * they use a gRPC backend. Failures are `GrpcCallError`s with the status a gRPC backend would give
 * (a refused request is INVALID_ARGUMENT, a lost connection UNAVAILABLE), so the loader's rules on
 * crashes, timeouts and the client's mistakes apply unchanged.
 *
 * Chat goes through llama-server's `/apply-template` (the GGUF's own template, as the built-in
 * backend does with `UseTokenizerTemplate`), then `/completion`, the same path a prompt the core
 * rendered from the model's config template takes: one generation path, one stream format.
 */
import { Pool } from 'undici';
import type {
  EmbeddingResult__Output,
  ModelOptions,
  PredictOptions,
  Reply__Output,
  Result__Output,
  StatusResponse__Output,
  TokenizationResponse__Output,
} from '../../../../wire';
import { GrpcCallError } from '../../grpc/client';
import type { BackendClient, CallOptions } from '../../grpc/types';

/** gRPC status codes, for errors the core already knows how to read. */
const CANCELLED = 1;
const INVALID_ARGUMENT = 3;
const DEADLINE_EXCEEDED = 4;
const INTERNAL = 13;
const UNAVAILABLE = 14;

export interface LlamaServerClientHooks {
  /** Starts llama-server with the model (it loads the model at start) and resolves once /health is OK. */
  load(options: ModelOptions, opts: CallOptions): Promise<Result__Output>;
  /** Memory llama-server reported in its log (bytes by kind, e.g. `vram`). */
  memory(): Record<string, number>;
}

export class LlamaServerClient implements BackendClient {
  private readonly pool: Pool;
  private closed = false;

  constructor(
    readonly address: string,
    private readonly hooks: LlamaServerClientHooks,
  ) {
    // Streams can wait long between bytes (a long prompt); the loader's own clocks judge stalls.
    this.pool = new Pool(`http://${address}`, { headersTimeout: 0, bodyTimeout: 0, connections: 64 });
  }

  async health(opts: CallOptions = {}): Promise<Reply__Output> {
    const { status } = await this.call('Health', 'GET', '/health', undefined, opts);
    if (status !== 200) throw this.error('Health', UNAVAILABLE, `llama-server answered /health with HTTP ${status} (still loading the model?)`);
    return reply('OK');
  }

  async waitReady(opts: { timeoutMs: number; signal?: AbortSignal }): Promise<void> {
    const deadline = Date.now() + opts.timeoutMs;
    for (let delay = 20; ; delay = Math.min(delay * 2, 200)) {
      if (opts.signal?.aborted) throw this.error('Health', CANCELLED, 'cancelled');
      try {
        await this.health({ timeoutMs: Math.max(1, deadline - Date.now()), signal: opts.signal });
        return;
      } catch (e) {
        if (opts.signal?.aborted) throw e;
      }
      if (Date.now() + delay >= deadline) throw this.error('Health', DEADLINE_EXCEEDED, `llama-server was not ready within ${opts.timeoutMs} ms`);
      await new Promise((r) => setTimeout(r, delay));
    }
  }

  loadModel(options: ModelOptions, opts: CallOptions = {}): Promise<Result__Output> {
    return this.hooks.load(options, opts);
  }

  async predict(options: PredictOptions, opts?: CallOptions): Promise<Reply__Output> {
    let text = '';
    let last: Reply__Output = reply('');
    for await (const r of this.predictStream(options, opts)) {
      text += r.message.toString('utf8');
      last = r;
    }
    return { ...last, message: Buffer.from(text) };
  }

  async *predictStream(options: PredictOptions, opts: CallOptions = {}): AsyncIterable<Reply__Output> {
    const prompt = await this.promptOf(options, opts);
    const body = { ...completionParams(options), prompt, stream: true };
    const signal = withTimeout(opts);
    let res;
    try {
      res = await this.pool.request({ method: 'POST', path: '/completion', body: JSON.stringify(body), headers: JSON_HEADERS, signal });
    } catch (e) {
      throw this.failure('PredictStream', e, opts);
    }
    if (res.statusCode !== 200) throw await this.refusal('PredictStream', res);
    let pieces = 0;
    let promptTokens = 0;
    let buffered = '';
    try {
      for await (const chunk of res.body) {
        buffered += (chunk as Buffer).toString('utf8');
        let end: number;
        while ((end = buffered.indexOf('\n\n')) >= 0) {
          const event = buffered.slice(0, end);
          buffered = buffered.slice(end + 2);
          const data = event
            .split('\n')
            .filter((l) => l.startsWith('data:'))
            .map((l) => l.slice(5).trim())
            .join('');
          if (!data || data === '[DONE]') continue;
          const msg = JSON.parse(data) as CompletionChunk;
          if (msg.error) throw this.error('PredictStream', INTERNAL, msg.error.message ?? JSON.stringify(msg.error));
          if (typeof msg.tokens_evaluated === 'number') promptTokens = msg.tokens_evaluated;
          if (msg.content) {
            pieces++;
            yield reply(msg.content, pieces, promptTokens);
          }
          if (msg.stop) {
            const t = msg.timings;
            // The totals and timings ride on a last reply with no text, as the built-in backend sends them.
            yield {
              ...reply('', msg.tokens_predicted ?? t?.predicted_n ?? pieces, msg.tokens_evaluated ?? t?.prompt_n ?? promptTokens),
              timing_prompt_processing: t?.prompt_ms ?? 0,
              timing_token_generation: t?.predicted_ms ?? 0,
            };
            return;
          }
        }
      }
    } catch (e) {
      if (e instanceof GrpcCallError) throw e;
      throw this.failure('PredictStream', e, opts);
    } finally {
      // Breaking the loop or an abort closes the connection: llama-server then stops generating.
      if (!res.body.destroyed) res.body.destroy();
    }
    throw this.error('PredictStream', UNAVAILABLE, 'llama-server ended the stream without finishing the answer');
  }

  async embedding(options: PredictOptions, opts: CallOptions = {}): Promise<EmbeddingResult__Output> {
    const input = options.Embeddings || options.Prompt || '';
    if (!input) throw this.error('Embedding', INVALID_ARGUMENT, 'Nothing to embed: send the text in Embeddings (or Prompt).');
    const { json } = await this.ok('Embedding', '/v1/embeddings', { input }, opts);
    const body = json as { data?: { embedding: number[] }[]; usage?: { prompt_tokens?: number } };
    const embeddings = body.data?.[0]?.embedding ?? [];
    const tokens = body.usage?.prompt_tokens ?? 0;
    return { embeddings, dim: embeddings.length, tokens, prompt_tokens: tokens };
  }

  async tokenizeString(options: PredictOptions, opts: CallOptions = {}): Promise<TokenizationResponse__Output> {
    const { json } = await this.ok('TokenizeString', '/tokenize', { content: options.Prompt ?? '', add_special: false, parse_special: true }, opts);
    const tokens = ((json as { tokens?: unknown[] }).tokens ?? []).map((t) => (typeof t === 'number' ? t : (t as { id: number }).id));
    return { tokens, length: tokens.length };
  }

  async status(): Promise<StatusResponse__Output> {
    const breakdown = this.hooks.memory();
    const total = Object.values(breakdown).reduce((a, b) => a + b, 0);
    // llama-server reports no load progress over HTTP (only "loading" on /health): 0 is "unknown".
    return { state: 'READY', memory: total > 0 ? { total, breakdown } : null, load_progress: 0, gpu: '' };
  }

  async free(): Promise<Result__Output> {
    // llama-server holds one model for its whole life: unloading is stopping the process.
    return { success: true, message: '' };
  }

  close(): void {
    if (this.closed) return;
    this.closed = true;
    void this.pool.destroy().catch(() => {});
  }

  /** The prompt to complete: the core's rendering, or the messages through the GGUF's template. */
  private async promptOf(options: PredictOptions, opts: CallOptions): Promise<string> {
    const chat = Boolean(options.UseTokenizerTemplate && options.Messages && options.Messages.length > 0);
    if (!chat) {
      if (!options.Prompt) throw this.error('PredictStream', INVALID_ARGUMENT, 'The request has nothing to generate from: send a Prompt, or Messages with UseTokenizerTemplate.');
      return options.Prompt;
    }
    const messages = options.Messages!.map((m) => ({ role: m.role, content: m.content ?? '' }));
    const { json } = await this.ok('PredictStream', '/apply-template', { messages }, opts);
    const prompt = (json as { prompt?: unknown }).prompt;
    if (typeof prompt !== 'string') throw this.error('PredictStream', INTERNAL, 'llama-server /apply-template gave no prompt');
    return prompt;
  }

  private async ok(method: string, path: string, body: unknown, opts: CallOptions): Promise<{ json: unknown }> {
    const { status, json, text } = await this.call(method, 'POST', path, body, opts);
    if (status !== 200) throw refusalError(this.address, method, status, json, text);
    return { json };
  }

  private async call(method: string, verb: 'GET' | 'POST', path: string, body: unknown, opts: CallOptions): Promise<{ status: number; json: unknown; text: string }> {
    try {
      const res = await this.pool.request({
        method: verb,
        path,
        body: body === undefined ? undefined : JSON.stringify(body),
        headers: body === undefined ? undefined : JSON_HEADERS,
        signal: withTimeout(opts),
      });
      const text = await res.body.text();
      let json: unknown = null;
      try {
        json = text ? JSON.parse(text) : null;
      } catch {
        // Not JSON: the text is the reason.
      }
      return { status: res.statusCode, json, text };
    } catch (e) {
      throw this.failure(method, e, opts);
    }
  }

  private async refusal(method: string, res: { statusCode: number; body: { text(): Promise<string> } }): Promise<GrpcCallError> {
    const text = await res.body.text().catch(() => '');
    let json: unknown = null;
    try {
      json = JSON.parse(text);
    } catch {
      // plain text
    }
    return refusalError(this.address, method, res.statusCode, json, text);
  }

  /** A transport failure as the gRPC status a backend call would end with. */
  private failure(method: string, e: unknown, opts: CallOptions): GrpcCallError {
    if (e instanceof GrpcCallError) return e;
    const err = e as { name?: string; code?: string; message?: string };
    if (opts.signal?.aborted) return this.error(method, CANCELLED, 'cancelled by the caller');
    if (err.name === 'TimeoutError' || err.name === 'AbortError') return this.error(method, DEADLINE_EXCEEDED, `no answer within ${opts.timeoutMs} ms`);
    return this.error(method, UNAVAILABLE, `${err.code ?? ''} ${err.message ?? String(e)}`.trim());
  }

  private error(method: string, code: number, details: string): GrpcCallError {
    return new GrpcCallError({ code, details, method, address: this.address });
  }
}

const JSON_HEADERS = { 'content-type': 'application/json' };

interface CompletionChunk {
  content?: string;
  stop?: boolean;
  tokens_predicted?: number;
  tokens_evaluated?: number;
  timings?: { prompt_n?: number; prompt_ms?: number; predicted_n?: number; predicted_ms?: number };
  error?: { message?: string };
}

function reply(text: string, tokens = 0, promptTokens = 0): Reply__Output {
  return {
    message: Buffer.from(text),
    tokens,
    prompt_tokens: promptTokens,
    timing_prompt_processing: 0,
    timing_token_generation: 0,
    logprobs: Buffer.alloc(0),
    chat_deltas: [],
    pieces: [],
  };
}

/** PredictOptions as llama-server's /completion parameters (its names; unset values left to its defaults). */
export function completionParams(o: PredictOptions): Record<string, unknown> {
  const temperature = num(o.Temperature);
  const topP = num(o.TopP);
  const p: Record<string, unknown> = {
    // 0 is greedy, as in the built-in backend.
    temperature: temperature > 0 ? temperature : 0,
    n_predict: num(o.Tokens) > 0 ? num(o.Tokens) : -1,
    cache_prompt: true,
    repeat_penalty: num(o.Penalty) > 0 ? num(o.Penalty) : 1,
    repeat_last_n: num(o.Repeat) > 0 ? num(o.Repeat) : 64,
    top_p: topP > 0 && topP < 1 ? topP : 1,
    min_p: num(o.MinP) > 0 ? num(o.MinP) : 0,
  };
  if (num(o.TopK) > 0) p.top_k = num(o.TopK);
  if (num(o.Seed) > 0) p.seed = num(o.Seed);
  if (num(o.FrequencyPenalty)) p.frequency_penalty = num(o.FrequencyPenalty);
  if (num(o.PresencePenalty)) p.presence_penalty = num(o.PresencePenalty);
  if (o.StopPrompts && o.StopPrompts.length > 0) p.stop = o.StopPrompts;
  if (o.Grammar) p.grammar = o.Grammar;
  if (o.IgnoreEOS) p.ignore_eos = true;
  return p;
}

/** proto-loader's input types allow numbers as strings. */
function num(v: number | string | undefined | null): number {
  return v === undefined || v === null ? 0 : Number(v) || 0;
}

function withTimeout(opts: CallOptions): AbortSignal | undefined {
  const signals = [opts.signal, opts.timeoutMs !== undefined ? AbortSignal.timeout(Math.max(1, Math.ceil(opts.timeoutMs))) : undefined].filter(
    (s): s is AbortSignal => s !== undefined,
  );
  return signals.length === 0 ? undefined : signals.length === 1 ? signals[0] : AbortSignal.any(signals);
}

/** llama-server refused the request: 4xx is the input's fault (INVALID_ARGUMENT, its message kept). */
function refusalError(address: string, method: string, status: number, json: unknown, text: string): GrpcCallError {
  const message = (json as { error?: { message?: string } } | null)?.error?.message ?? (text.trim() || `HTTP ${status}`);
  const code = status >= 400 && status < 500 ? INVALID_ARGUMENT : status === 503 ? UNAVAILABLE : INTERNAL;
  return new GrpcCallError({ code, details: message, method, address, message: `llama-server at ${address} refused ${method} (HTTP ${status}): ${message}` });
}
