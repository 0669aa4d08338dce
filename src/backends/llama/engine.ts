import { stat } from 'node:fs/promises';
import { isAbsolute, join } from 'node:path';
import type {
  ChatHistoryItem,
  ChatWrapper,
  LlamaCompletion,
  LlamaCompletionGenerationOptions,
  LlamaContext,
  LlamaContextSequence,
  LlamaEmbeddingContext,
  LlamaGrammar,
  LlamaModel,
  LlamaText,
  Token,
} from 'node-llama-cpp';
import type {
  ChatMessage__Output,
  EmbeddingResult,
  ModelOptions,
  PredictOptions__Output,
  Result,
  StatusResponse,
  StatusState,
  TokenizationResponse,
} from '../../wire';
import { directCompletion, directCompletionOffer } from './directCompletion';
import { JoinGate } from './joinGate';
import { probeGpu, type LlamaRuntime, type Log } from './runtime';
import { SlotPool } from './slotPool';
import { StopStrings } from './stopStrings';
import { TokenTextStream } from './tokenTextStream';

/** The gRPC status a failed request ends with (server.ts maps it). */
export type BackendErrorCode = 'FAILED_PRECONDITION' | 'INVALID_ARGUMENT' | 'ABORTED' | 'CANCELLED' | 'INTERNAL';

export class BackendError extends Error {
  constructor(
    readonly code: BackendErrorCode,
    message: string,
  ) {
    super(message);
    this.name = 'BackendError';
  }
}

/** Context size when neither the request nor a small GGUF says otherwise: the KV cache grows with it. */
export const DEFAULT_CONTEXT_SIZE = 4096;
/** Share of `load_progress` for reading the weights; creating the context(s) takes the rest. */
const MODEL_LOAD_SHARE = 0.9;

export interface LoadSettings {
  /** Sequences that can generate at the same time (`parallel:N`). */
  parallel: number;
}

/** Parses LoadModel's `Options` (`key:value`); unknown keys are ignored, as LocalAI's backends do. */
export function parseLoadOptions(options: readonly string[] | undefined): LoadSettings {
  const settings: LoadSettings = { parallel: 1 };
  for (const option of options ?? []) {
    const at = option.indexOf(':');
    const key = (at < 0 ? option : option.slice(0, at)).trim().toLowerCase();
    const value = at < 0 ? '' : option.slice(at + 1).trim();
    if (key === 'parallel' || key === 'n_parallel') {
      const n = Number(value);
      if (!Number.isInteger(n) || n < 1 || n > 64) {
        throw new BackendError('INVALID_ARGUMENT', `Option "${option}" is invalid: parallel must be a whole number from 1 to 64.`);
      }
      settings.parallel = n;
    }
  }
  return settings;
}

/** Where LoadModel's model file is: ModelFile (or Model), relative ones inside ModelPath. */
export function resolveModelPath(options: ModelOptions): string | undefined {
  const file = options.ModelFile || options.Model;
  if (!file) return undefined;
  return isAbsolute(file) || !options.ModelPath ? file : join(options.ModelPath, file);
}

interface Slot {
  sequence: LlamaContextSequence;
  completion: LlamaCompletion;
}

interface Running {
  abort: AbortController;
  done: Promise<unknown>;
}

interface Loaded {
  name: string;
  file: string;
  model: LlamaModel;
  context: LlamaContext;
  embedding: LlamaEmbeddingContext | null;
  /** Tokens the embedding context takes at once. */
  embeddingSize: number;
  /** Resolved just after LoadModel answers (it costs ~20 ms), or on first use if that is sooner. */
  chatWrapper: () => ChatWrapper;
  slots: SlotPool<Slot>;
  /** ModelOptions.Seed: used when a request brings none. */
  seed: number | undefined;
  /** The token LlamaCompletion puts in front of every input (BOS for most vocabularies). */
  prefixToken: Token | null;
  running: Set<Running>;
  /** Pauses the running sequences while a new request clears its slot (joinGate.ts). */
  gate: JoinGate;
  /** The most bytes of text one token of this vocabulary stands for (see `textFitsContext`). */
  maxTokenBytes: number;
  /** A token's text decoded alone, cached: TokenTextStream's pieces (bounded by the vocabulary). */
  pieceOf: (token: Token) => string;
  /** How the last request generated (directCompletion.ts), logged when it changes. */
  generationPath: string | null;
}

interface Input {
  tokens: Token[];
  /** Including the token LlamaCompletion prepends. */
  promptTokens: number;
  /** The chat template's end-of-turn markers (request stop strings are handled as text, see StopStrings). */
  stopTriggers: LlamaText[];
}

export interface Generation {
  /** The whole answer, decoded in one go. */
  text: string;
  /** New tokens generated. */
  tokens: number;
  promptTokens: number;
  /** Milliseconds until the first new token. */
  promptMs: number;
  /** Milliseconds from the first new token to the end. */
  generationMs: number;
  stopReason: string;
}

/** The text generated since the last take, one piece per token, and the tokens so far. */
export interface Taken {
  pieces: string[];
  tokens: number;
  promptTokens: number;
}

/**
 * Called when new tokens wait to be sent. Their text is decoded only when `take` is called (when a
 * reply is due), in one go for all of them: detokenizing token by token costs more than the rest
 * of the backend's per-token work. A caller that needs no stream never calls it.
 */
export type OnText = (take: () => Taken) => void;

const errorText = (err: unknown): string => (err instanceof Error ? err.message : String(err));
const since = (t: number): number => Math.round(performance.now() - t);

/**
 * One model at a time over node-llama-cpp: load / free, generation on `parallel` sequences of
 * one context, embeddings, tokenization, status. No gRPC in here (server.ts speaks it).
 *
 * Parallel slots are N sequences of ONE context rather than N contexts: llama.cpp then decodes
 * the sequences' tokens together in one batch, so two streams on one thread cost little more
 * than one, and the weights and compute buffers exist once.
 */
export class LlamaEngine {
  private phase: 'empty' | 'loading' | 'ready' | 'failed' = 'empty';
  private progress = 0;
  private loaded: Loaded | null = null;
  private loadAbort: AbortController | null = null;
  /** Load, Free and dispose run one after another. */
  private lifecycle: Promise<unknown> = Promise.resolve();
  private readonly grammars = new Map<string, Promise<LlamaGrammar>>();
  /** The runtime once started: Status reports its GPU without waiting for it. */
  private started: LlamaRuntime | null = null;

  constructor(
    private readonly runtime: Promise<LlamaRuntime>,
    private readonly log: Log,
  ) {
    // A failed start surfaces in LoadModel, with its message; never as an unhandled rejection.
    runtime.then((r) => (this.started = r)).catch(() => {});
  }

  /**
   * V2/V3: the GPU this process got and its VRAM now, as `--probe` prints it (JSON), for Status;
   * "" while llama.cpp is still starting. The core learns detection and fresh VRAM from it.
   */
  async gpuReport(): Promise<string> {
    if (!this.started) return '';
    return JSON.stringify(await probeGpu(this.started));
  }

  // ------------------------------------------------------------------------------ lifecycle

  load(options: ModelOptions): Promise<Result> {
    return this.serialise(() => this.doLoad(options));
  }

  /** Unloads the model (in-flight requests end with ABORTED); stops a load in progress. */
  free(): Promise<Result> {
    this.loadAbort?.abort(new BackendError('ABORTED', 'The load was cancelled.'));
    return this.serialise(async () => {
      const had = this.loaded !== null;
      await this.unload('The model was unloaded.');
      return { success: true, message: had ? 'model unloaded' : 'no model was loaded' };
    });
  }

  /** Frees everything, llama.cpp included. */
  async dispose(): Promise<void> {
    await this.free();
    const runtime = await this.runtime.catch(() => null);
    await runtime?.llama.dispose().catch(() => {});
  }

  private serialise<T>(fn: () => Promise<T>): Promise<T> {
    const run = this.lifecycle.then(fn, fn);
    this.lifecycle = run.catch(() => {});
    return run;
  }

  private async doLoad(options: ModelOptions): Promise<Result> {
    const fail = (message: string): Result => {
      this.log(`load failed: ${message}`);
      return { success: false, message };
    };
    const file = resolveModelPath(options);
    if (!file) return fail('No model file given: LoadModel needs ModelFile (or Model) naming a .gguf file.');
    let settings: LoadSettings;
    try {
      settings = parseLoadOptions(options.Options);
    } catch (err) {
      return fail(errorText(err));
    }
    const info = await stat(file).catch(() => null);
    if (!info) return fail(`Model file not found: ${file}. Check that the file exists and that the model's config points to it.`);
    if (!info.isFile()) return fail(`${file} is not a file: point the model's config at a .gguf file.`);

    await this.unload('Another model is being loaded.');
    this.phase = 'loading';
    this.progress = 0;
    const abort = new AbortController();
    this.loadAbort = abort;
    const cleanup: Array<() => Promise<unknown>> = [];
    const started = performance.now();
    let runtime: LlamaRuntime | undefined;
    try {
      runtime = await this.runtime.catch((err: unknown) => {
        throw new Error(`llama.cpp could not start on this machine: ${errorText(err)}`);
      });
      abort.signal.throwIfAborted();
      this.loaded = await this.create(runtime, options, file, settings, abort.signal, cleanup);
      this.phase = 'ready';
      this.progress = 1;
      const { context, model } = this.loaded;
      // V1: where it runs, and why not on the GPU when one was asked for (the row shows it).
      const placement = model.gpuLayers > 0 ? `${runtime.gpu.used} ${model.gpuLayers}/${model.fileInsights.totalLayers} layers` : 'CPU';
      const fallback = runtime.gpu.fallbackReason ? ` Runs on the CPU: ${runtime.gpu.fallbackReason}.` : '';
      return {
        success: true,
        message: `Loaded ${options.Model || file} (context ${context.contextSize} x ${settings.parallel}, ${context.idealThreads} thread(s), ${placement}).${fallback}`,
      };
    } catch (err) {
      for (const undo of cleanup.reverse()) await undo().catch(() => {});
      if (abort.signal.aborted) {
        this.phase = 'empty';
        this.progress = 0;
        return fail('The load was cancelled.');
      }
      this.phase = 'failed';
      // llama.cpp logs the reason just after the load fails: give its log a moment to arrive.
      await new Promise((resolve) => setTimeout(resolve, 30));
      const reason = runtime?.errorsSince(started).find((line) => !/failed to load model/i.test(line));
      return fail(describeLoadError(file, err, reason));
    } finally {
      if (this.loadAbort === abort) this.loadAbort = null;
    }
  }

  private async create(
    { mod, llama }: LlamaRuntime,
    options: ModelOptions,
    file: string,
    settings: LoadSettings,
    signal: AbortSignal,
    cleanup: Array<() => Promise<unknown>>,
  ): Promise<Loaded> {
    let t = performance.now();
    const model = await llama.loadModel({
      modelPath: file,
      // The core decides the layer count and sends it (clarification 4); without a GPU there is none.
      gpuLayers: llama.gpu === false ? 0 : Math.max(0, options.NGPULayers ?? 0),
      // proto3 cannot tell "unset" from false: the caller sends the config's mmap (LocalAI's default is true).
      useMmap: options.MMap === true,
      useMlock: options.MLock === true,
      loadSignal: signal,
      onLoadProgress: (p) => {
        this.progress = Math.max(this.progress, Math.min(1, p) * MODEL_LOAD_SHARE);
      },
    });
    cleanup.push(() => model.dispose());
    this.log(`load model ${since(t)} ms (${file})`);
    this.progress = MODEL_LOAD_SHARE;
    signal.throwIfAborted();

    const contextSize =
      options.ContextSize && options.ContextSize > 0
        ? options.ContextSize
        : Math.min(model.trainContextSize || DEFAULT_CONTEXT_SIZE, DEFAULT_CONTEXT_SIZE);
    const threads = options.Threads && options.Threads > 0 ? options.Threads : 1;
    const batchSize = options.NBatch && options.NBatch > 0 ? options.NBatch : undefined;
    t = performance.now();
    const context = await model.createContext({
      contextSize,
      sequences: settings.parallel,
      threads,
      batchSize,
      flashAttention: parseSwitch(options.FlashAttention),
      createSignal: signal,
    });
    cleanup.push(() => context.dispose());
    let embedding: LlamaEmbeddingContext | null = null;
    if (options.Embeddings) {
      embedding = await model.createEmbeddingContext({ contextSize, threads, batchSize, createSignal: signal });
      cleanup.push(() => embedding!.dispose());
    }
    this.log(
      `create context ${since(t)} ms (context ${context.contextSize} x ${settings.parallel} sequence(s), ${threads} thread(s)${embedding ? ', embeddings' : ''})`,
    );

    // The GGUF's own chat template, rendered by node-llama-cpp's Jinja wrapper (as llama.cpp does
    // for LocalAI). Not "auto": matching an unknown template against every built-in wrapper costs
    // a second or more per load. A GGUF without a template gets node-llama-cpp's best guess.
    let chatWrapper: ChatWrapper | undefined;
    const resolveChat = (): ChatWrapper => {
      if (chatWrapper) return chatWrapper;
      const started = performance.now();
      const hasTemplate = typeof model.fileInfo.metadata?.tokenizer?.chat_template === 'string';
      chatWrapper = mod.resolveChatWrapper(model, { type: hasTemplate ? 'jinjaTemplate' : 'auto', warningLogs: false });
      this.log(`chat template ${since(started)} ms (${hasTemplate ? "the GGUF's" : 'none in the GGUF, guessed'}: ${chatWrapper.wrapperName})`);
      return chatWrapper;
    };
    // Off the load's critical path: LoadModel's answer goes out first, then the template is
    // prepared while no answer is being generated (its ~30 ms on this thread stalled the first
    // answer after a load, which bench:llama-server measures). A chat request arriving sooner
    // prepares it itself.
    const running = new Set<Running>();
    const prepareChat = (): void => {
      if (chatWrapper || context.disposed) return;
      if (running.size > 0) {
        setTimeout(prepareChat, 100).unref();
        return;
      }
      try {
        resolveChat();
      } catch {
        // Reported to the first chat request that needs it.
      }
    };
    setTimeout(prepareChat, 100).unref();
    const gate = new JoinGate();
    const slots = Array.from({ length: settings.parallel }, (): Slot => {
      const sequence = context.getSequence();
      gate.attach(sequence);
      return { sequence, completion: new mod.LlamaCompletion({ contextSequence: sequence }) };
    });
    return {
      name: options.Model ?? '',
      file,
      model,
      context,
      embedding,
      embeddingSize: contextSize,
      chatWrapper: resolveChat,
      slots: new SlotPool(slots),
      seed: options.Seed && options.Seed > 0 ? options.Seed : undefined,
      prefixToken: prefixTokenOf(model),
      running,
      gate,
      maxTokenBytes: maxTokenBytesOf(model),
      pieceOf: pieceCache(model),
      generationPath: null,
    };
  }

  private async unload(reason: string): Promise<void> {
    const loaded = this.loaded;
    this.loaded = null;
    this.phase = 'empty';
    this.progress = 0;
    if (!loaded) return;
    const stop = new BackendError('ABORTED', reason);
    loaded.slots.close(stop);
    for (const run of loaded.running) run.abort.abort(stop);
    await Promise.allSettled([...loaded.running].map((run) => run.done));
    const t = performance.now();
    await loaded.embedding?.dispose().catch(() => {});
    await loaded.context.dispose().catch(() => {});
    await loaded.model.dispose().catch(() => {});
    this.log(`unloaded ${loaded.name || loaded.file} in ${since(t)} ms`);
  }

  // ------------------------------------------------------------------------------ requests

  status(): StatusResponse {
    const mem = process.memoryUsage();
    const breakdown: Record<string, number> = { rss: mem.rss, heap_used: mem.heapUsed, external: mem.external };
    const loaded = this.loaded;
    if (loaded) {
      // node-llama-cpp's own accounting: weights, and the context's KV cache and buffers.
      breakdown.model = loaded.model.size;
      breakdown.context = loaded.context.memoryUsage.ram;
      // Clarification 4: the placement and the VRAM node-llama-cpp accounts to the model and context.
      breakdown.vram = loaded.model.memoryUsage.vram + loaded.context.memoryUsage.vram;
      breakdown.gpu_layers = loaded.model.gpuLayers;
      breakdown.total_layers = loaded.model.fileInsights.totalLayers;
    }
    let state: StatusState;
    if (this.phase === 'loading') state = 'BUSY';
    else if (this.phase === 'failed') state = 'ERROR';
    else if (!loaded) state = 'UNINITIALIZED';
    else state = loaded.slots.busy > 0 ? 'BUSY' : 'READY';
    return { state, memory: { total: mem.rss, breakdown }, load_progress: this.progress };
  }

  /**
   * Generates for a request, calling `onText` with each piece (never splitting a UTF-8
   * character). Waits FIFO for a free slot. Aborting `signal` stops within one token.
   */
  async generate(req: PredictOptions__Output, onText: OnText, signal: AbortSignal): Promise<Generation> {
    const loaded = this.require(req.ModelIdentity);
    const input = this.inputOf(loaded, req);
    const abort = new AbortController();
    const relay = (): void => abort.abort(new BackendError('CANCELLED', 'The request was cancelled.'));
    if (signal.aborted) relay();
    else signal.addEventListener('abort', relay, { once: true });
    const done = this.run(loaded, req, input, onText, abort.signal);
    const entry: Running = { abort, done };
    loaded.running.add(entry);
    try {
      return await done;
    } finally {
      loaded.running.delete(entry);
      signal.removeEventListener('abort', relay);
    }
  }

  private async run(loaded: Loaded, req: PredictOptions__Output, input: Input, onText: OnText, signal: AbortSignal): Promise<Generation> {
    const slot = await loaded.slots.acquire(signal);
    // Ends the generation on the caller's abort, or when a stop string shows up.
    const generation = new AbortController();
    const relay = (): void => generation.abort(signal.reason);
    signal.addEventListener('abort', relay, { once: true });
    if (signal.aborted) relay();
    try {
      const options = await this.samplingOf(loaded, req);
      await this.clearSlot(loaded, slot, input.tokens);
      const { model } = loaded;
      const stream = new TokenTextStream<Token>((tokens, previous) => model.detokenize(tokens, false, previous), loaded.pieceOf);
      const direct = directCompletionOffer(slot.sequence, options, input.stopTriggers);
      this.noteGenerationPath(loaded, direct);
      const stopTexts = [...(req.StopPrompts ?? []), ...(typeof direct === 'string' ? [] : direct.stopTexts)];
      const stops = new StopStrings(stopTexts);
      // With stop strings every token is decoded as it comes, so a stop ends the generation within
      // one token; without, tokens wait for `take` and are decoded together.
      const eager = stopTexts.length > 0;
      const room = slot.sequence.contextSize - input.promptTokens;
      const started = performance.now();
      let firstTokenAt: number | undefined;
      let released = 0;
      let sentChars = 0;
      let stopped = false;
      let held: Token[] = [];
      let ready: string[] = [];
      let finished = false;
      /** Decodes the held tokens into `ready`, cut at a stop string. */
      const decodeHeld = (): void => {
        if (held.length === 0) return;
        const tokens = held;
        held = [];
        for (const piece of stream.pushMany(tokens)) {
          if (stopped) break;
          const cut = stops.push(piece);
          if (cut.text) {
            ready.push(cut.text);
            sentChars += cut.text.length;
          }
          if (cut.stopped) {
            stopped = true;
            generation.abort(new Error('stop string'));
          }
        }
      };
      const take = (): Taken => {
        if (!finished) decodeHeld();
        const pieces = ready;
        ready = [];
        return { pieces, tokens: released, promptTokens: input.promptTokens };
      };
      // "Until the end of the context" when the request sets no limit, and never a context
      // shift: a shift would silently drop the start of the conversation.
      const maxTokens = req.Tokens && req.Tokens > 0 ? Math.min(req.Tokens, room) : room;
      const onToken = (tokens: Token[]): void => {
        firstTokenAt ??= performance.now();
        released += tokens.length;
        if (stopped) return;
        held.push(...tokens);
        if (eager) decodeHeld();
        onText(take);
      };
      let result: { response: string; sampled: number; stopReason: string };
      if (typeof direct !== 'string') {
        const tokens = loaded.prefixToken !== null ? [loaded.prefixToken, ...input.tokens] : input.tokens;
        const r = await directCompletion(slot.sequence, { tokens, maxTokens, sampling: options, signal: generation.signal, onToken });
        result = { response: model.detokenize(r.tokens), sampled: r.sampled, stopReason: r.stopReason };
      } else {
        const meter = slot.sequence.tokenMeter.getState();
        const r = await slot.completion.generateCompletionWithMeta(input.tokens, {
          ...options,
          maxTokens,
          disableContextShift: true,
          customStopTriggers: input.stopTriggers,
          signal: generation.signal,
          stopOnAbortSignal: true,
          onToken,
        });
        result = { response: r.response, sampled: slot.sequence.tokenMeter.diff(meter).usedOutputTokens, stopReason: r.metadata.stopReason };
      }
      // The rest is decoded now, while the model is surely loaded; a later take only collects it.
      if (!stopped) {
        decodeHeld();
        const rest = stops.push(stream.flush());
        const tail = rest.text + (rest.stopped ? '' : stops.flush());
        if (rest.stopped) stopped = true;
        if (tail) {
          ready.push(tail);
          sentChars += tail.length;
        }
      }
      finished = true;
      if (ready.length > 0) onText(take);
      if (signal.aborted) throw signal.reason;
      const ended = performance.now();
      return {
        // Decoded in one go; the streamed pieces join to the same text.
        text: stopped ? result.response.slice(0, sentChars) : result.response,
        tokens: result.sampled,
        promptTokens: input.promptTokens,
        promptMs: (firstTokenAt ?? ended) - started,
        generationMs: ended - (firstTokenAt ?? ended),
        stopReason: stopped ? 'stopPrompt' : result.stopReason,
      };
    } catch (err) {
      if (signal.aborted) throw signal.reason;
      if (err instanceof BackendError) throw err;
      throw new BackendError('INTERNAL', `Generation failed: ${errorText(err)}`);
    } finally {
      signal.removeEventListener('abort', relay);
      loaded.slots.release(slot);
    }
  }

  private noteGenerationPath(loaded: Loaded, direct: object | string): void {
    const path = typeof direct !== 'string' ? 'the direct loop' : `node-llama-cpp's LlamaCompletion (${direct})`;
    if (path === loaded.generationPath) return;
    loaded.generationPath = path;
    this.log(`generation: ${path}`);
  }

  /**
   * Erases what the slot holds of an earlier answer beyond the part this input shares with it
   * (a shared prefix, e.g. the same conversation, is kept and not evaluated again). It is what
   * LlamaCompletion would do first, done here so the other sequences can pause for it.
   */
  private async clearSlot(loaded: Loaded, slot: Slot, tokens: Token[]): Promise<void> {
    const { sequence } = slot;
    if (sequence.nextTokenIndex === 0) return;
    const input = loaded.prefixToken !== null ? [loaded.prefixToken, ...tokens] : tokens;
    // LlamaCompletion keeps the last input token out, to evaluate it for the first new token.
    const start = input.length <= 1 ? 0 : sequence.compareContextTokens(input.slice(0, -1)).firstDifferentIndex;
    if (start >= sequence.nextTokenIndex) return;
    await loaded.gate.join(() => sequence.eraseContextTokenRanges([{ start, end: sequence.nextTokenIndex }]));
  }

  async embed(req: PredictOptions__Output, signal?: AbortSignal): Promise<EmbeddingResult> {
    const loaded = this.require(req.ModelIdentity);
    if (!loaded.embedding) {
      throw new BackendError(
        'FAILED_PRECONDITION',
        `Model "${loaded.name}" was loaded without embeddings: set "embeddings: true" in its config to use it for embeddings.`,
      );
    }
    const text = req.Embeddings || req.Prompt || '';
    if (!text) throw new BackendError('INVALID_ARGUMENT', 'Nothing to embed: send the text in Embeddings (or Prompt).');
    const limit = loaded.embeddingSize;
    refuseOversized(loaded, Buffer.byteLength(text), limit, 'The text', 'send shorter pieces');
    signal?.throwIfAborted();
    const tokens = loaded.model.tokenize(text, true).length;
    signal?.throwIfAborted();
    if (tokens >= limit) {
      throw new BackendError('INVALID_ARGUMENT', `The text is ${tokens} tokens but the embedding context holds ${limit}: send shorter pieces.`);
    }
    try {
      const { vector } = await loaded.embedding.getEmbeddingFor(text);
      return { embeddings: [...vector], dim: vector.length, tokens, prompt_tokens: tokens };
    } catch (err) {
      throw new BackendError('INTERNAL', `Embedding failed: ${errorText(err)}`);
    }
  }

  /** Tokenizes text that could fit the context; longer text is refused untokenized (it cannot be a prompt). */
  tokenize(req: PredictOptions__Output, signal?: AbortSignal): TokenizationResponse {
    const loaded = this.require(req.ModelIdentity);
    const text = req.Prompt ?? '';
    refuseOversized(loaded, Buffer.byteLength(text), loaded.context.contextSize, 'The text', "shorten it or raise the model's context_size");
    signal?.throwIfAborted();
    const tokens = loaded.model.tokenize(text, true).map(Number);
    return { length: tokens.length, tokens };
  }

  /** The loaded model, if the request is meant for it. */
  private require(identity: string | undefined): Loaded {
    const loaded = this.loaded;
    if (!loaded) {
      const why = this.phase === 'loading' ? ' (a load is in progress)' : '';
      throw new BackendError('FAILED_PRECONDITION', `no model loaded${why}`);
    }
    if (identity && identity !== loaded.name) {
      throw new BackendError(
        'FAILED_PRECONDITION',
        `This backend serves model "${loaded.name}", not "${identity}": the request was sent to the wrong backend.`,
      );
    }
    return loaded;
  }

  /** The tokens to generate from: the chat rendered with the GGUF's template, or the raw prompt. */
  private inputOf(loaded: Loaded, req: PredictOptions__Output): Input {
    const { model } = loaded;
    const stopTriggers: LlamaText[] = [];
    const chat = Boolean(req.UseTokenizerTemplate && req.Messages && req.Messages.length > 0);
    // Tokenizing costs up to quadratic time in the text's longest word and cannot be interrupted
    // (it runs on this thread): text that cannot fit is refused before it is tokenized.
    const bytes = chat ? req.Messages!.reduce((n, m) => n + Buffer.byteLength(m.content ?? ''), 0) : Buffer.byteLength(req.Prompt ?? '');
    refuseOversized(loaded, bytes, loaded.context.contextSize, 'The prompt', "shorten the conversation or raise the model's context_size");
    let tokens: Token[];
    if (chat) {
      let state;
      try {
        state = loaded.chatWrapper().generateContextState({ chatHistory: toChatHistory(req.Messages!) });
      } catch (err) {
        throw new BackendError('INVALID_ARGUMENT', `The model's chat template failed on these messages: ${errorText(err)}`);
      }
      tokens = state.contextText.tokenize(model.tokenizer);
      stopTriggers.push(...state.stopGenerationTriggers);
    } else {
      // Special tokens in the text count as such: the core renders chat templates into Prompt.
      tokens = model.tokenize(req.Prompt ?? '', true);
    }
    // LlamaCompletion prepends BOS itself; a template or prompt that starts with it would double it.
    if (loaded.prefixToken !== null && tokens[0] === loaded.prefixToken) tokens = tokens.slice(1);
    if (tokens.length === 0) {
      throw new BackendError('INVALID_ARGUMENT', 'The request has nothing to generate from: send a Prompt, or Messages with UseTokenizerTemplate.');
    }
    const promptTokens = tokens.length + (loaded.prefixToken !== null ? 1 : 0);
    const contextSize = loaded.context.contextSize;
    if (promptTokens >= contextSize) {
      throw new BackendError(
        'INVALID_ARGUMENT',
        `The prompt is ${promptTokens} tokens but the context holds ${contextSize}: shorten the conversation or raise the model's context_size.`,
      );
    }
    return { tokens, promptTokens, stopTriggers };
  }

  private async samplingOf(loaded: Loaded, req: PredictOptions__Output): Promise<LlamaCompletionGenerationOptions> {
    const options: LlamaCompletionGenerationOptions = {
      // 0 is greedy: the same prompt gives the same tokens.
      temperature: req.Temperature && req.Temperature > 0 ? req.Temperature : 0,
      repeatPenalty: false,
    };
    if (req.TopK && req.TopK > 0) options.topK = req.TopK;
    if (req.TopP && req.TopP > 0 && req.TopP < 1) options.topP = req.TopP;
    if (req.MinP && req.MinP > 0) options.minP = req.MinP;
    const seed = req.Seed && req.Seed > 0 ? req.Seed : loaded.seed;
    if (seed !== undefined) options.seed = seed;
    if ((req.Penalty && req.Penalty > 0) || req.FrequencyPenalty || req.PresencePenalty) {
      options.repeatPenalty = {
        penalty: req.Penalty && req.Penalty > 0 ? req.Penalty : undefined,
        frequencyPenalty: req.FrequencyPenalty || undefined,
        presencePenalty: req.PresencePenalty || undefined,
        lastTokens: req.Repeat && req.Repeat > 0 ? req.Repeat : 64,
      };
    }
    if (req.Grammar) options.grammar = await this.grammarFor(req.Grammar);
    return options;
  }

  private async grammarFor(text: string): Promise<LlamaGrammar> {
    let grammar = this.grammars.get(text);
    if (!grammar) {
      grammar = this.runtime.then(({ llama }) => llama.createGrammar({ grammar: text }));
      if (this.grammars.size >= 16) this.grammars.delete(this.grammars.keys().next().value!);
      this.grammars.set(text, grammar);
      grammar.catch(() => this.grammars.delete(text));
    }
    try {
      return await grammar;
    } catch (err) {
      throw new BackendError('INVALID_ARGUMENT', `The grammar is not valid GBNF: ${errorText(err)}`);
    }
  }
}

/** LocalAI chat turns as node-llama-cpp chat history, ending with the model turn to generate. */
export function toChatHistory(messages: readonly Pick<ChatMessage__Output, 'role' | 'content'>[]): ChatHistoryItem[] {
  const history: ChatHistoryItem[] = messages.map((m): ChatHistoryItem => {
    const role = m.role.toLowerCase();
    if (role === 'system' || role === 'developer') return { type: 'system', text: m.content };
    if (role === 'assistant' || role === 'model') return { type: 'model', response: m.content ? [m.content] : [] };
    return { type: 'user', text: m.content };
  });
  // A trailing assistant turn is a prefix to continue; otherwise the model answers in a new turn.
  if (history.at(-1)?.type !== 'model') history.push({ type: 'model', response: [] });
  return history;
}

/** The token node-llama-cpp's LlamaCompletion puts first (its resolveBeginningTokenToPrepend, not exported). */
function prefixTokenOf(model: LlamaModel): Token | null {
  const vocab = String(model.vocabularyType);
  if (vocab === 'rwkv' || vocab === 'ugm') return null;
  if (vocab === 'wpm') return model.tokens.bos;
  return model.tokens.shouldPrependBosToken ? model.tokens.bos : null;
}

function parseSwitch(value: string | undefined): boolean | 'auto' {
  const v = (value ?? '').trim().toLowerCase();
  if (['on', 'true', 'yes', 'enabled', '1'].includes(v)) return true;
  if (['off', 'false', 'no', 'disabled', '0'].includes(v)) return false;
  return 'auto';
}

function describeLoadError(file: string, err: unknown, llamaReason: string | undefined): string {
  // Messages can quote raw file bytes (a bad magic number): keep them printable.
  const clean = (text: string): string => text.replace(/[^\x20-\x7e\u00a0-\uffef]/g, '?').replace(/[.\s]+$/, '');
  const text = clean(errorText(err));
  if (text.startsWith('llama.cpp could not start')) return `${text}.`;
  if (err instanceof Error && [err.name, err.constructor.name].includes('InsufficientMemoryError')) {
    return `Not enough memory to load ${file}: ${text}. Unload other models or lower the context size.`;
  }
  const detail = llamaReason ? `${text} (${clean(llamaReason.replace(/^[\w:]+:\s*/, ''))})` : text;
  return `Could not load ${file}: ${detail}. The file may be incomplete or not a GGUF model this llama.cpp supports; download it again or choose another file.`;
}

/**
 * The most bytes of text one token can stand for: the longest entry of the GGUF's vocabulary in
 * UTF-8 (an over-estimate for SentencePiece's "\u2581" and GPT-2's byte alphabet, never an under-
 * estimate). Text of B bytes is therefore at least B / maxTokenBytes tokens.
 */
export function maxTokenBytesOf(model: LlamaModel): number {
  const vocab = (model.fileInfo.metadata as { tokenizer?: { ggml?: { tokens?: unknown } } } | undefined)?.tokenizer?.ggml?.tokens;
  if (!Array.isArray(vocab) || vocab.length === 0) return Infinity;
  let max = 1;
  for (const token of vocab) if (typeof token === 'string') max = Math.max(max, Buffer.byteLength(token));
  return max;
}

/** The fewest tokens `bytes` of text can be with a vocabulary whose longest token is `maxTokenBytes`. */
/** A token's text decoded on its own, each token decoded once. */
function pieceCache(model: LlamaModel): (token: Token) => string {
  const pieces = new Map<Token, string>();
  return (token) => {
    let piece = pieces.get(token);
    if (piece === undefined) {
      piece = model.detokenize([token], false);
      pieces.set(token, piece);
    }
    return piece;
  };
}

export function minTokensFor(bytes: number, maxTokenBytes: number): number {
  return Number.isFinite(maxTokenBytes) ? Math.ceil(bytes / maxTokenBytes) : 0;
}

/** Refuses, untokenized, text that is certainly more tokens than `limit`. */
function refuseOversized(loaded: { maxTokenBytes: number }, bytes: number, limit: number, what: string, advice: string): void {
  const atLeast = minTokensFor(bytes, loaded.maxTokenBytes);
  if (atLeast <= limit) return;
  throw new BackendError(
    'INVALID_ARGUMENT',
    `${what} is ${bytes} bytes, at least ${atLeast} tokens for this model, but the context holds ${limit} tokens: ${advice}.`,
  );
}
