/** Values: Go types, truthiness, printing and toJson of JSON-like values. */
import { formatGoTime } from './time';

/** An error inside a function; the executor adds the position. */
export class FuncError extends Error {}

export type Obj = Record<string, unknown>;

export const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
/** A Go struct stand-in: an object whose toJSON gives its JSON field order. */
export const isStruct = (v: unknown): v is Obj & { toJSON(): unknown } => isObject(v) && typeof (v as { toJSON?: unknown }).toJSON === 'function';

export function goType(v: unknown): string {
  if (v === null || v === undefined) return '<nil>';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return Number.isInteger(v) ? 'int' : 'float64';
  if (typeof v === 'boolean') return 'bool';
  if (Array.isArray(v)) return '[]interface {}';
  if (v instanceof Date) return 'time.Time';
  if (isStruct(v)) return 'struct';
  if (isObject(v)) return 'map[string]interface {}';
  return typeof v;
}

/** Go's truth: false, 0, nil and empty strings/lists/maps are false; structs and times are true. */
export function truth(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Date || isStruct(v)) return true;
  if (isObject(v)) return Object.keys(v).length > 0;
  return true;
}

export function fmtNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  // JavaScript cannot tell Go's ints from floats: integral values print as ints.
  if (Number.isInteger(n)) return Math.abs(n) < 1e21 ? n.toFixed(0) : goExp(n);
  const exp = Math.floor(Math.log10(Math.abs(n)));
  // Go's %v for floats is %g with the shortest digits: exponent form below 1e-4 and from 1e21.
  return exp < -4 || exp >= 21 ? goExp(n) : String(n);
}

export function goExp(n: number, digits?: number): string {
  const [mant, e] = n.toExponential(digits).split('e') as [string, string];
  const exp = Number(e);
  return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** fmt's %v. Nil prints as nothing at the top level (see the file comment), `<nil>` inside lists. */
export function fmtV(v: unknown, nested = false): string {
  if (v === null || v === undefined) return nested ? '<nil>' : '';
  if (typeof v === 'string') return v;
  if (typeof v === 'number') return fmtNumber(v);
  if (typeof v === 'boolean') return String(v);
  if (Array.isArray(v)) return `[${v.map((e) => fmtV(e, true)).join(' ')}]`;
  if (v instanceof Date) return formatGoTime(v, '2006-01-02 15:04:05.999999999 -0700 MST');
  if (isStruct(v)) return `{${Object.values(v).map((e) => fmtV(e, true)).join(' ')}}`;
  if (isObject(v)) {
    return `map[${Object.keys(v)
      .sort()
      .map((k) => `${k}:${fmtV(v[k], true)}`)
      .join(' ')}]`;
  }
  return String(v);
}

/** sprig's string conversion of an argument. */
export const str = (v: unknown): string => fmtV(v);

export function toInt(v: unknown): number {
  if (typeof v === 'number') return Math.trunc(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const n = Number.parseInt(v, 10);
    return Number.isNaN(n) ? 0 : n;
  }
  return 0;
}

/** encoding/json's output: maps with sorted keys, structs in field order, <>& escaped. */
export function goJson(v: unknown, indent = '', level = 0): string {
  if (v === null || v === undefined) return 'null';
  if (typeof v === 'string') return jsonString(v);
  if (typeof v === 'number') {
    if (!Number.isFinite(v)) throw new FuncError(`json: unsupported value: ${fmtNumber(v)}`);
    return JSON.stringify(v);
  }
  if (typeof v === 'boolean') return String(v);
  if (v instanceof Date) return jsonString(v.toISOString());
  const nl = indent ? '\n' + indent.repeat(level + 1) : '';
  const close = indent ? '\n' + indent.repeat(level) : '';
  const sep = indent ? ': ' : ':';
  if (Array.isArray(v)) {
    if (!v.length) return '[]';
    return `[${v.map((e) => nl + goJson(e, indent, level + 1)).join(',')}${close}]`;
  }
  if (isObject(v)) {
    let entries: [string, unknown][];
    if (isStruct(v)) {
      const r = v.toJSON();
      if (!isObject(r) || isStruct(r)) return goJson(r, indent, level);
      entries = Object.entries(r);
    } else {
      entries = Object.entries(v).sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0));
    }
    entries = entries.filter(([, e]) => typeof e !== 'function');
    if (!entries.length) return '{}';
    return `{${entries.map(([k, e]) => nl + jsonString(k) + sep + goJson(e, indent, level + 1)).join(',')}${close}}`;
  }
  throw new FuncError(`json: unsupported type: ${typeof v}`);
}

function jsonString(s: string): string {
  return JSON.stringify(s).replace(/[<>&\u2028\u2029]/g, (c) => `\\u${c.charCodeAt(0).toString(16).padStart(4, '0')}`);
}
