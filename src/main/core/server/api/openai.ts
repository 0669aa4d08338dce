/**
 * The OpenAI-compatible endpoints (`/v1`): models, chat completions, completions, embeddings.
 * Generation always streams from the core (R5); a non-streaming answer is the joined stream.
 * The client's disconnect aborts the call's signal, which cancels the backend's generation (R3).
 */
import { randomBytes } from 'node:crypto';
import { LoadoutError } from '../../../../shared/errors';
import type { ModelRow } from '../../../../shared/model';
import type { Core } from '../../createCore';
import type { ToolCallDelta__Output } from '../../../../wire';
import type { StreamChunk } from '../../loader/loader';
import type { ApiCall } from './call';
import { bodyObject, replyJson } from './call';
import { InvalidParam, errorReply } from './errors';
import { ensureLoaded } from './onDemand';
import { parseChat, parseCompletion, parseEmbeddings } from './openaiRequest';

/** Names of Loadout's built-in backend (registry aliases included). */
const BUILTIN_NAMES = new Set(['llama-cpp', 'llama', 'llama.cpp']);

export function isBuiltinBackend(core: Core, row: ModelRow): boolean {
  const name = row.backend.toLowerCase();
  const entry = core.commands.backends().find((b) => b.name.toLowerCase() === name);
  return entry ? entry.builtin : BUILTIN_NAMES.has(name);
}

/** Seconds since the epoch, as OpenAI's `created`. */
const nowS = () => Math.floor(Date.now() / 1000);

function modelObject(row: ModelRow, created: number) {
  return { id: row.name, object: 'model', created: row.loadedAt ? Math.floor(Date.parse(row.loadedAt) / 1000) : created, owned_by: 'loadout' };
}

/** The requested model's row; an unknown name says where the names are listed. */
function rowFor(core: Core, name: string): ModelRow {
  try {
    return core.commands.row(name);
  } catch (e) {
    if (e instanceof LoadoutError && e.code === 'not_found') throw new LoadoutError('not_found', `There is no model named "${name}". GET /v1/models lists the models you can use.`);
    throw e;
  }
}

// ------------------------------------------------------------------------------------ models

export function listModels(call: ApiCall): void {
  const created = nowS();
  const data = call.ctx.core.commands
    .snapshot()
    .models.filter((m) => m.status === 'ok')
    .map((m) => modelObject(m, created));
  replyJson(call, { object: 'list', data });
}

export function getModel(call: ApiCall, name: string): void {
  const row = rowFor(call.ctx.core, name);
  if (row.status !== 'ok') throw new LoadoutError('not_found', `The model "${name}" cannot be used: ${row.error ?? row.status}.`);
  replyJson(call, modelObject(row, nowS()));
}

// ------------------------------------------------------------------------------- generation

/** A tool call as OpenAI's message.tool_calls lists it, joined from its deltas. */
interface ToolCall {
  id: string;
  type: 'function';
  function: { name: string; arguments: string };
}

/** Counts what a stream produced. Backends send running totals (ours) or per-piece counts (some); either way, at least one token per piece. */
class Tally {
  text = '';
  private pieces = 0;
  private reported = 0;
  prompt = 0;
  /** Tool calls by the backend's index, in the order they started. */
  readonly calls = new Map<number, ToolCall>();

  add(c: StreamChunk): void {
    if (c.text) this.text += c.text;
    if (c.text || c.toolCalls) this.pieces += Math.max(1, piecesOf(c).length);
    this.reported = Math.max(this.reported, c.tokens);
    this.prompt = Math.max(this.prompt, c.promptTokens);
  }

  /**
   * Joins tool-call deltas (the first one of a call carries its id and name, the rest pieces of
   * its arguments) and returns them as OpenAI's stream deltas: id, type and name once per call.
   */
  addCalls(deltas: readonly ToolCallDelta__Output[]): Record<string, unknown>[] {
    const out: Record<string, unknown>[] = [];
    for (const d of deltas) {
      let call = this.calls.get(d.index);
      const fn: Record<string, string> = {};
      const delta: Record<string, unknown> = { index: d.index };
      if (!call) {
        // A backend that names no id still gets one: clients match tool results to it.
        call = { id: d.id || `call_${randomBytes(12).toString('hex')}`, type: 'function', function: { name: '', arguments: '' } };
        this.calls.set(d.index, call);
        delta.id = call.id;
        delta.type = 'function';
      }
      if (d.name && !call.function.name) {
        call.function.name = d.name;
        fn.name = d.name;
      }
      call.function.arguments += d.arguments ?? '';
      fn.arguments = d.arguments ?? '';
      delta.function = fn;
      out.push(delta);
    }
    return out;
  }

  get completion(): number {
    return Math.max(this.reported, this.pieces);
  }

  usage() {
    return { prompt_tokens: this.prompt, completion_tokens: this.completion, total_tokens: this.prompt + this.completion };
  }

  /**
   * 'length' when the answer hit max_tokens, or when structured output is an object or list that
   * does not parse: a grammar-constrained answer only ends unfinished when it was cut (by the
   * context's end when the request set no max_tokens). Text that does not even start as JSON
   * came from a backend that ignored the grammar, and its own end is taken as it is.
   * 'tool_calls' when the model called tools; else 'stop'.
   */
  finishReason(maxTokens: number | undefined, json: boolean): 'length' | 'stop' | 'tool_calls' {
    if (maxTokens !== undefined && this.completion >= maxTokens) return 'length';
    if (json && /^\s*[[{]/.test(this.text) && !parsesAsJson(this.text)) return 'length';
    return this.calls.size > 0 ? 'tool_calls' : 'stop';
  }

  toolCalls(): ToolCall[] | undefined {
    return this.calls.size > 0 ? [...this.calls.values()] : undefined;
  }
}

function parsesAsJson(text: string): boolean {
  try {
    JSON.parse(text);
    return true;
  } catch {
    return false;
  }
}

/** How one endpoint shapes its stream chunks and its final answer. */
interface Shape {
  object: string;
  chunkObject: string;
  /** A streamed piece: text, and (chat only) tool-call deltas. */
  choice(text: string, first: boolean, toolCalls?: Record<string, unknown>[]): Record<string, unknown>;
  finalChoice(reason: string): Record<string, unknown>;
  answer(text: string, reason: string, toolCalls?: ToolCall[]): Record<string, unknown>;
}

const CHAT: Shape = {
  object: 'chat.completion',
  chunkObject: 'chat.completion.chunk',
  choice: (text, first, toolCalls) => {
    const delta: Record<string, unknown> = first ? { role: 'assistant', content: text } : { content: text };
    if (toolCalls) {
      if (!text) delta.content = null;
      delta.tool_calls = toolCalls;
    }
    return { index: 0, delta, logprobs: null, finish_reason: null };
  },
  finalChoice: (reason) => ({ index: 0, delta: {}, logprobs: null, finish_reason: reason }),
  answer: (text, reason, toolCalls) => {
    const message: Record<string, unknown> = { role: 'assistant', content: toolCalls && !text ? null : text, refusal: null };
    if (toolCalls) message.tool_calls = toolCalls;
    return { index: 0, message, logprobs: null, finish_reason: reason };
  },
};

const COMPLETION: Shape = {
  object: 'text_completion',
  chunkObject: 'text_completion',
  choice: (text) => ({ index: 0, text, logprobs: null, finish_reason: null }),
  finalChoice: (reason) => ({ index: 0, text: '', logprobs: null, finish_reason: reason }),
  answer: (text, reason) => ({ index: 0, text, logprobs: null, finish_reason: reason }),
};

interface Generation {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  maxTokens: number | undefined;
  /** Structured output was asked for: an answer that is not JSON was cut short. */
  json: boolean;
  /** Text put before the answer (completions' `echo`). */
  prefix: string;
  start: () => AsyncGenerator<StreamChunk>;
}

export async function chatCompletions(call: ApiCall): Promise<void> {
  const parsed = parseChat(await bodyObject(call, { required: true }));
  call.log.model = parsed.model;
  const core = call.ctx.core;
  const row = rowFor(core, parsed.model);
  checkCapabilities(core, row, parsed);
  checkFits(row, 'messages', parsed.request.messages.map((m) => m.content));
  await ensureLoaded(core, row, call.signal);
  await generate(call, CHAT, {
    model: parsed.model,
    stream: parsed.stream,
    includeUsage: parsed.includeUsage,
    maxTokens: parsed.request.max_tokens,
    json: parsed.responseFormat !== null,
    prefix: '',
    start: () => core.commands.chat(parsed.model, parsed.request, { signal: call.signal, origin: 'api' }),
  });
}

export async function completions(call: ApiCall): Promise<void> {
  const parsed = parseCompletion(await bodyObject(call, { required: true }));
  call.log.model = parsed.model;
  const core = call.ctx.core;
  const row = rowFor(core, parsed.model);
  checkFits(row, 'prompt', [parsed.request.prompt]);
  await ensureLoaded(core, row, call.signal);
  await generate(call, COMPLETION, {
    model: parsed.model,
    stream: parsed.stream,
    includeUsage: parsed.includeUsage,
    maxTokens: parsed.request.max_tokens,
    json: false,
    prefix: parsed.echo ? parsed.request.prompt : '',
    start: () => core.commands.complete(parsed.model, parsed.request, { signal: call.signal, origin: 'api' }),
  });
}

/**
 * Tools reach a backend only where it can honour them: an external one gets them (as LocalAI
 * passes them) and answers with tool-call deltas; the built-in backend does no function calling.
 * Structured output goes to every backend as a grammar (PredictOptions.Grammar, as LocalAI does).
 */
function checkCapabilities(core: Core, row: ModelRow, parsed: ReturnType<typeof parseChat>): void {
  if (parsed.request.tools !== undefined && isBuiltinBackend(core, row)) {
    throw new InvalidParam(
      'tools',
      `Tools are not supported by ${row.name}'s backend (llama-cpp, Loadout's built-in backend, does no function calling). Leave "tools" out, or serve the model with an external backend that supports them (Settings > Backends).`,
    );
  }
}

/**
 * No tokenizer packs more than this many bytes into a token on average (real text: 3 to 5), so
 * text longer than the context at this rate cannot fit: it is refused before anything is loaded
 * or tokenized (tokenizing 300,000 characters costs the backend seconds of CPU). Text under it
 * that still does not fit is refused by the backend with its exact token count.
 */
const MAX_BYTES_PER_TOKEN = 32;

function checkFits(row: ModelRow, param: string, texts: string[]): void {
  const context = row.contextSize;
  if (!context) return;
  const bytes = texts.reduce((n, t) => n + Buffer.byteLength(t), 0);
  if (bytes > context * MAX_BYTES_PER_TOKEN) {
    throw new InvalidParam(
      param,
      `The prompt is ${bytes.toLocaleString('en')} bytes: far more than ${row.name}'s context of ${context.toLocaleString('en')} tokens can hold. Shorten it, or raise the model's context_size.`,
    );
  }
}

/** Answer ids: unique per process, cheap (a random base and a counter). */
const ID_BASE = randomBytes(6).toString('hex');
let idSeq = 0;

async function generate(call: ApiCall, shape: Shape, g: Generation): Promise<void> {
  const id = `${shape === CHAT ? 'chatcmpl' : 'cmpl'}-${ID_BASE}${(++idSeq).toString(36)}`;
  const created = nowS();
  const tally = new Tally();
  const gen = g.start();
  if (!g.stream) {
    try {
      for await (const c of gen) {
        tally.add(c);
        if (c.toolCalls) tally.addCalls(c.toolCalls);
        call.log.tokens = tally.completion;
      }
    } finally {
      call.log.tokens = tally.completion;
    }
    replyJson(call, {
      id,
      object: shape.object,
      created,
      model: g.model,
      choices: [shape.answer(g.prefix + tally.text, tally.finishReason(g.maxTokens, g.json), tally.toolCalls())],
      usage: tally.usage(),
    });
    return;
  }

  // The first piece decides the status: a request that fails before any token (queue full, a
  // crash at once) gets a plain HTTP error instead of a 200 stream that carries one.
  const it = gen[Symbol.asyncIterator]();
  const first = await it.next();
  const res = call.res;
  res.writeHead(200, {
    'content-type': 'text/event-stream; charset=utf-8',
    'cache-control': 'no-cache',
    'x-accel-buffering': 'no',
    ...call.headers,
  });
  const chunk = (choices: unknown[]) => {
    const c: Record<string, unknown> = { id, object: shape.chunkObject, created, model: g.model, choices };
    if (g.includeUsage) c.usage = null;
    return c;
  };
  const piece = pieceEncoder(chunk([shape.choice(TEXT_SLOT, false)]));
  const out = call.sse.stream(res, piece);
  try {
    if (!first.done) tally.add(first.value);
    call.log.tokens = tally.completion;
    // The first piece goes out at once, with the assistant's role; every further piece is its own event.
    const firstCalls = !first.done && first.value.toolCalls && shape === CHAT ? tally.addCalls(first.value.toolCalls) : undefined;
    const [head = '', ...rest] = first.done ? [] : piecesOf(first.value);
    let wait = out.send(sse(chunk([shape.choice(g.prefix + head, true, firstCalls)])));
    if (rest.length > 0) wait = out.sendPieces(rest);
    if (wait) await wait;
    if (!first.done) {
      for (let next = await it.next(); !next.done; next = await it.next()) {
        const c = next.value;
        tally.add(c);
        call.log.tokens = tally.completion;
        if (c.toolCalls && shape === CHAT) wait = out.send(sse(chunk([shape.choice(c.text, false, tally.addCalls(c.toolCalls))])));
        else if (c.text) wait = out.sendPieces(piecesOf(c));
        else continue;
        if (wait) await wait;
      }
    }
    let last = sse(chunk([shape.finalChoice(tally.finishReason(g.maxTokens, g.json))]));
    if (g.includeUsage) last += sse({ ...chunk([]), usage: tally.usage() });
    last += 'data: [DONE]\n\n';
    call.log.tokens = tally.completion;
    out.end(last);
  } catch (e) {
    call.log.tokens = tally.completion;
    if (call.signal.aborted || res.destroyed) {
      out.close();
      call.log.error = 'the client disconnected; generation cancelled';
      return;
    }
    // Mid-stream errors travel as an SSE error event (OpenAI's clients raise it), then we close.
    const reply = errorReply(e, 'v1');
    call.log.error = `${reply.data.code}: ${reply.data.message}`;
    out.end(sse(reply.body));
  } finally {
    await it.return?.(undefined);
  }
}

/**
 * A chunk's pieces, one event each. A backend may carry several sampled tokens in one reply
 * (clarifications 2: the `pieces` extension, `message` their concatenation); without it the
 * reply's text is one piece.
 */
function piecesOf(c: StreamChunk): readonly string[] {
  return c.pieces && c.pieces.length > 0 ? c.pieces : [c.text];
}

const TEXT_SLOT = '\u0000loadout-text\u0000';

/**
 * `data: {...}\n\n` for one piece of text. Every piece of an answer differs only in its text, so
 * the JSON around it is serialised once per answer rather than once per token.
 */
function pieceEncoder(template: unknown): (text: string) => string {
  const json = JSON.stringify(template);
  const slot = JSON.stringify(TEXT_SLOT);
  const at = json.lastIndexOf(slot);
  const before = `data: ${json.slice(0, at)}`;
  const after = `${json.slice(at + slot.length)}\n\n`;
  return (text) => before + JSON.stringify(text) + after;
}

function sse(data: unknown): string {
  return `data: ${JSON.stringify(data)}\n\n`;
}

// ------------------------------------------------------------------------------- embeddings

export async function embeddings(call: ApiCall): Promise<void> {
  const parsed = parseEmbeddings(await bodyObject(call, { required: true }));
  call.log.model = parsed.model;
  const core = call.ctx.core;
  const row = rowFor(core, parsed.model);
  // Checked before loading: a model loaded without embeddings cannot make them.
  if (!core.commands.modelConfig(parsed.model).embeddings) {
    throw new InvalidParam(
      'model',
      `${parsed.model} is not set up for embeddings: add "embeddings: true" to its config (${row.configPath ?? 'a YAML file next to its .gguf'}) and load it again (a model loaded without it cannot make embeddings).`,
    );
  }
  await ensureLoaded(core, row, call.signal);
  const data = [];
  let promptTokens = 0;
  for (const [index, input] of parsed.inputs.entries()) {
    const vector: number[] & { promptTokens?: number } = await core.commands.embed(parsed.model, input, { signal: call.signal, origin: 'api' });
    promptTokens += vector.promptTokens || (await countTokens(core, parsed.model, input, call.signal));
    const embedding = parsed.encoding === 'base64' ? Buffer.from(new Float32Array(vector).buffer).toString('base64') : vector;
    data.push({ object: 'embedding', index, embedding });
  }
  call.log.tokens = promptTokens;
  replyJson(call, { object: 'list', data, model: parsed.model, usage: { prompt_tokens: promptTokens, total_tokens: promptTokens } });
}

/** For a backend whose Embedding reply has no counts: its tokenizer's, or 0 if it has none. */
async function countTokens(core: Core, model: string, input: string, signal: AbortSignal): Promise<number> {
  if (!input) return 0;
  try {
    return (await core.commands.tokenize(model, input, { signal, origin: 'api' })).length;
  } catch (e) {
    if (signal.aborted) throw e;
    return 0;
  }
}
