/**
 * Structured output (OpenAI's `response_format`) as a GBNF grammar: llama.cpp's grammar format,
 * which the built-in backend applies to sampling and which LocalAI's backends take in
 * PredictOptions.Grammar. The proto has no JSON-schema field, so the schema is turned into a
 * grammar here, as LocalAI's core does.
 *
 * Whatever the weights, a constrained answer is JSON of the requested shape: at each step only
 * tokens that keep the text a valid prefix can be sampled. Repetitions are bounded where the
 * schema bounds them (and whitespace always is), so a schema with bounded strings and arrays
 * always ends; free-form text (an unbounded string) ends when the model closes it or at
 * max_tokens, and then the answer is cut (finish_reason "length").
 *
 * Keywords that assert something a grammar cannot express here (pattern, multipleOf, ...) are
 * refused rather than ignored, so an answer never silently breaks the schema. Annotations
 * (title, description, default, examples) and `format`s other than date, time, date-time and
 * uuid are annotations in JSON Schema and are ignored.
 */

/** A schema the builder cannot turn into a grammar; `at` is the path of the offending part. */
export class SchemaError extends Error {
  constructor(
    readonly at: string,
    message: string,
  ) {
    super(`${at}: ${message}`);
    this.name = 'SchemaError';
  }
}

type Schema = Record<string, unknown>;

/** Whitespace between tokens: none, a space, or a newline and some indentation (bounded, so it always ends). */
const PRIMITIVES: Record<string, string> = {
  ws: String.raw`| " " | "\n" [ \t]{0,20}`,
  char: String.raw`[^"\\\x7F\x00-\x1F] | "\\" (["\\/bfnrt] | "u" [0-9a-fA-F]{4})`,
  string: String.raw`"\"" char* "\""`,
  integer: String.raw`"-"? ("0" | [1-9] [0-9]{0,15})`,
  number: String.raw`"-"? ("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?`,
  boolean: String.raw`"true" | "false"`,
  null: String.raw`"null"`,
  value: 'object | array | string | number | boolean | null',
  object: String.raw`"{" ws ( member ( "," ws member )* )? "}"`,
  member: String.raw`string ws ":" ws value ws`,
  array: String.raw`"[" ws ( value ws ( "," ws value ws )* )? "]"`,
  date: String.raw`[0-9]{4} "-" ("0" [1-9] | "1" [0-2]) "-" ("0" [1-9] | [1-2] [0-9] | "3" [0-1])`,
  time: String.raw`([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9] ":" [0-5] [0-9] ("." [0-9]{1,6})? ("Z" | [+-] ([01] [0-9] | "2" [0-3]) ":" [0-5] [0-9])`,
  uuid: String.raw`[0-9a-fA-F]{8} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{4} "-" [0-9a-fA-F]{12}`,
};

/** Rules each primitive uses. */
const DEPENDS: Record<string, string[]> = {
  string: ['char'],
  value: ['object', 'array', 'string', 'number', 'boolean', 'null'],
  object: ['ws', 'member'],
  member: ['string', 'ws', 'value'],
  array: ['ws', 'value'],
};

/** Formats checked by the grammar; any other `format` is an annotation (JSON Schema's default). */
const FORMATS: Record<string, string> = {
  date: String.raw`"\"" date "\""`,
  time: String.raw`"\"" time "\""`,
  'date-time': String.raw`"\"" date "T" time "\""`,
  uuid: String.raw`"\"" uuid "\""`,
};

/** Assertions a grammar cannot enforce here: refused, with the keyword named. */
const UNSUPPORTED = [
  'pattern',
  'patternProperties',
  'propertyNames',
  'multipleOf',
  'not',
  'if',
  'then',
  'else',
  'contains',
  'minContains',
  'maxContains',
  'minProperties',
  'maxProperties',
  'dependentRequired',
  'dependentSchemas',
  'dependencies',
  '$dynamicRef',
  '$recursiveRef',
];

const TYPES = ['string', 'number', 'integer', 'boolean', 'null', 'object', 'array'];

/** Repetition bounds above this are refused: llama.cpp expands `x{0,n}` into n rules. */
export const MAX_REPEAT = 2000;
/** Longest integer (in digits) the grammar lets through: JavaScript reads it exactly. */
const MAX_DIGITS = 15;
const MAX_GRAMMAR_CHARS = 256 * 1024;
/** Schemas nested deeper than this are refused (no real answer format needs it; the builder recurses per level). */
export const MAX_SCHEMA_DEPTH = 64;

/** A GBNF literal for `text` (quotes, backslashes and control characters escaped). */
export function gbnfLiteral(text: string): string {
  const body = text
    .replace(/[\\"]/g, (c) => `\\${c}`)
    .replace(/[\x00-\x1f\x7f]/g, (c) => `\\x${c.charCodeAt(0).toString(16).padStart(2, '0')}`);
  return `"${body}"`;
}

const isSchemaObject = (v: unknown): v is Schema => typeof v === 'object' && v !== null && !Array.isArray(v);

/** Any JSON object: `response_format: {"type": "json_object"}`. */
export function jsonObjectGrammar(): string {
  const b = new Builder(null);
  b.root(b.prim('object'));
  return b.text();
}

/** The grammar for values matching `schema`; throws SchemaError naming the part it cannot use. */
export function jsonSchemaGrammar(schema: unknown, at = 'schema'): string {
  const b = new Builder(schema);
  b.root(b.visit(schema, at, 'root-value'));
  return b.text();
}

class Builder {
  private readonly rules = new Map<string, string>();
  private readonly refs = new Map<string, string>();
  /** References being built, with the number of objects and arrays open when each began. */
  private readonly building = new Map<string, number>();
  /** Objects and arrays open around the part being visited: a reference back inside one of them is a finite recursion. */
  private containers = 0;
  private depth = 0;
  private rootExpr = '';

  constructor(private readonly schema: unknown) {}

  root(expr: string): void {
    this.rootExpr = expr;
  }

  text(): string {
    const lines = [`root ::= ${this.rootExpr}`, ...[...this.rules].map(([name, body]) => `${name} ::= ${body}`)];
    const text = `${lines.join('\n')}\n`;
    if (text.length > MAX_GRAMMAR_CHARS) throw new SchemaError('schema', `the schema makes a grammar of ${text.length} characters, more than the ${MAX_GRAMMAR_CHARS} allowed; simplify it`);
    return text;
  }

  /** A primitive rule (and the rules it uses), added once. */
  prim(name: string): string {
    if (!this.rules.has(name)) {
      this.rules.set(name, PRIMITIVES[name]);
      for (const dep of DEPENDS[name] ?? []) this.prim(dep);
    }
    return name;
  }

  /** A new rule named after `hint` (made unique); returns its name. */
  private rule(hint: string, body: string): string {
    const base = hint.replace(/[^a-zA-Z0-9-]+/g, '-').replace(/^-+|-+$/g, '').toLowerCase() || 'rule';
    let name = base;
    // Never take a primitive's name, nor "root".
    for (let i = 2; this.rules.has(name) || name in PRIMITIVES || name === 'root'; i++) name = `${base}-${i}`;
    this.rules.set(name, body);
    return name;
  }

  visit(s: unknown, at: string, hint: string): string {
    if (this.depth >= MAX_SCHEMA_DEPTH) {
      throw new SchemaError(shortPath(at), `is nested more than ${MAX_SCHEMA_DEPTH} levels deep; flatten the schema (use "$defs" and "$ref" for shapes that repeat)`);
    }
    this.depth++;
    try {
      return this.visitSchema(s, at, hint);
    } finally {
      this.depth--;
    }
  }

  /** Runs `build` for the parts inside an object or an array. */
  private inside<T>(build: () => T): T {
    this.containers++;
    try {
      return build();
    } finally {
      this.containers--;
    }
  }

  private visitSchema(s: unknown, at: string, hint: string): string {
    if (s === true) return this.prim('value');
    if (s === false) throw new SchemaError(at, 'is false, so no value can match it');
    if (!isSchemaObject(s)) throw new SchemaError(at, `must be a JSON Schema object (got ${Array.isArray(s) ? "a list" : s === null ? "null" : typeof s})`);
    for (const key of UNSUPPORTED) {
      if (key in s) throw new SchemaError(`${at}.${key}`, `"${key}" cannot be enforced by Loadout's grammar for structured output; remove it from the schema`);
    }
    if (s.uniqueItems === true) throw new SchemaError(`${at}.uniqueItems`, '"uniqueItems" cannot be enforced by Loadout\'s grammar for structured output; remove it from the schema');
    for (const key of ['unevaluatedProperties', 'unevaluatedItems']) {
      if (key in s && s[key] !== false) throw new SchemaError(`${at}.${key}`, `only "${key}": false is supported`);
    }

    if ('$ref' in s) return this.ref(s.$ref, `${at}.$ref`);
    if ('const' in s) return gbnfLiteral(JSON.stringify(s.const));
    if ('enum' in s) {
      const values = s.enum;
      if (!Array.isArray(values) || values.length === 0) throw new SchemaError(`${at}.enum`, 'must be a non-empty list of values');
      return this.rule(hint, values.map((v) => gbnfLiteral(JSON.stringify(v))).join(' | '));
    }
    for (const key of ['anyOf', 'oneOf'] as const) {
      if (key in s) {
        const list = s[key];
        if (!Array.isArray(list) || list.length === 0) throw new SchemaError(`${at}.${key}`, 'must be a non-empty list of schemas');
        const { [key]: _, ...rest } = s;
        // Keywords beside anyOf apply to every branch (e.g. a shared "type").
        const shared = Object.keys(rest).some((k) => !ANNOTATIONS.has(k)) ? rest : null;
        const alts = list.map((sub, i) => this.visit(shared && isSchemaObject(sub) ? { ...shared, ...sub } : sub, `${at}.${key}[${i}]`, `${hint}-${i}`));
        return this.rule(hint, alts.join(' | '));
      }
    }
    if ('allOf' in s) return this.visit(mergeAllOf(s, at), at, hint);

    let types: string[];
    if (s.type === undefined) types = inferTypes(s);
    else if (typeof s.type === 'string') types = [s.type];
    else if (Array.isArray(s.type) && s.type.length > 0 && s.type.every((t) => typeof t === 'string')) types = s.type as string[];
    else throw new SchemaError(`${at}.type`, 'must be a type name or a non-empty list of them');
    for (const t of types) {
      if (!TYPES.includes(t)) throw new SchemaError(`${at}.type`, `"${t}" is not a JSON Schema type (${TYPES.join(', ')})`);
    }
    if (s.nullable === true && !types.includes('null')) types = [...types, 'null'];
    if (types.length === 0) return this.prim('value');
    const alts = types.map((t) => this.typed(s, t, at, types.length > 1 ? `${hint}-${t}` : hint));
    return alts.length === 1 ? alts[0] : this.rule(hint, alts.join(' | '));
  }

  private typed(s: Schema, type: string, at: string, hint: string): string {
    switch (type) {
      case 'string':
        return this.stringRule(s, at, hint);
      case 'integer':
        return this.integerRule(s, at, hint);
      case 'number':
        return this.numberRule(s, at);
      case 'boolean':
        return this.prim('boolean');
      case 'null':
        return this.prim('null');
      case 'object':
        return this.objectRule(s, at, hint);
      default:
        return this.arrayRule(s, at, hint);
    }
  }

  private stringRule(s: Schema, at: string, hint: string): string {
    if (typeof s.format === 'string' && s.format in FORMATS) {
      for (const part of ['date', 'time', 'uuid']) if (FORMATS[s.format].includes(` ${part} `)) this.prim(part);
      return this.rule(hint, FORMATS[s.format]);
    }
    const min = count(s.minLength, `${at}.minLength`) ?? 0;
    const max = count(s.maxLength, `${at}.maxLength`);
    if (max !== undefined && max < min) throw new SchemaError(`${at}.maxLength`, `is below minLength (${min})`);
    if (min === 0 && max === undefined) return this.prim('string');
    if (max === 0) return '"\\"\\""';
    this.prim('char');
    return this.rule(hint, `"\\"" char${repeat(min, max)} "\\""`);
  }

  private integerRule(s: Schema, at: string, hint: string): string {
    const { lo, hi } = integerBounds(s, at);
    if (lo === undefined && hi === undefined) return this.prim('integer');
    if (lo !== undefined && hi !== undefined && lo > hi) throw new SchemaError(at, `no integer is between its lower (${lo}) and upper (${hi}) bound`);
    const parts: string[] = [];
    // Negative numbers: "-" then the magnitude's range.
    if (lo === undefined || lo < 0) {
      const magLo = hi !== undefined && hi < 0 ? -hi : 1;
      parts.push(`"-" ${group(uintRange(magLo, lo === undefined ? Infinity : -lo))}`);
    }
    if (hi === undefined || hi >= 0) parts.push(uintRange(Math.max(lo ?? 0, 0), hi ?? Infinity));
    return this.rule(hint, parts.join(' | '));
  }

  private numberRule(s: Schema, at: string): string {
    const bounded = ['minimum', 'maximum', 'exclusiveMinimum', 'exclusiveMaximum'].filter((k) => k in s);
    if (bounded.length === 0) return this.prim('number');
    // Only "not negative" is simple to say in a grammar for decimals.
    if (bounded.length === 1 && bounded[0] === 'minimum' && s.minimum === 0) {
      this.prim('number');
      return this.rule('non-negative-number', String.raw`("0" | [1-9] [0-9]{0,15}) ("." [0-9]{1,16})? ([eE] [-+]? [0-9]{1,3})?`);
    }
    throw new SchemaError(`${at}.${bounded[0]}`, 'bounds on "number" are not supported (except "minimum": 0); use "type": "integer" with bounds, or remove them');
  }

  private objectRule(s: Schema, at: string, hint: string): string {
    const props = s.properties ?? {};
    if (!isSchemaObject(props)) throw new SchemaError(`${at}.properties`, 'must be an object of schemas');
    const required = s.required ?? [];
    if (!Array.isArray(required) || !required.every((r) => typeof r === 'string')) throw new SchemaError(`${at}.required`, 'must be a list of property names');
    const additional = s.additionalProperties;
    if (additional !== undefined && typeof additional !== 'boolean' && !isSchemaObject(additional)) {
      throw new SchemaError(`${at}.additionalProperties`, 'must be true, false or a schema');
    }
    const names = [...Object.keys(props), ...required.filter((r) => !(r in props))];
    // Without listed properties an object is free-form; with them, only those are written (a
    // stricter answer still matches), unless additionalProperties says more are wanted.
    const extras = additional === true || isSchemaObject(additional) || (additional === undefined && names.length === 0);
    this.prim('ws');
    const members = this.inside(() => names.map((name) => {
      const value = name in props ? this.visit(props[name], `${at}.properties.${name}`, `${hint}-${name}`) : this.prim('value');
      return { expr: `${gbnfLiteral(JSON.stringify(name))} ws ":" ws ${value} ws`, required: required.includes(name) };
    }));
    let extra = '';
    if (extras) {
      const value = isSchemaObject(additional) ? this.inside(() => this.visit(additional, `${at}.additionalProperties`, `${hint}-extra`)) : this.prim('value');
      this.prim('string');
      extra = this.rule(`${hint}-extra-member`, `string ws ":" ws ${value} ws`);
    }
    // "tail" follows at least one member (each needs its comma); "head" comes first.
    const tail = (from: number): string => {
      const seq = members.slice(from).map((m) => (m.required ? `"," ws ${m.expr}` : `("," ws ${m.expr})?`));
      if (extra) seq.push(`("," ws ${extra})*`);
      return seq.join(' ');
    };
    const head = (from: number): string => {
      if (from === members.length) return extra ? `(${extra} ("," ws ${extra})*)?` : '';
      const m = members[from];
      const first = `${m.expr} ${tail(from + 1)}`.trim();
      if (m.required) return first;
      const rest = head(from + 1);
      return rest ? `(${first} | ${group(rest)})` : `(${first})?`;
    };
    const body = head(0);
    return this.rule(hint, `"{" ws ${body ? `${body} ` : ''}"}"`);
  }

  private arrayRule(s: Schema, at: string, hint: string): string {
    const min = count(s.minItems, `${at}.minItems`) ?? 0;
    const max = count(s.maxItems, `${at}.maxItems`);
    if (max !== undefined && max < min) throw new SchemaError(`${at}.maxItems`, `is below minItems (${min})`);
    this.prim('ws');
    const prefix = s.prefixItems;
    if (prefix !== undefined && !Array.isArray(prefix)) throw new SchemaError(`${at}.prefixItems`, 'must be a list of schemas');
    const fixed = this.inside(() => (prefix ?? []).map((p, i) => this.visit(p, `${at}.prefixItems[${i}]`, `${hint}-${i}`)));
    if (max !== undefined && fixed.length > max) throw new SchemaError(`${at}.maxItems`, `is below the ${fixed.length} prefixItems`);
    let item: string | null;
    if (s.items === false) item = null;
    else if (s.items === undefined) item = fixed.length > 0 ? null : this.prim('value');
    else if (Array.isArray(s.items)) throw new SchemaError(`${at}.items`, 'a list of schemas is the old form of tuples; use "prefixItems"');
    else item = this.inside(() => this.visit(s.items, `${at}.items`, `${hint}-item`));
    if (item === null && min > fixed.length) throw new SchemaError(`${at}.minItems`, `asks for ${min} items but only ${fixed.length} are allowed`);

    const seq = fixed.map((f, i) => (i === 0 ? `${f} ws` : `"," ws ${f} ws`));
    if (item !== null) {
      const restMin = Math.max(0, min - fixed.length);
      const restMax = max === undefined ? undefined : max - fixed.length;
      if (restMax !== 0) {
        if (fixed.length > 0) seq.push(`("," ws ${item} ws)${repeat(restMin, restMax)}`);
        else {
          const moreMax = restMax === undefined ? undefined : restMax - 1;
          const more = moreMax === 0 ? '' : ` ("," ws ${item} ws)${repeat(Math.max(0, restMin - 1), moreMax)}`;
          seq.push(restMin > 0 ? `${item} ws${more}` : `(${item} ws${more})?`);
        }
      }
    }
    return this.rule(hint, `"[" ws ${seq.length ? `${seq.join(' ')} ` : ''}"]"`);
  }

  private ref(ref: unknown, at: string): string {
    if (typeof ref !== 'string' || !ref.startsWith('#')) throw new SchemaError(at, 'only references inside the schema ("#/$defs/...") are supported');
    const known = this.refs.get(ref);
    if (known) {
      // Back to a reference still being built with no object or array opened since: the rule
      // would only ever expand into itself, which describes no value (and hangs a grammar).
      if (this.building.get(ref) === this.containers) {
        throw new SchemaError(at, `"${ref}" refers back to itself with no object or array in between, so no value can match it; put the recursion inside "properties" or "items"`);
      }
      return known;
    }
    let target: unknown = this.schema;
    if (ref !== '#') {
      if (!ref.startsWith('#/')) throw new SchemaError(at, `"${ref}" is not a JSON pointer into the schema`);
      for (const raw of ref.slice(2).split('/')) {
        const key = decodeURIComponent(raw).replace(/~1/g, '/').replace(/~0/g, '~');
        if (!isSchemaObject(target) && !Array.isArray(target)) target = undefined;
        else target = (target as Record<string, unknown>)[key];
        if (target === undefined) throw new SchemaError(at, `"${ref}" points to nothing in the schema`);
      }
    }
    // Named before it is built, so a recursive schema refers to itself.
    const name = this.rule(`ref-${ref.split('/').pop() || 'root'}`, '');
    this.refs.set(ref, name);
    this.building.set(ref, this.containers);
    try {
      this.rules.set(name, this.visit(target, ref, name));
    } finally {
      this.building.delete(ref);
    }
    return name;
  }
}

/** A path cut to a readable length (a deeply nested one is thousands of characters). */
function shortPath(at: string): string {
  return at.length > 120 ? `${at.slice(0, 120)}…` : at;
}

/** Keywords that say nothing about which values match. */
const ANNOTATIONS = new Set(['title', 'description', 'default', 'examples', '$comment', '$schema', '$id', 'deprecated', 'readOnly', 'writeOnly', '$defs', 'definitions', 'strict', 'name']);

function inferTypes(s: Schema): string[] {
  if ('properties' in s || 'required' in s || 'additionalProperties' in s) return ['object'];
  if ('items' in s || 'prefixItems' in s || 'minItems' in s || 'maxItems' in s) return ['array'];
  if ('minLength' in s || 'maxLength' in s || 'format' in s) return ['string'];
  if ('minimum' in s || 'maximum' in s || 'exclusiveMinimum' in s || 'exclusiveMaximum' in s) return ['number'];
  return [];
}

/** allOf of object schemas: one object with every property and requirement. */
function mergeAllOf(s: Schema, at: string): Schema {
  const list = s.allOf;
  if (!Array.isArray(list) || list.length === 0) throw new SchemaError(`${at}.allOf`, 'must be a non-empty list of schemas');
  const { allOf: _, ...rest } = s;
  if (list.length === 1 && Object.keys(rest).every((k) => ANNOTATIONS.has(k))) return list[0] as Schema;
  const merged: Schema = { ...rest, type: 'object', properties: { ...(isSchemaObject(rest.properties) ? rest.properties : {}) } };
  const required = new Set<string>(Array.isArray(rest.required) ? (rest.required as string[]) : []);
  list.forEach((part, i) => {
    if (!isSchemaObject(part)) throw new SchemaError(`${at}.allOf[${i}]`, 'must be a schema object');
    const keys = Object.keys(part).filter((k) => !ANNOTATIONS.has(k));
    const objectish = keys.every((k) => ['type', 'properties', 'required', 'additionalProperties'].includes(k)) && (part.type === undefined || part.type === 'object');
    if (!objectish) throw new SchemaError(`${at}.allOf[${i}]`, '"allOf" is supported for object schemas (properties and required) only');
    Object.assign(merged.properties as Schema, part.properties ?? {});
    for (const r of (part.required as string[] | undefined) ?? []) required.add(r);
    if (part.additionalProperties === false) merged.additionalProperties = false;
  });
  merged.required = [...required];
  return merged;
}

function count(v: unknown, at: string): number | undefined {
  if (v === undefined) return undefined;
  if (typeof v !== 'number' || !Number.isInteger(v) || v < 0) throw new SchemaError(at, `must be a whole number >= 0 (got ${JSON.stringify(v)})`);
  if (v > MAX_REPEAT) throw new SchemaError(at, `${v} is more than the ${MAX_REPEAT} Loadout's grammar can bound; lower it or remove it`);
  return v;
}

/** `{min,max}` in GBNF (`*`, `+`, `?` where they say it). */
function repeat(min: number, max: number | undefined): string {
  if (max === undefined) return min === 0 ? '*' : min === 1 ? '+' : `{${min},}`;
  if (min === 0 && max === 1) return '?';
  if (min === max) return `{${min}}`;
  return `{${min},${max}}`;
}

function group(expr: string): string {
  return /^[\w-]+$|^"[^"]*"$/.test(expr) ? expr : `(${expr})`;
}

function integerBounds(s: Schema, at: string): { lo?: number; hi?: number } {
  const num = (key: string): number | undefined => {
    const v = s[key];
    if (v === undefined || typeof v === 'boolean') return undefined;
    if (typeof v !== 'number' || !Number.isFinite(v)) throw new SchemaError(`${at}.${key}`, 'must be a number');
    return v;
  };
  // Draft 4 spelled exclusive bounds as booleans beside minimum/maximum.
  const exMin = s.exclusiveMinimum === true ? num('minimum') : num('exclusiveMinimum');
  const exMax = s.exclusiveMaximum === true ? num('maximum') : num('exclusiveMaximum');
  const candidatesLo = [s.exclusiveMinimum === true ? undefined : num('minimum'), exMin === undefined ? undefined : Math.floor(exMin) + 1].filter((x): x is number => x !== undefined);
  const candidatesHi = [s.exclusiveMaximum === true ? undefined : num('maximum'), exMax === undefined ? undefined : Math.ceil(exMax) - 1].filter((x): x is number => x !== undefined);
  const limit = 10 ** MAX_DIGITS - 1;
  const clamp = (x: number) => Math.max(-limit, Math.min(limit, x));
  const lo = candidatesLo.length ? clamp(Math.ceil(Math.max(...candidatesLo))) : undefined;
  const hi = candidatesHi.length ? clamp(Math.floor(Math.min(...candidatesHi))) : undefined;
  return { lo, hi };
}

/** Decimal integers without leading zeros from `lo` to `hi` (0 <= lo; hi may be Infinity). */
export function uintRange(lo: number, hi: number): string {
  const digits = (n: number) => String(n).length;
  const parts: string[] = [];
  const top = hi === Infinity ? MAX_DIGITS : digits(hi);
  for (let d = digits(lo); d <= top; d++) {
    const a = d === digits(lo) ? lo : 10 ** (d - 1);
    if (hi === Infinity && d > digits(lo)) {
      // Every longer number: one part for all the remaining lengths.
      parts.push(d === MAX_DIGITS ? `[1-9] [0-9]{${d - 1}}` : `[1-9] [0-9]{${d - 1},${MAX_DIGITS - 1}}`);
      break;
    }
    const b = hi !== Infinity && d === digits(hi) ? hi : 10 ** d - 1;
    parts.push(sameLength(String(a), String(b)));
  }
  return parts.length === 1 ? parts[0] : parts.map(group).join(' | ');
}

/** Numbers from `a` to `b`, both written with the same number of digits. */
function sameLength(a: string, b: string): string {
  if (a.length === 0) return '';
  if (a === b) return gbnfLiteral(a);
  const [a0, b0] = [Number(a[0]), Number(b[0])];
  const [ra, rb] = [a.slice(1), b.slice(1)];
  const any = (n: number) => (n === 0 ? '' : n === 1 ? ' [0-9]' : ` [0-9]{${n}}`);
  if (a0 === b0) return `"${a0}" ${group(sameLength(ra, rb))}`.trim();
  if (/^0*$/.test(ra) && /^9*$/.test(rb)) return `${digitClass(a0, b0)}${any(ra.length)}`;
  const alts: string[] = [];
  alts.push(ra.length ? `"${a0}" ${group(sameLength(ra, '9'.repeat(ra.length)))}` : `"${a0}"`);
  if (b0 - a0 > 1) alts.push(`${digitClass(a0 + 1, b0 - 1)}${any(ra.length)}`);
  alts.push(rb.length ? `"${b0}" ${group(sameLength('0'.repeat(rb.length), rb))}` : `"${b0}"`);
  return alts.join(' | ');
}

function digitClass(from: number, to: number): string {
  return from === to ? `"${from}"` : `[${from}-${to}]`;
}
