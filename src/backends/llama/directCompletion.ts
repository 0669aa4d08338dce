import type { LlamaCompletionGenerationOptions, LlamaContextSequence, LlamaModel, LlamaText, Token } from 'node-llama-cpp';

/**
 * Generation on a context with a single sequence, driving node-llama-cpp's native context
 * directly: the prompt in batches, then per token one decode and one sampling call, nothing else.
 *
 * node-llama-cpp's own path (LlamaCompletion over `sequence.evaluate`) runs a batch scheduler,
 * locks, a token meter, a stream regulator, two stop detectors and a per-token detokenize
 * between every two tokens, all on the main thread while the decode thread waits: on `small`
 * its tokens/s was 0.88x of a loop that only decodes and samples (which matched llama-server),
 * in paired runs of both. With one sequence there is nothing to schedule, and Loadout does its
 * own text, stop strings and counting (engine.ts), so this loop keeps only what the answer needs.
 *
 * It reaches into node-llama-cpp 3.21.1's internals (the context's native handle, the sequence's
 * token bookkeeping and sampler config): package.json pins that version, directCompletion.test.ts
 * fails on another, and `directCompletionOffer` checks the shapes it uses. Any other case
 * (several sequences, a grammar, a model that needs state checkpoints, a stop trigger with a
 * special token other than a leading end-of-generation one) goes through LlamaCompletion, as
 * before. The sequence's bookkeeping is updated as node-llama-cpp itself would, so the next
 * request's prefix reuse (engine.ts clearSlot) and LlamaCompletion work on it.
 */

/** node-llama-cpp 3.21.1's native context, as LlamaContext drives it. */
interface NativeContext {
  initBatch(size: number): void;
  addToBatch(sequenceId: number, firstTokenIndex: number, tokens: Uint32Array, logitIndexes: Uint32Array): ArrayLike<number>;
  decodeBatch(): Promise<void>;
  sampleToken(batchLogitIndex: number, sampler: NativeSampler): Promise<number | [number, ...unknown[]]>;
}

interface NativeSampler {
  applyConfig(config: object): void;
  dispose(): void;
}

/** The internals of LlamaContextSequence this loop reads and keeps up to date. */
interface SequenceInternals {
  _sequenceId: number;
  _nextTokenIndex: number;
  _contextTokens: Token[];
  _resolveSamplerConfig(options: object): object;
  _context: { _ctx: NativeContext };
  model: { _model: unknown; _llama: { _bindings: { AddonSampler: new (model: unknown) => NativeSampler } } };
}

/**
 * Whether a request can take the direct loop: then the chat template's stop triggers (engine.ts
 * Input) as text for engine.ts's stop strings, else why not.
 *
 * A trigger that starts with an end-of-generation token needs nothing: generation ends at that
 * token first, in LlamaCompletion too. A trigger of ordinary tokens only is matched as text,
 * as the request's stop strings are. One with another special token in it goes to LlamaCompletion.
 */
export function directCompletionOffer(
  sequence: LlamaContextSequence,
  options: Pick<LlamaCompletionGenerationOptions, 'grammar' | 'tokenBias' | 'dryRepeatPenalty' | 'xtc'>,
  stopTriggers: readonly LlamaText[],
): { stopTexts: string[] } | string {
  if (sequence.context.totalSequences !== 1) return 'several sequences';
  if (sequence.needsCheckpoints) return 'state checkpoints';
  if (sequence.tokenPredictor) return 'token predictor';
  if (options.grammar || options.tokenBias || options.dryRepeatPenalty || options.xtc) return 'sampling option';
  const model = sequence.model;
  const stopTexts: string[] = [];
  for (const trigger of stopTriggers) {
    const tokens = trigger.tokenize(model.tokenizer);
    if (tokens.length === 0 || model.isEogToken(tokens[0])) continue;
    if (tokens.some((t) => model.isSpecialToken(t))) return 'a stop trigger with a special token';
    const text = model.detokenize(tokens, false);
    if (text) stopTexts.push(text);
  }
  const internals = sequence as unknown as SequenceInternals;
  if (
    typeof internals._context?._ctx?.decodeBatch !== 'function' ||
    typeof internals._resolveSamplerConfig !== 'function' ||
    typeof internals.model?._llama?._bindings?.AddonSampler !== 'function' ||
    !Array.isArray(internals._contextTokens) ||
    typeof internals._nextTokenIndex !== 'number'
  ) {
    return 'internals';
  }
  return { stopTexts };
}

/**
 * node-llama-cpp decodes and samples as libuv work. A one-slot backend gets one libuv worker
 * (main/core/backends/builtin.ts builtinBackendEnv), read from the environment at start as libuv does.
 */
const SINGLE_WORKER = process.env.UV_THREADPOOL_SIZE === '1';

export interface DirectCompletionOptions {
  /** The whole input, with the token LlamaCompletion would put first. */
  tokens: Token[];
  maxTokens: number;
  sampling: LlamaCompletionGenerationOptions;
  signal: AbortSignal;
  onToken: (tokens: Token[]) => void;
}

export interface DirectCompletionResult {
  /** The new tokens, without a final end-of-generation token. */
  tokens: Token[];
  /** Tokens sampled, the end-of-generation one included (as node-llama-cpp's token meter counts). */
  sampled: number;
  stopReason: 'eogToken' | 'maxTokens' | 'abort';
}

/**
 * Generates after `tokens` on a sequence `directCompletionOffer` accepted. The sequence keeps what
 * it holds of the input's start (engine.ts clearSlot leaves only that); the rest of the prompt is
 * decoded here, in batches of the context's batch size, the last with the first sampling.
 */
export async function directCompletion(sequence: LlamaContextSequence, options: DirectCompletionOptions): Promise<DirectCompletionResult> {
  const internals = sequence as unknown as SequenceInternals;
  const { tokens, maxTokens, sampling, signal, onToken } = options;
  const model: LlamaModel = sequence.model;
  const held = sequence.contextTokens;
  if (held.length >= tokens.length || held.some((t, i) => t !== tokens[i])) {
    await sequence.eraseContextTokenRanges([{ start: 0, end: sequence.nextTokenIndex }]);
  }
  const batchSize = Math.max(1, sequence.context.batchSize);

  const native = internals._context._ctx;
  const sampler = new internals.model._llama._bindings.AddonSampler(internals.model._model);
  const penalty = sampling.repeatPenalty ? sampling.repeatPenalty : null;
  const penaltyWindow = penalty ? (penalty.lastTokens ?? 64) : 0;
  const newline = model.tokens.nl;
  const generated: Token[] = [];
  // As LlamaCompletion: the last tokens generated, newlines excepted, unless asked otherwise.
  const punished = (): Token[] => {
    const last = generated.slice(-penaltyWindow);
    return penalty?.penalizeNewLine || newline == null ? last : last.filter((t) => t !== newline);
  };
  const config = (): object =>
    internals._resolveSamplerConfig({
      temperature: sampling.temperature,
      minP: sampling.minP,
      topK: sampling.topK,
      topP: sampling.topP,
      seed: sampling.seed,
      repeatPenalty: penalty
        ? { punishTokens: punished, maxPunishTokens: penaltyWindow, penalty: penalty.penalty, frequencyPenalty: penalty.frequencyPenalty, presencePenalty: penalty.presencePenalty }
        : undefined,
    });
  const evaluated: Token[] = [];
  let outputs = 0;
  let sampled = 0;
  // What is still to decode: the prompt (in batches, logits for its last token only), then each
  // sampled token.
  let pending = tokens.slice(sequence.nextTokenIndex);
  try {
    sampler.applyConfig(config());
    for (;;) {
      if (signal.aborted) return { tokens: generated, sampled, stopReason: 'abort' };
      const batch = pending.slice(0, batchSize);
      pending = pending.slice(batch.length);
      const last = pending.length === 0;
      native.initBatch(batch.length);
      const logitIndexes = native.addToBatch(
        internals._sequenceId,
        internals._nextTokenIndex + evaluated.length,
        Uint32Array.from(batch),
        last ? Uint32Array.of(batch.length - 1) : new Uint32Array(0),
      );
      if (last && penalty && generated.length > 0) sampler.applyConfig(config());
      const decoded = native.decodeBatch();
      // On one libuv worker, work runs in the order it was queued: the sampling waits behind the
      // decode and starts the moment it ends, not after a round trip through this thread.
      const early = last && SINGLE_WORKER ? native.sampleToken(logitIndexes[0]!, sampler) : null;
      try {
        await decoded;
      } catch (err) {
        early?.catch(() => {});
        throw err;
      }
      evaluated.push(...batch);
      if (!last) continue;
      outputs++;
      const result = await (early ?? native.sampleToken(logitIndexes[0]!, sampler));
      const token = (Array.isArray(result) ? result[0] : result) as Token;
      if ((token as number) === -1) throw new Error('Failed to sample the next token');
      sampled++;
      if (model.isEogToken(token)) return { tokens: generated, sampled, stopReason: 'eogToken' };
      generated.push(token);
      onToken([token]);
      if (generated.length >= maxTokens) return { tokens: generated, sampled, stopReason: 'maxTokens' };
      pending = [token];
    }
  } finally {
    sampler.dispose();
    // What node-llama-cpp's own evaluation would have recorded for these tokens: the sequence's
    // tokens, and its meter (tokens decoded for their logits count as output, the rest as input).
    internals._contextTokens = internals._contextTokens.concat(evaluated);
    internals._nextTokenIndex += evaluated.length;
    sequence.tokenMeter.useTokens(evaluated.length - outputs, 'input');
    sequence.tokenMeter.useTokens(outputs, 'output');
  }
}
