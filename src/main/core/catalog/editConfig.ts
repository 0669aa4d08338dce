/**
 * GUI edits of a model's YAML (C6), keeping the user's file as it was: comments, key order,
 * unknown keys, quoting, indentation and spacing. The yaml Document API decides what the result
 * must mean; the change is then spliced into the original text at the edited nodes only, and the
 * splice is kept only if it parses to exactly that meaning. For a layout the splice does not
 * handle (a flow-style top-level map, an options list in flow style that must shrink...), the
 * Document API's own output is written: same content and comments, normalised spacing.
 */
import { isDeepStrictEqual } from 'node:util';
import { Document, isMap, isScalar, isSeq, parseDocument, type Pair, type YAMLMap, type YAMLSeq } from 'yaml';
import type { ModelConfigPatch } from '../../../shared/contract';
import { isParallelItem } from './options';

/** The keys the GUI edits (the contract's patch); `null` removes the key (back to the default). */
export type ConfigPatch = ModelConfigPatch;

type Scalar = string | number | boolean;
type Op =
  | { kind: 'set'; key: string; value: Scalar | string[] }
  | { kind: 'delete'; key: string }
  /** A nested mapping written whole (the `cluster:` block, D35). */
  | { kind: 'map'; key: string; value: Record<string, Scalar | Record<string, Scalar>> }
  | { kind: 'parallel'; value: number | null };

class CannotSplice extends Error {}

/** The patched text of a config file whose root is a mapping (the caller checked it parses). */
export function editConfigText(text: string, patch: ConfigPatch): string {
  const doc = parseDocument(text);
  if (doc.errors.length > 0 || !isMap(doc.contents)) throw new Error('editConfigText needs a file that parses to a mapping');
  const ops = toOps(doc.contents, patch);
  if (ops.length === 0) return text;

  const wanted = parseDocument(text);
  for (const op of ops) applyToDocument(wanted, op);
  const meaning = wanted.toJS();

  try {
    const spliced = new Splicer(text, doc.contents as YAMLMap).apply(ops);
    const check = parseDocument(spliced);
    if (check.errors.length === 0 && isDeepStrictEqual(check.toJS(), meaning)) return spliced;
  } catch (e) {
    if (!(e instanceof CannotSplice)) throw e;
  }
  return wanted.toString({ lineWidth: 0, indentSeq: seqIndent(text, doc.contents as YAMLMap) !== '' });
}

/** A new config for a bare GGUF: `model` is its path relative to the models dir. */
export function newConfigText(name: string, model: string, file: string, patch: ConfigPatch): string {
  const doc = new Document({ name, backend: 'llama-cpp', parameters: { model } });
  doc.commentBefore = ` Model config written by Loadout for ${file} (LocalAI's model YAML format).`;
  return editConfigText(doc.toString({ lineWidth: 0 }), patch);
}

function findPair(map: YAMLMap, key: string): Pair | undefined {
  return map.items.find((p) => isScalar(p.key) && p.key.value === key) as Pair | undefined;
}

function toOps(root: YAMLMap, patch: ConfigPatch): Op[] {
  const ops: Op[] = [];
  for (const key of ['pinned', 'disabled'] as const) {
    const v = patch[key];
    // `false` is the default: write it only over an existing value, never add noise.
    if (v === true || (v === false && findPair(root, key))) ops.push({ kind: 'set', key, value: v });
  }
  if (patch.concurrency_groups !== undefined) {
    const groups = patch.concurrency_groups;
    if (groups.length > 0) ops.push({ kind: 'set', key: 'concurrency_groups', value: groups });
    else if (findPair(root, 'concurrency_groups')) ops.push({ kind: 'delete', key: 'concurrency_groups' });
  }
  for (const key of ['ttl', 'context_size'] as const) {
    const v = patch[key];
    if (v === undefined) continue;
    if (v !== null) ops.push({ kind: 'set', key, value: v });
    else if (findPair(root, key)) ops.push({ kind: 'delete', key });
  }
  if (patch.parallel !== undefined) ops.push({ kind: 'parallel', value: patch.parallel });
  if (patch.cluster !== undefined) {
    const c = patch.cluster;
    const value: Record<string, Scalar | Record<string, Scalar>> = {};
    if (c?.min_replicas !== undefined && c.min_replicas !== null) value.min_replicas = c.min_replicas;
    if (c?.max_replicas !== undefined && c.max_replicas !== null) value.max_replicas = c.max_replicas;
    if (c?.node_selector && Object.keys(c.node_selector).length > 0) value.node_selector = { ...c.node_selector };
    if (Object.keys(value).length > 0) ops.push({ kind: 'map', key: 'cluster', value });
    else if (findPair(root, 'cluster')) ops.push({ kind: 'delete', key: 'cluster' });
  }
  return ops;
}

/** The meaning of an op, through the Document API (also the fallback output). */
function applyToDocument(doc: Document, op: Op): void {
  if (op.kind === 'set' || op.kind === 'map') doc.setIn([op.key], op.value);
  else if (op.kind === 'delete') doc.deleteIn([op.key]);
  else {
    const options = doc.get('options', true);
    if (!isSeq(options)) {
      // Not a list (absent, empty or invalid): nothing to remove, or a fresh list.
      if (op.value !== null) doc.setIn(['options'], [`parallel:${op.value}`]);
      return;
    }
    let replaced = false;
    options.items = options.items.filter((item) => {
      if (!(isScalar(item) && typeof item.value === 'string' && isParallelItem(item.value))) return true;
      if (op.value === null || replaced) return false;
      item.value = `parallel:${op.value}`;
      replaced = true;
      return true;
    });
    if (op.value !== null && !replaced) options.add(doc.createNode(`parallel:${op.value}`));
    if (options.items.length === 0) doc.deleteIn(['options']);
  }
}

/** The text after the dash of a YAML 1.2 plain scalar we write, or a JSON (= YAML double-quoted) string. */
function scalarText(v: Scalar): string {
  if (typeof v !== 'string') return String(v);
  const plain =
    /^[A-Za-z_][A-Za-z0-9_.\/-]*$/.test(v) && !/^(true|false|null|yes|no|on|off|y|n)$/i.test(v) && !/^[0-9]/.test(v);
  return plain ? v : JSON.stringify(v);
}

/** How far block-sequence dashes are indented under their key in this file ('' or '  '...). */
function seqIndent(text: string, root: YAMLMap): string {
  for (const pair of root.items) {
    const v = pair.value;
    if (isSeq(v) && !v.flow && v.range && isScalar(pair.key) && pair.key.range) {
      const keyCol = pair.key.range[0] - lineStart(text, pair.key.range[0]);
      const dashCol = v.range[0] - lineStart(text, v.range[0]);
      return ' '.repeat(Math.max(0, dashCol - keyCol));
    }
  }
  return '  ';
}

function lineStart(text: string, pos: number): number {
  return text.lastIndexOf('\n', pos - 1) + 1;
}

/** Position just after the newline that ends the line holding `pos`. */
function lineEnd(text: string, pos: number): number {
  const i = text.indexOf('\n', pos);
  return i < 0 ? text.length : i + 1;
}

interface Edit {
  start: number;
  end: number;
  text: string;
}

class Splicer {
  private readonly edits: Edit[] = [];
  private appended = '';
  private readonly indent: string;
  private readonly dash: string;

  constructor(
    private readonly text: string,
    private readonly root: YAMLMap,
  ) {
    if (root.flow || !root.range) throw new CannotSplice();
    const first = root.items[0]?.key;
    this.indent = isScalar(first) && first.range ? text.slice(lineStart(text, first.range[0]), first.range[0]) : '';
    if (!/^ *$/.test(this.indent)) throw new CannotSplice();
    this.dash = seqIndent(text, root);
  }

  apply(ops: Op[]): string {
    for (const op of ops) {
      if (op.kind === 'set') this.set(op.key, op.value);
      else if (op.kind === 'map') this.setMap(op.key, op.value);
      else if (op.kind === 'delete') this.remove(op.key);
      else this.parallel(op.value);
    }
    const sorted = [...this.edits].sort((a, b) => b.start - a.start);
    for (let i = 1; i < sorted.length; i++) if (sorted[i].end > sorted[i - 1].start) throw new CannotSplice();
    // Keep the file's line endings (a config edited on Windows has CRLF).
    const eol = (s: string) => (this.text.includes('\r\n') ? s.replace(/\r?\n/g, '\r\n') : s);
    let out = this.text;
    for (const e of sorted) out = out.slice(0, e.start) + eol(e.text) + out.slice(e.end);
    if (this.appended !== '') out += eol((out === '' || out.endsWith('\n') ? '' : '\n') + this.appended);
    return out;
  }

  private blockSeq(items: string[]): string {
    return items.map((item) => `${this.indent}${this.dash}- ${item}\n`).join('');
  }

  private set(key: string, value: Scalar | string[]): void {
    const items = Array.isArray(value) ? value.map(scalarText) : null;
    const pair = findPair(this.root, key);
    if (!pair) {
      this.appended += items
        ? `${this.indent}${key}:\n${this.blockSeq(items)}`
        : `${this.indent}${key}: ${scalarText(value as Scalar)}\n`;
      return;
    }
    const v = pair.value;
    if (items === null) {
      this.replaceValue(pair, scalarText(value as Scalar));
    } else if (isSeq(v) && !v.flow && v.range) {
      // Rewrite the items under the key, keeping the key line and its comment.
      const start = lineStart(this.text, v.range[0]);
      const dash = this.text.slice(start, v.range[0]);
      if (!/^ *$/.test(dash)) throw new CannotSplice();
      const end = v.range[1];
      const body = items.map((item) => `${dash}- ${item}\n`).join('');
      this.edits.push({ start, end, text: this.text[end - 1] === '\n' ? body : body.slice(0, -1) });
    } else {
      this.replaceValue(pair, `[${items.join(', ')}]`);
    }
  }

  /** Writes `key:` as a block mapping (one level of nesting), replacing the old value and its lines. */
  private setMap(key: string, value: Record<string, Scalar | Record<string, Scalar>>): void {
    const step = '  ';
    const lines = [`${this.indent}${key}:`];
    for (const [k, v] of Object.entries(value)) {
      if (typeof v === 'object') {
        lines.push(`${this.indent}${step}${scalarText(k)}:`);
        for (const [k2, v2] of Object.entries(v)) lines.push(`${this.indent}${step}${step}${scalarText(k2)}: ${scalarText(v2)}`);
      } else lines.push(`${this.indent}${step}${scalarText(k)}: ${scalarText(v)}`);
    }
    const body = `${lines.join('\n')}\n`;
    const pair = findPair(this.root, key);
    if (!pair) {
      this.appended += body;
      return;
    }
    const { start, end } = this.wholeLines(pair);
    this.edits.push({ start, end, text: end === this.text.length && !this.text.endsWith('\n') ? body.slice(0, -1) : body });
  }

  /** Replaces the value of `pair` by inline text (a scalar or a flow collection). */
  private replaceValue(pair: Pair, inline: string): void {
    const v = pair.value;
    if (isScalar(v) && v.range && (v.type === 'PLAIN' || v.type === 'QUOTE_DOUBLE' || v.type === 'QUOTE_SINGLE')) {
      if (v.value === null) {
        const at = v.range[0];
        this.edits.push({ start: at, end: at, text: (this.text[at - 1] === ':' ? ' ' : '') + inline });
      } else {
        this.edits.push({ start: v.range[0], end: v.range[1], text: inline });
      }
      return;
    }
    // A block scalar or collection: replace everything after the key (comments inside go with it).
    const key = pair.key;
    if (!isScalar(key) || !key.range || !v || !(v as { range?: unknown }).range) throw new CannotSplice();
    const range = (v as { range: [number, number, number] }).range;
    const end = range[1];
    const text = `: ${inline}${this.text[end - 1] === '\n' ? '\n' : ''}`;
    this.edits.push({ start: key.range[1], end, text });
  }

  private remove(key: string): void {
    const pair = findPair(this.root, key);
    if (!pair) return;
    const { start, end } = this.wholeLines(pair);
    this.edits.push({ start, end, text: '' });
  }

  /** The lines a top-level pair takes, key to the end of its value (its key alone on its line). */
  private wholeLines(pair: Pair): { start: number; end: number } {
    const k = pair.key;
    if (!isScalar(k) || !k.range) throw new CannotSplice();
    const start = lineStart(this.text, k.range[0]);
    if (!/^ *$/.test(this.text.slice(start, k.range[0]))) throw new CannotSplice();
    const v = pair.value as { range?: [number, number, number] } | null;
    const valueEnd = v?.range ? v.range[1] : k.range[1];
    return { start, end: this.text[valueEnd - 1] === '\n' ? valueEnd : lineEnd(this.text, valueEnd) };
  }

  private parallel(n: number | null): void {
    const item = n === null ? null : `parallel:${n}`;
    const pair = findPair(this.root, 'options');
    const v = pair?.value;
    if (!pair || !isSeq(v)) {
      if (item === null) return;
      if (pair && v !== null && v !== undefined && !(isScalar(v) && v.value === null)) {
        this.replaceValue(pair, `[${item}]`);
      } else if (pair) {
        // `options:` with no value: put the list on the following lines.
        const k = pair.key;
        if (!isScalar(k) || !k.range) throw new CannotSplice();
        const at = lineEnd(this.text, k.range[1]);
        const body = this.blockSeq([item]);
        this.edits.push({ start: at, end: at, text: at === this.text.length && !this.text.endsWith('\n') ? `\n${body}` : body });
      } else {
        this.appended += `${this.indent}options:\n${this.blockSeq([item])}`;
      }
      return;
    }
    const seq = v as YAMLSeq;
    const matches = seq.items.filter((it) => isScalar(it) && typeof it.value === 'string' && isParallelItem(it.value));
    if (item === null && matches.length === seq.items.length && matches.length > 0) {
      this.remove('options');
      return;
    }
    const drop = item === null ? matches : matches.slice(1);
    if (item !== null && matches.length > 0) {
      const first = matches[0] as { range?: [number, number, number] };
      if (!first.range) throw new CannotSplice();
      this.edits.push({ start: first.range[0], end: first.range[1], text: item });
    }
    if (drop.length > 0) {
      if (seq.flow) throw new CannotSplice();
      for (const it of drop) {
        const r = (it as { range?: [number, number, number] }).range;
        if (!r) throw new CannotSplice();
        const start = lineStart(this.text, r[0]);
        if (!/^ *- *$/.test(this.text.slice(start, r[0]))) throw new CannotSplice();
        this.edits.push({ start, end: lineEnd(this.text, r[1]), text: '' });
      }
    }
    if (item !== null && matches.length === 0) {
      if (!seq.range) throw new CannotSplice();
      if (seq.flow) {
        const close = this.text.lastIndexOf(']', seq.range[1]);
        if (close < seq.range[0]) throw new CannotSplice();
        this.edits.push({ start: close, end: close, text: seq.items.length > 0 ? `, ${item}` : item });
      } else {
        const last = seq.items[seq.items.length - 1] as { range?: [number, number, number] };
        if (!last?.range) throw new CannotSplice();
        const start = lineStart(this.text, last.range[0]);
        const dashPrefix = this.text.slice(start, last.range[0]);
        const m = /^( *)- *$/.exec(dashPrefix);
        if (!m) throw new CannotSplice();
        const at = lineEnd(this.text, last.range[1]);
        const line = `${m[1]}- ${item}\n`;
        this.edits.push({ start: at, end: at, text: at === this.text.length && !this.text.endsWith('\n') ? `\n${line}` : line });
      }
    }
  }
}
