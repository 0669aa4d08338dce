/**
 * OpenAI request bodies -> the core's requests (pure). Every field we act on is checked, with a
 * message naming the field; fields we cannot honour are refused rather than silently dropped,
 * so a client never gets an answer that ignored what it asked for.
 */
import { name as checkName } from '../../../../shared/argCheck';
import type { ChatRequest, CompletionRequest, Sampling } from '../../requests';
import { InvalidParam } from './errors';
import { SchemaError, jsonObjectGrammar, jsonSchemaGrammar } from './jsonGrammar';

type Body = Record<string, unknown>;

export interface ParsedChat {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  request: ChatRequest;
  /** Non-text `response_format` asked for (its grammar is in `request.grammar`), else null. */
  responseFormat: 'json_object' | 'json_schema' | null;
}

export interface ParsedCompletion {
  model: string;
  stream: boolean;
  includeUsage: boolean;
  request: CompletionRequest;
  echo: boolean;
}

export interface ParsedEmbeddings {
  model: string;
  inputs: string[];
  encoding: 'float' | 'base64';
}

const present = (v: unknown) => v !== undefined && v !== null;

function modelOf(b: Body): string {
  const m = b.model;
  if (typeof m !== 'string' || m.trim() === '') throw new InvalidParam('model', 'Say which model to use: "model" must be the name of a model (GET /v1/models lists them).');
  const problem = checkName(m, '"model"');
  if (problem) throw new InvalidParam('model', `${problem}; GET /v1/models lists the names.`);
  return m;
}

function bool(b: Body, key: string): boolean {
  const v = b[key];
  if (!present(v)) return false;
  if (typeof v !== 'boolean') throw new InvalidParam(key, `"${key}" must be true or false.`);
  return v;
}

function num(b: Body, key: string, min: number, max: number): number | undefined {
  const v = b[key];
  if (!present(v)) return undefined;
  if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) throw new InvalidParam(key, `"${key}" must be a number from ${min} to ${max} (got ${JSON.stringify(v)}).`);
  return v;
}

function int(b: Body, key: string, min: number, max: number): number | undefined {
  const v = num(b, key, min, max);
  if (v !== undefined && !Number.isInteger(v)) throw new InvalidParam(key, `"${key}" must be a whole number (got ${v}).`);
  return v;
}

const INT32_MAX = 2 ** 31 - 1;

/** Sampling shared by chat and completions, including LocalAI's extensions (top_k, min_p, repeat_penalty). */
function sampling(b: Body): Sampling {
  const out: Sampling = {};
  const maxTokens = int(b, 'max_completion_tokens', 1, INT32_MAX) ?? int(b, 'max_tokens', 1, INT32_MAX);
  if (maxTokens !== undefined) out.max_tokens = maxTokens;
  const set = <K extends keyof Sampling>(k: K, v: Sampling[K] | undefined) => {
    if (v !== undefined) out[k] = v;
  };
  set('temperature', num(b, 'temperature', 0, 2));
  set('top_p', num(b, 'top_p', 0, 1));
  set('seed', int(b, 'seed', -(2 ** 31), INT32_MAX));
  set('top_k', int(b, 'top_k', 0, INT32_MAX));
  set('min_p', num(b, 'min_p', 0, 1));
  set('repeat_penalty', num(b, 'repeat_penalty', 0, 10));
  set('presence_penalty', num(b, 'presence_penalty', -2, 2));
  set('frequency_penalty', num(b, 'frequency_penalty', -2, 2));
  const stop = b.stop;
  if (present(stop)) {
    if (typeof stop === 'string') out.stop = [stop];
    else if (Array.isArray(stop) && stop.every((s) => typeof s === 'string')) out.stop = stop as string[];
    else throw new InvalidParam('stop', '"stop" must be a string or a list of strings.');
  }
  if (present(b.n) && b.n !== 1) throw new InvalidParam('n', 'Only one answer per request is supported: leave "n" out or set it to 1.');
  if (present(b.logprobs) && b.logprobs !== false && b.logprobs !== 0) throw new InvalidParam('logprobs', '"logprobs" is not supported by Loadout; leave it out.');
  if (present(b.top_logprobs) && b.top_logprobs !== 0) throw new InvalidParam('top_logprobs', '"top_logprobs" is not supported by Loadout (it sends no log probabilities); leave it out.');
  const bias = b.logit_bias;
  if (present(bias) && !(typeof bias === 'object' && !Array.isArray(bias) && Object.keys(bias).length === 0)) {
    throw new InvalidParam('logit_bias', '"logit_bias" is not supported by Loadout; leave it out (to keep words out of an answer, use "stop" or a "response_format").');
  }
  return out;
}

function streamFlags(b: Body): { stream: boolean; includeUsage: boolean } {
  const stream = bool(b, 'stream');
  const so = b.stream_options;
  let includeUsage = false;
  if (present(so)) {
    if (typeof so !== 'object' || Array.isArray(so)) throw new InvalidParam('stream_options', '"stream_options" must be an object such as {"include_usage": true}.');
    includeUsage = bool(so as Body, 'include_usage');
  }
  return { stream, includeUsage: stream && includeUsage };
}

const ROLES = new Set(['system', 'developer', 'user', 'assistant', 'tool']);

function messageText(content: unknown, i: number): string {
  if (content === null || content === undefined) return '';
  if (typeof content === 'string') return content;
  if (Array.isArray(content)) {
    const texts: string[] = [];
    for (const part of content) {
      const p = part as { type?: unknown; text?: unknown };
      if (p && p.type === 'text' && typeof p.text === 'string') texts.push(p.text);
      else if (p && typeof p.type === 'string') throw new InvalidParam(`messages[${i}].content`, `Message ${i} has a "${p.type}" part; Loadout's models take text only.`);
      else throw new InvalidParam(`messages[${i}].content`, `Message ${i} has a content part that is not {"type": "text", "text": "..."}.`);
    }
    return texts.join('\n');
  }
  throw new InvalidParam(`messages[${i}].content`, `Message ${i}: "content" must be a string or a list of text parts.`);
}

export function parseChat(b: Body): ParsedChat {
  const model = modelOf(b);
  const list = b.messages;
  if (!Array.isArray(list) || list.length === 0) throw new InvalidParam('messages', '"messages" must be a non-empty list of {"role", "content"}.');
  const messages = list.map((m, i) => {
    if (typeof m !== 'object' || m === null || Array.isArray(m)) throw new InvalidParam(`messages[${i}]`, `Message ${i} must be an object with "role" and "content".`);
    const { role, content } = m as Body;
    if (typeof role !== 'string' || !ROLES.has(role)) throw new InvalidParam(`messages[${i}].role`, `Message ${i}: "role" must be one of system, developer, user, assistant, tool.`);
    // GGUF chat templates know system, not OpenAI's newer name for it.
    return { role: role === 'developer' ? 'system' : role, content: messageText(content, i) };
  });
  if (present(b.functions) || present(b.function_call)) {
    throw new InvalidParam('functions', '"functions" and "function_call" are the old form of tools; send "tools" and "tool_choice" instead.');
  }
  const request: ChatRequest = { ...sampling(b), messages };
  const tools = b.tools;
  if (present(tools)) {
    if (!Array.isArray(tools)) throw new InvalidParam('tools', '"tools" must be a list of tool definitions.');
    // tool_choice "none" means the model must not call them: the same as sending none.
    if (tools.length > 0 && b.tool_choice !== 'none') {
      request.tools = tools;
      if (present(b.tool_choice)) request.tool_choice = b.tool_choice;
    }
  }
  const format = responseFormat(b.response_format);
  if (format) request.grammar = format.grammar;
  return { model, ...streamFlags(b), request, responseFormat: format?.type ?? null };
}

/**
 * `response_format` as a grammar the backend samples with (jsonGrammar.ts): json_object is any
 * JSON object, json_schema values matching `json_schema.schema`. Text needs none.
 */
function responseFormat(rf: unknown): { type: 'json_object' | 'json_schema'; grammar: string } | null {
  if (!present(rf)) return null;
  const type = typeof rf === 'object' && !Array.isArray(rf) ? (rf as Body).type : undefined;
  if (type === 'text') return null;
  if (type === 'json_object') return { type, grammar: jsonObjectGrammar() };
  if (type !== 'json_schema') {
    throw new InvalidParam('response_format', '"response_format" must be {"type": "text"}, {"type": "json_object"} or {"type": "json_schema", "json_schema": {"name": ..., "schema": {...}}}.');
  }
  const spec = (rf as Body).json_schema;
  if (typeof spec !== 'object' || spec === null || Array.isArray(spec)) {
    throw new InvalidParam('response_format', '"response_format.json_schema" must be an object such as {"name": "answer", "schema": {...}}.');
  }
  const schema = (spec as Body).schema;
  // No schema: any JSON object, as json_object.
  if (!present(schema)) return { type, grammar: jsonObjectGrammar() };
  try {
    return { type, grammar: jsonSchemaGrammar(schema, 'response_format.json_schema.schema') };
  } catch (e) {
    if (e instanceof SchemaError) throw new InvalidParam('response_format', `The JSON schema in "response_format" cannot be used: ${e.message}.`);
    throw e;
  }
}

export function parseCompletion(b: Body): ParsedCompletion {
  const model = modelOf(b);
  let prompt = b.prompt;
  if (Array.isArray(prompt) && prompt.length === 1 && typeof prompt[0] === 'string') prompt = prompt[0];
  if (typeof prompt !== 'string') {
    throw new InvalidParam('prompt', Array.isArray(prompt) ? 'Send one prompt per request, as a string (lists of prompts and token ids are not supported).' : '"prompt" must be a string.');
  }
  if (prompt === '') throw new InvalidParam('prompt', '"prompt" is empty: send the text the model should continue.');
  if (typeof b.suffix === 'string' && b.suffix !== '') throw new InvalidParam('suffix', '"suffix" (fill-in-the-middle) is not supported; leave it out.');
  if (present(b.best_of) && b.best_of !== 1) throw new InvalidParam('best_of', 'Only one answer per request is supported: leave "best_of" out or set it to 1.');
  return { model, ...streamFlags(b), request: { ...sampling(b), prompt }, echo: bool(b, 'echo') };
}

export function parseEmbeddings(b: Body): ParsedEmbeddings {
  const model = modelOf(b);
  const input = b.input;
  let inputs: string[];
  if (typeof input === 'string') inputs = [input];
  else if (Array.isArray(input) && input.length > 0 && input.every((s) => typeof s === 'string')) inputs = input as string[];
  else throw new InvalidParam('input', '"input" must be a string or a non-empty list of strings (token ids are not supported).');
  if (inputs.some((t) => t === '')) throw new InvalidParam('input', '"input" has an empty text; every input needs some text to embed.');
  const enc = b.encoding_format;
  if (present(enc) && enc !== 'float' && enc !== 'base64') throw new InvalidParam('encoding_format', '"encoding_format" must be "float" or "base64".');
  if (present(b.dimensions)) throw new InvalidParam('dimensions', '"dimensions" is not supported: the size of an embedding is fixed by the model.');
  return { model, inputs, encoding: enc === 'base64' ? 'base64' : 'float' };
}
