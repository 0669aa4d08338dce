/**
 * Conversations and their answers, owned by the core: windows only call these commands and fold
 * the events, so an answer keeps streaming when a window closes and every window shows the same.
 *
 * An answer: the user's message is saved first; then the model is loaded as a user load (L13),
 * the prompt is fitted to the model's context (the system prompt always, then the newest
 * messages), the answer streams through the loader (R5) with an AbortSignal so stop cancels the
 * gRPC stream at once (R3), and the assistant message is saved when it ends, however it ends.
 */
import { DEFAULT_CHAT_PARAMS } from '../../../shared/chat';
import type {
  ChatEvent,
  ChatExportFormat,
  ChatMessage,
  ChatSearchHit,
  Conversation,
  ConversationPatch,
  ConversationSummary,
  FinishReason,
  Generation,
} from '../../../shared/chat';
import { LoadoutError, isLoadoutError } from '../../../shared/errors';
import type { ModelRow } from '../../../shared/model';
import type { CatalogEntry } from '../catalog/types';
import { systemClock, type Clock } from '../clock';
import type { RequestOptions, StreamChunk } from '../loader/loader';
import type { ChatRequest } from '../requests';
import type { ChatStore } from './chatStore';
import { newId } from './chatStore';
import { PROMPT_OVERHEAD, answerReserve, effectiveContextSize, fitHistory, historyBudget, messageCost, tokenUpperBound } from './contextWindow';
import { exportConversation } from './exportChat';
import type { ExportedChat } from './exportChat';
import { DEFAULT_TITLE, checkId, checkPatch, checkText, mergeParams, titleFrom } from './params';
import { matcher, snippet } from './search';

/** The chat commands of the core (the contract's conversation entries). */
export interface ChatCommands {
  conversations(): ConversationSummary[];
  conversation(id: string): Conversation;
  createConversation(init?: ConversationPatch): ConversationSummary;
  updateConversation(id: string, patch: ConversationPatch): ConversationSummary;
  deleteConversation(id: string): Promise<void>;
  searchConversations(query: string): ChatSearchHit[];
  exportConversation(id: string, format: ChatExportFormat): ExportedChat;
  sendMessage(id: string, text: string): ChatMessage;
  stopGeneration(id: string): Promise<void>;
  regenerate(id: string): void;
  editMessage(id: string, messageId: string, text: string): ChatMessage;
  generations(): Generation[];
}

export interface ChatServiceOptions {
  store: ChatStore;
  emit: (event: ChatEvent) => void;
  /** A problem the user should hear about that has no caller to throw to. */
  notice: (text: string) => void;
  catalog: (name: string) => CatalogEntry | undefined;
  row: (name: string) => ModelRow;
  load: (name: string, opts: RequestOptions) => Promise<ModelRow>;
  tokenize: (name: string, text: string, opts: RequestOptions) => Promise<number[]>;
  /** The same path as the core's `chat` command (the model's templates and sampling defaults). */
  chat: (name: string, req: ChatRequest, opts: RequestOptions) => AsyncGenerator<StreamChunk>;
  /** Message times, answer stats and the shutdown wait (default: the system clock). */
  clock?: Clock;
}

const SEARCH_LIMIT = 50;
const TOKEN_CACHE_MAX = 50_000;
/** dispose() waits at most this long for answers to save their partial text. */
const DISPOSE_WAIT_MS = 5_000;

interface Running {
  gen: Generation;
  abort: AbortController;
  sentAt: number;
  done: Promise<void>;
  /** The conversation was deleted: save nothing. */
  discard: boolean;
  /** The core is closing. */
  closing: boolean;
}

interface Prompt {
  request: ChatRequest;
  omitted: number;
  contextSize: number;
  maxTokens: number;
  /** Our estimate, for backends that report no prompt tokens. */
  promptTokens: number;
}

export class ChatService {
  private readonly running = new Map<string, Running>();
  /** `${model}\n${messageId}` -> tokens (message ids never change content). */
  private readonly tokenCache = new Map<string, number>();
  private readonly clock: Clock;
  private closed = false;

  constructor(private readonly o: ChatServiceOptions) {
    this.clock = o.clock ?? systemClock;
  }

  private now(): number {
    return this.clock.now();
  }

  commands(): ChatCommands {
    return {
      conversations: () => this.o.store.list(),
      conversation: (id) => this.o.store.conversation(checkId(id)),
      createConversation: (init) => this.create(init),
      updateConversation: (id, patch) => this.update(id, patch),
      deleteConversation: (id) => this.remove(id),
      searchConversations: (query) => this.search(query),
      exportConversation: (id, format) => exportConversation(this.o.store.conversation(checkId(id)), format),
      sendMessage: (id, text) => this.send(id, text),
      stopGeneration: (id) => this.stop(id),
      regenerate: (id) => this.regenerate(id),
      editMessage: (id, messageId, text) => this.edit(id, messageId, text),
      generations: () => [...this.running.values()].map((r) => ({ ...r.gen })),
    };
  }

  /** Stops every answer and saves what it had, before the loader stops the backends. */
  async dispose(): Promise<void> {
    this.closed = true;
    const all = [...this.running.values()];
    for (const r of all) {
      r.closing = true;
      r.abort.abort(new LoadoutError('cancelled', 'Loadout was closed while answering.'));
    }
    let timer: unknown;
    await Promise.race([
      Promise.all(all.map((r) => r.done)),
      new Promise<void>((resolve) => {
        timer = this.clock.setTimeout(resolve, DISPOSE_WAIT_MS);
      }),
    ]);
    this.clock.clearTimeout(timer);
  }

  // ------------------------------------------------------------- conversations

  private create(init: unknown): ConversationSummary {
    this.open();
    const p = checkPatch(init);
    if (typeof p.model === 'string') this.checkModel(p.model);
    const summary = this.o.store.create({ title: p.title ?? DEFAULT_TITLE, model: p.model ?? null, params: mergeParams(DEFAULT_CHAT_PARAMS, p.params) });
    this.o.emit({ type: 'conversation', conversation: summary });
    return summary;
  }

  private update(id: string, patch: unknown): ConversationSummary {
    const before = this.o.store.summary(checkId(id));
    const p = checkPatch(patch);
    if (typeof p.model === 'string') this.checkModel(p.model);
    if (p.title === undefined && p.model === undefined && p.params === undefined) return before;
    const summary = this.o.store.patch(id, {
      ...(p.title !== undefined ? { title: p.title } : {}),
      ...(p.model !== undefined ? { model: p.model } : {}),
      ...(p.params !== undefined ? { params: mergeParams(before.params, p.params) } : {}),
    });
    this.o.emit({ type: 'conversation', conversation: summary });
    return summary;
  }

  private async remove(id: string): Promise<void> {
    this.o.store.summary(checkId(id));
    const r = this.running.get(id);
    if (r) {
      r.discard = true;
      r.abort.abort(new LoadoutError('cancelled', 'The conversation was deleted.'));
    }
    this.o.store.remove(id);
    this.o.emit({ type: 'conversation-removed', id });
    if (r) await r.done;
  }

  private search(query: unknown): ChatSearchHit[] {
    if (typeof query !== 'string') throw new LoadoutError('invalid', 'The search must be text.');
    const re = matcher(query);
    if (!re) return [];
    const hits: ChatSearchHit[] = [];
    for (const s of this.o.store.list()) {
      const inTitle = snippet(s.title, re);
      if (inTitle !== null) hits.push({ conversationId: s.id, title: s.title, messageId: null, snippet: inTitle });
      if (hits.length >= SEARCH_LIMIT) break;
      let messages: readonly ChatMessage[];
      try {
        messages = this.o.store.peekMessages(s.id);
      } catch {
        continue; // a file that went missing or bad since start: nothing to find in it
      }
      for (const m of messages) {
        const found = snippet(m.content, re);
        if (found !== null) hits.push({ conversationId: s.id, title: s.title, messageId: m.id, snippet: found });
        if (hits.length >= SEARCH_LIMIT) return hits;
      }
    }
    return hits;
  }

  // ------------------------------------------------------------- sending

  private send(id: string, text: string): ChatMessage {
    const before = this.o.store.summary(checkId(id));
    const content = checkText(text);
    const model = this.checkCanAnswer(before);
    const message = this.appendUser(id, content, before.messageCount === 0 && before.title === DEFAULT_TITLE);
    this.start(id, model);
    return message;
  }

  private regenerate(id: string): void {
    const summary = this.o.store.summary(checkId(id));
    const model = this.checkCanAnswer(summary);
    const messages = this.o.store.messages(id);
    let keep = messages.length;
    if (keep > 0 && messages[keep - 1].role === 'assistant') keep--;
    if (keep === 0 || messages[keep - 1].role !== 'user') throw new LoadoutError('invalid', 'There is no message to answer yet: send one first.');
    if (keep < messages.length) this.truncate(id, keep);
    this.start(id, model);
  }

  private edit(id: string, messageId: string, text: string): ChatMessage {
    const summary = this.o.store.summary(checkId(id));
    checkId(messageId, 'message');
    const content = checkText(text);
    const model = this.checkCanAnswer(summary);
    const index = this.o.store.messages(id).findIndex((m) => m.id === messageId);
    if (index < 0) throw new LoadoutError('not_found', 'That message is no longer in this conversation.');
    if (this.o.store.messages(id)[index].role !== 'user') throw new LoadoutError('invalid', 'Only your own messages can be edited; regenerate an answer instead.');
    this.truncate(id, index);
    const message = this.appendUser(id, content, index === 0 && summary.title === DEFAULT_TITLE);
    this.start(id, model);
    return message;
  }

  private stop(id: string): Promise<void> {
    this.o.store.summary(checkId(id));
    const r = this.running.get(id);
    if (!r) return Promise.resolve();
    r.abort.abort(new LoadoutError('cancelled', 'Stopped.'));
    return r.done;
  }

  private truncate(id: string, keep: number): void {
    const summary = this.o.store.truncate(id, keep);
    this.o.emit({ type: 'chat-truncated', conversationId: id, keep });
    this.o.emit({ type: 'conversation', conversation: summary });
  }

  private appendUser(id: string, content: string, setTitle: boolean): ChatMessage {
    const message: ChatMessage = { id: newId(this.now()), role: 'user', content, at: this.iso() };
    let summary = this.o.store.append(id, message);
    if (setTitle) summary = this.o.store.patch(id, { title: titleFrom(content) });
    this.o.emit({ type: 'chat-message', conversationId: id, message });
    this.o.emit({ type: 'conversation', conversation: summary });
    return message;
  }

  /** Everything that makes answering impossible, checked before anything is written. */
  private checkCanAnswer(summary: ConversationSummary): string {
    this.open();
    if (summary.model === null) throw new LoadoutError('invalid', 'Choose a model for this conversation first.');
    this.checkModel(summary.model);
    if (this.running.has(summary.id)) {
      throw new LoadoutError('invalid', 'An answer is still being written in this conversation: wait for it or press stop first.');
    }
    return summary.model;
  }

  private checkModel(name: string): void {
    if (!this.o.catalog(name)) throw new LoadoutError('not_found', `There is no model named "${name}". Pick one of the models in the list.`);
  }

  private open(): void {
    if (this.closed) throw new LoadoutError('invalid', 'Loadout is closing; try again after it restarts.');
  }

  // ------------------------------------------------------------- generation

  private start(conversationId: string, model: string): void {
    const sentAt = this.now();
    let state: ModelRow['state'] | null = null;
    try {
      state = this.o.row(model).state;
    } catch {
      // The load below says what is wrong.
    }
    const gen: Generation = {
      conversationId,
      messageId: newId(sentAt),
      model,
      phase: state === 'ready' || state === 'busy' ? 'waiting' : 'loading',
      text: '',
      startedAt: new Date(sentAt).toISOString(),
      omitted: 0,
    };
    const r: Running = { gen, abort: new AbortController(), sentAt, done: Promise.resolve(), discard: false, closing: false };
    this.running.set(conversationId, r);
    this.emitGeneration(r);
    r.done = this.run(r).finally(() => {
      if (this.running.get(conversationId) === r) this.running.delete(conversationId);
    });
  }

  private async run(r: Running): Promise<void> {
    const { gen } = r;
    const signal = r.abort.signal;
    let text = '';
    let tokens = 0;
    let promptTokens = 0;
    let pieces = 0;
    let firstAt: number | null = null;
    let firstTokens = 0;
    let lastAt: number | null = null;
    let finish: FinishReason = 'stop';
    let error: string | undefined;
    let prompt: Prompt | null = null;
    try {
      await this.o.load(gen.model, { origin: 'user', signal });
      if (gen.phase === 'loading') this.setPhase(r, 'waiting');
      prompt = await this.buildPrompt(gen.conversationId, gen.model, signal);
      if (prompt.omitted !== gen.omitted) {
        gen.omitted = prompt.omitted;
        this.emitGeneration(r);
      }
      for await (const chunk of this.o.chat(gen.model, prompt.request, { signal, origin: 'user' })) {
        // Backends report running totals (the built-in one on a last, empty reply); some send 1 per reply.
        tokens = Math.max(tokens, chunk.tokens);
        promptTokens = Math.max(promptTokens, chunk.promptTokens);
        if (firstAt !== null) lastAt = this.now();
        if (!chunk.text) continue;
        pieces++;
        if (firstAt === null) {
          firstAt = this.now();
          firstTokens = Math.max(1, chunk.tokens);
          this.setPhase(r, 'generating');
        }
        text += chunk.text;
        gen.text = text;
        this.o.emit({ type: 'chat-delta', conversationId: gen.conversationId, messageId: gen.messageId, text: chunk.text });
      }
      tokens = Math.max(tokens, pieces);
      if (prompt.maxTokens > 0 && tokens >= prompt.maxTokens) finish = 'length';
      else if ((promptTokens || prompt.promptTokens) + tokens >= prompt.contextSize) finish = 'length';
    } catch (e) {
      tokens = Math.max(tokens, pieces);
      if (signal.aborted) {
        finish = 'stopped';
        if (r.closing) error = 'Loadout was closed while answering.';
      } else {
        finish = 'error';
        error = isLoadoutError(e) ? e.message : `The answer failed: ${(e as Error)?.message ?? String(e)}`;
      }
    }

    const end = this.now();
    const generated = firstAt !== null && lastAt !== null && lastAt > firstAt ? tokens - firstTokens : 0;
    const message: ChatMessage = {
      id: gen.messageId,
      role: 'assistant',
      content: text,
      at: new Date(end).toISOString(),
      model: gen.model,
      stats: {
        tokens,
        promptTokens: promptTokens || prompt?.promptTokens || 0,
        ttftMs: firstAt === null ? null : firstAt - r.sentAt,
        // Tokens after the first over the time they took (the first one's wait is the ttft).
        tokensPerSecond: generated > 0 ? Math.round((generated / ((lastAt! - firstAt!) / 1000)) * 10) / 10 : null,
        durationMs: end - r.sentAt,
      },
      finish,
    };
    if (error !== undefined) message.error = error;
    if (gen.omitted > 0) message.omitted = gen.omitted;

    // No longer "generating" before anyone hears it ended: a window may send again at once.
    if (this.running.get(gen.conversationId) === r) this.running.delete(gen.conversationId);
    let summary: ConversationSummary | null = null;
    if (!r.discard) {
      try {
        summary = this.o.store.append(gen.conversationId, message);
      } catch (e) {
        this.o.notice(`chats: the answer in "${this.titleOf(gen.conversationId)}" could not be saved: ${(e as Error).message}`);
      }
    }
    this.o.emit({ type: 'generation', conversationId: gen.conversationId, generation: null });
    if (summary) {
      this.o.emit({ type: 'chat-message', conversationId: gen.conversationId, message });
      this.o.emit({ type: 'conversation', conversation: summary });
    }
  }

  /**
   * The request for the answer: the system prompt (always), then the newest messages that fit
   * the model's context with room left for the answer. Empty answers (stopped or failed before
   * any text) are not sent.
   */
  private async buildPrompt(conversationId: string, model: string, signal: AbortSignal): Promise<Prompt> {
    const entry = this.o.catalog(model);
    if (!entry) throw new LoadoutError('not_found', `There is no model named "${model}" any more.`);
    const params = this.o.store.summary(conversationId).params;
    const contextSize = effectiveContextSize(entry.config.context_size, entry.gguf?.contextLength);
    const maxTokens = params.max_tokens ?? entry.config.parameters.max_tokens ?? 0;
    const reserve = answerReserve(contextSize, maxTokens);
    const system = params.system_prompt.trim() === '' ? null : params.system_prompt;
    const all = this.o.store.messages(conversationId);
    const candidates: number[] = [];
    all.forEach((m, i) => {
      if (m.role === 'user' || m.content !== '') candidates.push(i);
    });
    const roles = candidates.map((i) => all[i].role).reverse();

    let systemTokens = system === null ? null : tokenUpperBound(system);
    const costs = candidates.map((i) => messageCost(tokenUpperBound(all[i].content))).reverse();
    let budget = historyBudget({ contextSize, reserve, systemTokens });
    // Most conversations fit even when every byte counts as a token: then nothing needs tokenizing.
    if (costs.reduce((a, b) => a + b, 0) > budget) {
      const counter = this.counter(model, signal);
      systemTokens = system === null ? null : await counter(`system\n${system}`, system);
      budget = historyBudget({ contextSize, reserve, systemTokens });
      costs.length = 0;
      let sum = 0;
      // Newest first, and only as far back as can fit: a long conversation is never tokenized whole.
      for (let k = candidates.length - 1; k >= 0 && sum <= budget; k--) {
        const m = all[candidates[k]];
        const cost = messageCost(await counter(m.id, m.content));
        costs.push(cost);
        sum += cost;
      }
    }
    const fit = fitHistory(costs, roles, budget);
    if (!fit.ok) {
      const parts = [`${reserve} kept for the answer`];
      if (systemTokens !== null) parts.push(`${systemTokens} for the system prompt`);
      throw new LoadoutError(
        'too_large',
        `Your message is ${fit.newestTokens} tokens; ${model}'s context is ${contextSize} tokens (${parts.join(', ')}): shorten it or raise context_size in the model's settings.`,
      );
    }
    const kept = candidates.slice(candidates.length - fit.keep);
    const omitted = fit.keep === candidates.length ? 0 : (kept[0] ?? all.length);
    const messages: ChatRequest['messages'] = kept.map((i) => ({ role: all[i].role, content: all[i].content }));
    if (system !== null) messages.unshift({ role: 'system', content: system });
    const request: ChatRequest = { messages };
    // null = the model's config default, which requests.ts applies for a missing field (C2).
    if (params.temperature !== null) request.temperature = params.temperature;
    if (params.top_p !== null) request.top_p = params.top_p;
    if (params.max_tokens !== null) request.max_tokens = params.max_tokens;
    if (params.seed !== null) request.seed = params.seed;
    const promptTokens = PROMPT_OVERHEAD + fit.tokens + (systemTokens === null ? 0 : messageCost(systemTokens));
    return { request, omitted, contextSize, maxTokens, promptTokens };
  }

  /** Counts tokens with the model's tokenizer (cached); if the backend cannot tokenize, estimates. */
  private counter(model: string, signal: AbortSignal): (key: string, text: string) => Promise<number> {
    let tokenizerWorks = true;
    return async (key, text) => {
      const cacheKey = `${model}\n${key}`;
      const cached = this.tokenCache.get(cacheKey);
      if (cached !== undefined) return cached;
      let n: number;
      if (tokenizerWorks) {
        try {
          n = (await this.o.tokenize(model, text, { signal, origin: 'user' })).length;
        } catch (e) {
          if (signal.aborted) throw e;
          // E.g. a remote backend without TokenizeString: about 3 characters a token errs on the safe side.
          tokenizerWorks = false;
          n = Math.ceil(text.length / 3);
        }
      } else {
        n = Math.ceil(text.length / 3);
      }
      this.cacheTokens(model, key, n);
      return n;
    };
  }

  private cacheTokens(model: string, key: string, n: number): void {
    this.tokenCache.set(`${model}\n${key}`, n);
    if (this.tokenCache.size > TOKEN_CACHE_MAX) this.tokenCache.delete(this.tokenCache.keys().next().value as string);
  }

  private setPhase(r: Running, phase: Generation['phase']): void {
    r.gen.phase = phase;
    this.emitGeneration(r);
  }

  private emitGeneration(r: Running): void {
    this.o.emit({ type: 'generation', conversationId: r.gen.conversationId, generation: { ...r.gen } });
  }

  private titleOf(id: string): string {
    try {
      return this.o.store.summary(id).title;
    } catch {
      return id;
    }
  }

  private iso(): string {
    return new Date(this.now()).toISOString();
  }
}
