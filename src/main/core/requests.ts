/**
 * Turns a chat or completion request into the backend's PredictOptions: sampling defaults from
 * the model's config (C2), stop words, and the prompt - rendered from the config's Go templates
 * when it has them, else left to the GGUF's own chat template (C3).
 */
import { BUILTIN_SAMPLING } from '../../shared/model';
import type { CatalogEntry } from './catalog/types';
import { renderChatPrompt, renderCompletionPrompt, usesConfigTemplate } from './catalog/prompt';
import type { ChatMessage, PredictOptions } from '../../wire';

export interface Sampling {
  temperature?: number;
  top_p?: number;
  top_k?: number;
  min_p?: number;
  max_tokens?: number;
  seed?: number;
  repeat_penalty?: number;
  /** OpenAI's penalties (-2 to 2), as PredictOptions' PresencePenalty and FrequencyPenalty. */
  presence_penalty?: number;
  frequency_penalty?: number;
  stop?: string[];
}

export interface ChatRequest extends Sampling {
  messages: { role: string; content: string }[];
  tools?: unknown;
  tool_choice?: unknown;
  /** A GBNF grammar the answer must follow (structured output), sent as PredictOptions.Grammar. */
  grammar?: string;
}

export interface CompletionRequest extends Sampling {
  prompt: string;
}

export interface BuiltOptions {
  options: PredictOptions;
  /** Set when the config's template failed and the GGUF's template is used instead. */
  templateWarning: string | null;
}

function sampling(entry: CatalogEntry, req: Sampling): PredictOptions {
  const p = entry.config.parameters;
  const stops = [...entry.config.stopwords, ...(req.stop ?? [])];
  return {
    Temperature: req.temperature ?? p.temperature ?? BUILTIN_SAMPLING.temperature,
    TopP: req.top_p ?? p.top_p ?? BUILTIN_SAMPLING.top_p,
    TopK: req.top_k ?? p.top_k ?? 40,
    MinP: req.min_p ?? 0.05,
    Tokens: req.max_tokens ?? p.max_tokens ?? 0,
    Seed: req.seed ?? p.seed ?? 0,
    Penalty: req.repeat_penalty ?? 1.1,
    ...(req.presence_penalty ? { PresencePenalty: req.presence_penalty } : {}),
    ...(req.frequency_penalty ? { FrequencyPenalty: req.frequency_penalty } : {}),
    StopPrompts: [...new Set(stops.filter((s) => s.length > 0))],
  };
}

export function buildChatOptions(entry: CatalogEntry, req: ChatRequest): BuiltOptions {
  const base = sampling(entry, req);
  if (req.tools !== undefined) base.Tools = JSON.stringify(req.tools);
  if (req.tool_choice !== undefined) base.ToolChoice = JSON.stringify(req.tool_choice);
  if (req.grammar) base.Grammar = req.grammar;
  const template = entry.config.template;
  if (template && usesConfigTemplate(template)) {
    try {
      const prompt = renderChatPrompt(template, req.messages, {
        systemPrompt: entry.config.system_prompt,
        roles: entry.config.roles,
        functions: req.tools,
      });
      return { options: { ...base, Prompt: prompt, UseTokenizerTemplate: false }, templateWarning: null };
    } catch (e) {
      const warning = `the chat template in its config failed (${(e as Error).message}); using the model file's own template`;
      return { options: tokenizerTemplate(base, req.messages), templateWarning: warning };
    }
  }
  return { options: tokenizerTemplate(base, req.messages), templateWarning: null };
}

function tokenizerTemplate(base: PredictOptions, messages: ChatRequest['messages']): PredictOptions {
  const Messages: ChatMessage[] = messages.map((m) => ({ role: m.role, content: m.content }));
  return { ...base, Messages, UseTokenizerTemplate: true };
}

export function buildCompletionOptions(entry: CatalogEntry, req: CompletionRequest): BuiltOptions {
  const base = sampling(entry, req);
  const template = entry.config.template;
  if (template?.completion) {
    try {
      return { options: { ...base, Prompt: renderCompletionPrompt(template, req.prompt) }, templateWarning: null };
    } catch (e) {
      return {
        options: { ...base, Prompt: req.prompt },
        templateWarning: `the completion template in its config failed (${(e as Error).message}); sending the prompt as is`,
      };
    }
  }
  return { options: { ...base, Prompt: req.prompt }, templateWarning: null };
}
