/**
 * LocalAI model YAML -> ModelConfig (C2), with every problem written for the user (C4).
 *
 * Types follow what LocalAI (Go, gopkg.in/yaml.v3) accepts, so a config that works there works
 * here: a scalar of any type is read as text where text is expected (`name: 123` is "123"),
 * YAML 1.1 words (yes/no/on/off) are booleans where a boolean is expected, but a quoted number
 * is not a number (`context_size: "4096"` fails in LocalAI too). Unknown keys are ignored.
 */
import { LineCounter, isMap, isScalar, isSeq, parseDocument, visit, type Document, type Node } from 'yaml';
import { name as nameCheck } from '../../../shared/argCheck';
import { MAX_DURATION_S } from '../../../shared/settings';
import type { ModelConfig, TemplateConfig } from './types';
import { parallelOption, parseOptions } from './options';

export interface ParsedConfig {
  /** The `name` key, or null when the file has none (the caller uses the file stem). */
  name: string | null;
  /** What could be read; keys with problems are left out. */
  config: ModelConfig;
  /** Problems that make the model unusable: each names the key, what it must be and the line. */
  problems: string[];
  /** Set when the file is not valid YAML (or not one mapping): it cannot be edited from the GUI. */
  unreadable: string | null;
}

type Kind = 'text' | 'int' | 'number' | 'bool' | 'texts' | 'textMap' | 'map';

const EXPECTED: Record<Kind, string> = {
  text: 'text',
  int: 'a whole number',
  number: 'a number',
  bool: 'true or false',
  texts: 'a list of text items',
  textMap: 'a mapping of names to text (role: prefix)',
  map: 'a mapping (indented key: value lines)',
};

// yaml.v3 reads these as booleans when the Go field is a bool; LocalAI users may have them.
const YAML11_TRUE = new Set(['y', 'Y', 'yes', 'Yes', 'YES', 'on', 'On', 'ON']);
const YAML11_FALSE = new Set(['n', 'N', 'no', 'No', 'NO', 'off', 'Off', 'OFF']);

/** A config with long templates is tens of KB; bigger files are refused unread (Trust 12). */
export const MAX_CONFIG_BYTES = 1024 * 1024;
/**
 * The yaml parser recurses per nesting level: thousands of levels overflow the stack and can
 * abort the process, so text nested deeper than any config is refused before parsing.
 */
const MAX_FLOW_DEPTH = 100;
const MAX_INDENT = 256;
/** Aliases may repeat a node this many times in all; a "billion laughs" file needs billions. */
const MAX_ALIAS_COUNT = 100;

/** Why `text` is refused before parsing (too deep to parse safely), or null. */
export function tooDeepYaml(text: string): string | null {
  let depth = 0;
  let line = 1;
  let indent = 0;
  let atLineStart = true;
  for (let i = 0; i < text.length; i++) {
    const c = text.charCodeAt(i);
    if (c === 10) {
      line++;
      indent = 0;
      atLineStart = true;
      continue;
    }
    if (atLineStart && c === 32) {
      if (++indent > MAX_INDENT) return `line ${line} is indented more than ${MAX_INDENT} columns`;
      continue;
    }
    atLineStart = false;
    if (c === 91 || c === 123) {
      if (++depth > MAX_FLOW_DEPTH) return `line ${line} nests brackets more than ${MAX_FLOW_DEPTH} deep`;
    } else if ((c === 93 || c === 125) && depth > 0) {
      depth--;
    }
  }
  return null;
}

/** Parses a config's text as a yaml Document, refusing what would cost too much (Trust 12). */
export function parseConfigDocument(text: string, options: { lineCounter?: LineCounter } = {}): Document | string {
  const deep = tooDeepYaml(text);
  if (deep !== null) return deep;
  const doc = parseDocument(text, { ...options, prettyErrors: false });
  if (doc.errors.length > 0) return doc;
  let aliases = false;
  visit(doc, {
    Alias() {
      aliases = true;
      return visit.BREAK;
    },
  });
  if (!aliases) return doc;
  try {
    // Stops as soon as the expansion passes the limit, before it costs anything.
    doc.toJS({ maxAliasCount: MAX_ALIAS_COUNT });
  } catch (e) {
    if (e instanceof ReferenceError) return `its aliases (*name) expand to more than ${MAX_ALIAS_COUNT} copies (a "billion laughs" file)`;
    throw e;
  }
  return doc;
}

export function emptyConfig(name: string): ModelConfig {
  return { name, parameters: {}, stopwords: [], concurrency_groups: [], pinned: false, disabled: false, options: [] };
}

/** Parses one config file's text. `label` names the file in messages; `stem` is the fallback name. */
export function parseModelConfig(text: string, label: string, stem: string): ParsedConfig {
  const lines = new LineCounter();
  const fail = (message: string): ParsedConfig => ({
    name: null,
    config: emptyConfig(stem),
    problems: [message],
    unreadable: message,
  });
  const doc = parseConfigDocument(text, { lineCounter: lines });
  if (typeof doc === 'string') return fail(`${label} is refused: ${doc}. A model config needs none of that; fix the file.`);

  if (doc.errors.length > 0) {
    const e = doc.errors[0];
    const at = lines.linePos(e.pos[0]);
    const where = ` at line ${at.line}, column ${at.col}`;
    return fail(`${label} is not valid YAML${where}: ${firstLine(e.message)}. Fix the file and save it again.`);
  }
  const root = doc.contents;
  if (root === null || (isScalar(root) && root.value === null)) {
    return fail(`${label} is empty: a model config needs at least a name and parameters.model (or a backend).`);
  }
  if (isSeq(root)) {
    return fail(
      `${label} holds a list of ${root.items.length} model configs; Loadout reads one model per file. ` +
        `Split it into one .yaml file per model.`,
    );
  }
  if (!isMap(root)) {
    return fail(`${label} is not a model config: expected key: value lines (name, parameters, ...), found a single value.`);
  }

  const problems: string[] = [];
  const reader = new FieldReader(doc, lines, label, problems);
  const config = emptyConfig(stem);
  const name = reader.text(['name']);
  if (name !== undefined && name.trim() !== '') config.name = name;
  // The API and the GUI refuse such names, so a model holding one could never be loaded (Trust 16).
  const badName = nameCheck(config.name, 'the name');
  if (badName !== null) problems.push(`${name !== undefined ? reader.where(['name']) : label}: ${badName}.`);

  const backend = reader.text(['backend']);
  if (backend !== undefined && backend !== '') config.backend = backend;

  if (reader.map(['parameters'])) {
    const model = reader.text(['parameters', 'model']);
    if (model !== undefined && model !== '') config.parameters.model = model;
    assign(config.parameters, 'temperature', reader.number(['parameters', 'temperature']));
    assign(config.parameters, 'top_p', reader.number(['parameters', 'top_p']));
    assign(config.parameters, 'top_k', reader.int(['parameters', 'top_k']));
    assign(config.parameters, 'max_tokens', reader.int(['parameters', 'max_tokens'], 0));
    assign(config.parameters, 'seed', reader.int(['parameters', 'seed']));
  }
  assign(config, 'context_size', reader.int(['context_size'], 0));
  assign(config, 'threads', reader.int(['threads'], 0));
  assign(config, 'f16', reader.bool(['f16']));
  assign(config, 'mmap', reader.bool(['mmap']));
  assign(config, 'gpu_layers', reader.int(['gpu_layers']));
  assign(config, 'mmlock', reader.bool(['mmlock']));
  assign(config, 'no_kv_offloading', reader.bool(['no_kv_offloading']));
  for (const key of ['main_gpu', 'tensor_split'] as const) {
    const value = reader.text([key]);
    if (value !== undefined && value !== '') config[key] = value;
  }
  // LocalAI took a bool here, newer versions "auto" | "on" | "off": keep a bool a bool.
  const flash = reader.text(['flash_attention']);
  if (flash !== undefined && flash !== '') config.flash_attention = flash === 'true' ? true : flash === 'false' ? false : flash;
  assign(config, 'embeddings', reader.bool(['embeddings']));
  config.stopwords = reader.texts(['stopwords']) ?? [];
  config.concurrency_groups = (reader.texts(['concurrency_groups']) ?? []).filter((g) => g.trim() !== '');
  config.pinned = reader.bool(['pinned']) ?? false;
  config.disabled = reader.bool(['disabled']) ?? false;
  assign(config, 'ttl', reader.number(['ttl'], 0, { value: MAX_DURATION_S, why: 'seconds (one week)' }));
  config.options = reader.texts(['options']) ?? [];
  const parallel = parallelOption(parseOptions(config.options));
  if (parallel !== undefined && !(Number.isInteger(parallel) && parallel >= 1)) {
    problems.push(`${reader.where(['options'])}: the parallel option must be a whole number of at least 1, like parallel:4.`);
  }

  if (reader.map(['template'])) {
    const template: TemplateConfig = {};
    for (const key of ['chat', 'chat_message', 'completion', 'function'] as const) {
      const value = reader.text(['template', key]);
      if (value !== undefined && value !== '') template[key] = value;
    }
    assign(template, 'use_tokenizer_template', reader.bool(['template', 'use_tokenizer_template']));
    // An empty string is meaningful here (join with nothing), so it is kept.
    assign(template, 'join_chat_messages_by_character', reader.text(['template', 'join_chat_messages_by_character']));
    if (Object.keys(template).length > 0) config.template = template;
  }
  const systemPrompt = reader.text(['system_prompt']);
  if (systemPrompt !== undefined && systemPrompt !== '') config.system_prompt = systemPrompt;
  assign(config, 'roles', reader.textMap(['roles']));
  // LocalAI's `download_files`: every file the model needs (a split model's parts: G41), with the
  // sha256 a download of each must match where given (G24). Entries without a text filename are
  // ignored, as LocalAI would not use them; a sha256 that is not 64 hex digits is not a pin.
  const files = doc.get('download_files');
  if (isSeq(files)) {
    const listed = (files.toJSON() as unknown[]).flatMap((f) => {
      const e = f as { filename?: unknown; sha256?: unknown } | null;
      if (!e || typeof e.filename !== 'string' || e.filename === '') return [];
      return [typeof e.sha256 === 'string' && /^[0-9a-f]{64}$/i.test(e.sha256) ? { filename: e.filename, sha256: e.sha256.toLowerCase() } : { filename: e.filename }];
    });
    if (listed.length > 0) config.download_files = listed;
  }
  // The cluster's replica policy (distributed-spec section 1); ignored on a single machine.
  if (reader.map(['cluster'])) {
    const cluster: NonNullable<ModelConfig['cluster']> = {};
    assign(cluster, 'min_replicas', reader.int(['cluster', 'min_replicas'], 0));
    assign(cluster, 'max_replicas', reader.int(['cluster', 'max_replicas'], 0));
    assign(cluster, 'node_selector', reader.textMap(['cluster', 'node_selector']));
    config.cluster = cluster;
  }
  if (reader.map(['grpc'])) {
    // Accepted for LocalAI compatibility; the loader's readiness wait is a time budget instead.
    reader.int(['grpc', 'attempts'], 0);
    reader.int(['grpc', 'attempts_sleep_time'], 0);
  }

  return { name: name !== undefined && name.trim() !== '' ? name : null, config, problems, unreadable: null };
}

function assign<T extends object, K extends keyof T>(target: T, key: K, value: T[K] | undefined): void {
  if (value !== undefined) target[key] = value;
}

function firstLine(message: string): string {
  // yaml's messages end with " at line N, column M:" and a code excerpt; we already say where.
  return message.split('\n')[0].replace(/ at line \d+, column \d+:?$/, '').replace(/\.$/, '');
}

/** Reads typed values out of a parsed document; a wrong type becomes a problem and reads as absent. */
class FieldReader {
  constructor(
    private readonly doc: Document,
    private readonly lines: LineCounter,
    private readonly label: string,
    private readonly problems: string[],
  ) {}

  where(path: string[]): string {
    const node = this.node(path);
    const line = node?.range ? this.lines.linePos(node.range[0]).line : null;
    return line === null ? this.label : `${this.label} line ${line}`;
  }

  text(path: string[]): string | undefined {
    const node = this.present(path);
    if (node === undefined) return undefined;
    if (isScalar(node)) {
      const v = node.value;
      if (typeof v === 'string') return v;
      // Go reads any scalar into a string field as written (`name: 1.10` is "1.10").
      return node.source ?? String(v);
    }
    return this.wrong(path, 'text', node);
  }

  int(path: string[], min?: number): number | undefined {
    const node = this.present(path);
    if (node === undefined) return undefined;
    if (isScalar(node) && typeof node.value === 'number' && Number.isInteger(node.value)) {
      return this.atLeast(path, node.value, min);
    }
    return this.wrong(path, 'int', node);
  }

  number(path: string[], min?: number, max?: { value: number; why: string }): number | undefined {
    const node = this.present(path);
    if (node === undefined) return undefined;
    if (isScalar(node) && typeof node.value === 'number' && Number.isFinite(node.value)) {
      if (max && node.value > max.value) {
        this.problems.push(`${this.where(path)}: ${path.join('.')} must be at most ${max.value} ${max.why}, but it is ${node.value}.`);
        return undefined;
      }
      return this.atLeast(path, node.value, min);
    }
    return this.wrong(path, 'number', node);
  }

  bool(path: string[]): boolean | undefined {
    const node = this.present(path);
    if (node === undefined) return undefined;
    if (isScalar(node)) {
      if (typeof node.value === 'boolean') return node.value;
      if (typeof node.value === 'string' && YAML11_TRUE.has(node.value)) return true;
      if (typeof node.value === 'string' && YAML11_FALSE.has(node.value)) return false;
    }
    return this.wrong(path, 'bool', node);
  }

  texts(path: string[]): string[] | undefined {
    const node = this.present(path);
    if (node === undefined) return undefined;
    if (!isSeq(node)) return this.wrong(path, 'texts', node);
    const out: string[] = [];
    for (const item of node.items) {
      if (isScalar(item)) {
        if (item.value === null) continue;
        out.push(typeof item.value === 'string' ? item.value : (item.source ?? String(item.value)));
      } else {
        return this.wrong(path, 'texts', node);
      }
    }
    return out;
  }

  /** A mapping of text to text (`roles: {user: "USER:"}`). */
  textMap(path: string[]): Record<string, string> | undefined {
    const node = this.present(path);
    if (node === undefined) return undefined;
    if (!isMap(node)) return this.wrong(path, 'textMap', node);
    const out: Record<string, string> = {};
    for (const pair of node.items) {
      const k = pair.key;
      const v = pair.value;
      if (!isScalar(k) || k.value === null) return this.wrong(path, 'textMap', node);
      if (v === null || (isScalar(v) && v.value === null)) continue;
      if (!isScalar(v)) return this.wrong(path, 'textMap', node);
      out[String(k.value)] = typeof v.value === 'string' ? v.value : (v.source ?? String(v.value));
    }
    return out;
  }

  map(path: string[]): boolean {
    const node = this.present(path);
    if (node === undefined) return false;
    if (isMap(node)) return true;
    this.wrong(path, 'map', node);
    return false;
  }

  private node(path: string[]): Node | undefined {
    const n = this.doc.getIn(path, true);
    return n === null || n === undefined ? undefined : (n as Node);
  }

  /** The node at path, or undefined when absent or empty (`key:` with no value, as Go's nil). */
  private present(path: string[]): Node | undefined {
    const node = this.node(path);
    if (node === undefined || (isScalar(node) && node.value === null)) return undefined;
    return node;
  }

  private atLeast(path: string[], value: number, min: number | undefined): number | undefined {
    if (min === undefined || value >= min) return value;
    this.problems.push(`${this.where(path)}: ${path.join('.')} must be ${min} or more, but it is ${value}.`);
    return undefined;
  }

  private wrong(path: string[], kind: Kind, node: Node): undefined {
    this.problems.push(`${this.where(path)}: ${path.join('.')} must be ${EXPECTED[kind]}, but it is ${describe(node)}.`);
    return undefined;
  }
}

function describe(node: Node): string {
  if (isSeq(node)) return 'a list';
  if (isMap(node)) return 'a mapping';
  if (isScalar(node)) {
    const v = node.value;
    if (typeof v === 'string') return `the text ${JSON.stringify(v.length > 40 ? `${v.slice(0, 40)}...` : v)}`;
    if (typeof v === 'number') return `the number ${node.source ?? v}`;
    if (typeof v === 'boolean') return `the boolean ${v}`;
  }
  return 'something else';
}
