/**
 * Builds the backend prompt from a config's Go templates the way LocalAI does (C3), following its
 * core/templates/evaluator.go:
 * - each message goes through `chat_message` with .RoleName, .Content, .SystemPrompt, .Role,
 *   .MessageIndex, .LastMessage (and the zero values of LocalAI's other fields); a message whose
 *   render is empty is dropped;
 * - without `chat_message` a message is its content, prefixed by the config's `roles` entry for
 *   its role when there is one (LocalAI writes no "role: " of its own); a message with empty
 *   content becomes an empty line; a system message with content sets .SuppressSystemPrompt;
 * - the messages are joined with "\n" (or `join_chat_messages_by_character`) into .Input of the
 *   `chat` template - of the `function` template instead when functions are given and the config
 *   has one - and without that template the joined messages are the prompt.
 * Where LocalAI logs a failing template and carries on, we throw the TemplateError: the caller
 * then falls back to the GGUF's own template and says so (C3).
 */
import { compileGoTemplate, TemplateError, type CompiledTemplate } from './goTemplate';
import type { TemplateConfig } from './types';

export interface PromptOptions {
  /** LocalAI's .SystemPrompt: the config's `system_prompt`. */
  systemPrompt?: string;
  /** OpenAI `functions` or `tools`: selects the `function` template and fills .Functions. */
  functions?: unknown;
  /** The config's `roles` map (role -> prefix), used when there is no `chat_message` template. */
  roles?: Record<string, string>;
  /** The clock behind sprig's `now` (defaults to the real time). */
  now?: () => Date;
}

/** LocalAI's key for the separator between rendered messages (not in TemplateConfig yet). */
type WithJoin = TemplateConfig & { join_chat_messages_by_character?: unknown };

/** True when chat requests are rendered from the config's templates instead of the GGUF's. */
export function usesConfigTemplate(template: TemplateConfig | undefined): boolean {
  if (!template || template.use_tokenizer_template) return false;
  return Boolean(template.chat || template.chat_message);
}

export function renderChatPrompt(
  template: TemplateConfig,
  messages: { role: string; content: string }[],
  opts: PromptOptions = {},
): string {
  const systemPrompt = opts.systemPrompt ?? '';
  const roles = opts.roles ?? {};
  const parts: string[] = [];
  let suppressSystemPrompt = false;
  messages.forEach((m, index) => {
    const rolePrefix = Object.hasOwn(roles, m.role) ? roles[m.role]! : '';
    if (template.chat_message) {
      const rendered = render('chat_message', template.chat_message, opts, {
        SystemPrompt: systemPrompt,
        Role: rolePrefix,
        RoleName: m.role,
        FunctionName: '',
        Content: m.content,
        MessageIndex: index,
        Function: false,
        FunctionCall: null,
        LastMessage: index === messages.length - 1,
      });
      if (rendered !== '') parts.push(rendered);
      return;
    }
    parts.push(m.content !== '' ? rolePrefix + m.content : '');
    if (m.content !== '' && m.role === 'system') suppressSystemPrompt = true;
  });
  const join = (template as WithJoin).join_chat_messages_by_character;
  const input = parts.join(typeof join === 'string' ? join : '\n');

  const functions = goFunctions(opts.functions);
  const useFunctionTemplate = Boolean(template.function) && functions !== null && functions.length > 0;
  const source = useFunctionTemplate ? template.function : template.chat;
  if (!source) return input;
  return render(useFunctionTemplate ? 'function' : 'chat', source, opts, {
    ...promptData(systemPrompt, input),
    SuppressSystemPrompt: suppressSystemPrompt,
    Functions: functions,
  });
}

export function renderCompletionPrompt(
  template: TemplateConfig | undefined,
  prompt: string,
  opts: Pick<PromptOptions, 'systemPrompt' | 'now'> = {},
): string {
  if (!template?.completion) return prompt;
  return render('completion', template.completion, opts, promptData(opts.systemPrompt ?? '', prompt));
}

/** LocalAI's PromptTemplateData with its zero values. */
function promptData(systemPrompt: string, input: string): Record<string, unknown> {
  return {
    SystemPrompt: systemPrompt,
    SuppressSystemPrompt: false,
    Input: input,
    Instruction: '',
    Functions: null,
    MessageIndex: 0,
    ReasoningEffort: '',
    Metadata: null,
  };
}

/**
 * OpenAI functions (or tools) as LocalAI's functions.Function structs: templates read .Name,
 * .Description, .Parameters; toJson writes name, description, strict, parameters in that order.
 */
function goFunctions(input: unknown): Record<string, unknown>[] | null {
  if (!Array.isArray(input)) return null;
  return input.map((item) => {
    const f = isRecord(item) && item.type === 'function' && isRecord(item.function) ? item.function : isRecord(item) ? item : {};
    const json = {
      name: typeof f.name === 'string' ? f.name : '',
      description: typeof f.description === 'string' ? f.description : '',
      strict: f.strict === true,
      parameters: isRecord(f.parameters) ? f.parameters : null,
    };
    const struct: Record<string, unknown> = {
      Name: json.name,
      Description: json.description,
      Strict: json.strict,
      Parameters: json.parameters,
    };
    Object.defineProperty(struct, 'toJSON', { value: () => json, enumerable: false });
    return struct;
  });
}

function isRecord(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

function render(name: string, source: string, opts: PromptOptions, data: Record<string, unknown>): string {
  try {
    return compiled(source).render(data, { now: opts.now });
  } catch (e) {
    if (e instanceof TemplateError) throw e.inTemplate(name);
    throw e;
  }
}

/* Parse once, render many: a small LRU of compiled templates keyed by their source. */
const CACHE_LIMIT = 64;
const cache = new Map<string, CompiledTemplate>();

function compiled(source: string): CompiledTemplate {
  const hit = cache.get(source);
  if (hit) {
    cache.delete(source);
    cache.set(source, hit);
    return hit;
  }
  const fresh = compileGoTemplate(source);
  cache.set(source, fresh);
  if (cache.size > CACHE_LIMIT) cache.delete(cache.keys().next().value!);
  return fresh;
}

/** Compiles every template in the config; the first syntax error, or null (for the catalog's row). */
export function checkTemplates(template: TemplateConfig | undefined): TemplateError | null {
  if (!template) return null;
  for (const key of ['chat', 'chat_message', 'completion', 'function'] as const) {
    const source = template[key];
    if (!source) continue;
    try {
      compiled(source);
    } catch (e) {
      if (e instanceof TemplateError) return e.inTemplate(key);
      throw e;
    }
  }
  return null;
}

/** For tests: how many compiled templates are cached. */
export function compiledCacheSize(): number {
  return cache.size;
}
