/** Functions: the builtins and the sprig functions LocalAI templates call. */
import { equal, less } from './compare';
import { sprintf } from './printf';
import { formatGoTime } from './time';
import { FuncError, type Obj, fmtV, goJson, goType, isObject, isStruct, str, toInt, truth } from './values';

interface CallContext {
  now: () => Date;
}

interface Func {
  min: number;
  /** -1: variadic. */
  max: number;
  call(args: unknown[], ctx: CallContext): unknown;
}

const fn = (min: number, max: number, call: Func['call']): Func => ({ min, max, call });
/** and/or are evaluated lazily by the executor; these entries only declare them. */
export const LAZY = new Set(['and', 'or']);

function utf8(s: string): Uint8Array {
  return new TextEncoder().encode(s);
}

function indexOne(item: unknown, key: unknown): unknown {
  if (item === null || item === undefined) return undefined;
  if (Array.isArray(item) || typeof item === 'string') {
    if (typeof key !== 'number' || !Number.isInteger(key)) throw new FuncError(`cannot index ${goType(item)} with ${goType(key)}`);
    const len = typeof item === 'string' ? utf8(item).length : item.length;
    if (key < 0 || key >= len) throw new FuncError(`index out of range: ${key}`);
    return typeof item === 'string' ? utf8(item)[key] : item[key];
  }
  if (isObject(item)) {
    if (typeof key !== 'string') throw new FuncError(`cannot index a map with ${goType(key)}`);
    return Object.hasOwn(item, key) ? item[key] : undefined;
  }
  throw new FuncError(`can't index item of type ${goType(item)}`);
}

export const FUNCS: Record<string, Func> = {
  // text/template built-ins
  and: fn(1, -1, () => undefined),
  or: fn(1, -1, () => undefined),
  not: fn(1, 1, ([a]) => !truth(a)),
  len: fn(1, 1, ([a]) => {
    if (typeof a === 'string') return utf8(a).length;
    if (Array.isArray(a)) return a.length;
    if (isObject(a) && !isStruct(a)) return Object.keys(a).length;
    throw new FuncError(`len of ${a === null || a === undefined ? 'nil' : `type ${goType(a)}`}`);
  }),
  index: fn(1, -1, ([item, ...keys]) => keys.reduce((acc: unknown, k) => indexOne(acc, k), item)),
  slice: fn(1, 3, ([item, ...bounds]) => {
    if (!Array.isArray(item) && typeof item !== 'string') throw new FuncError(`can't slice item of type ${goType(item)}`);
    const len = typeof item === 'string' ? utf8(item).length : item.length;
    const [lo = 0, hi = len] = bounds.map((b) => {
      if (typeof b !== 'number' || !Number.isInteger(b)) throw new FuncError(`cannot slice with ${goType(b)}`);
      return b;
    });
    if (lo < 0 || hi < lo || hi > len) throw new FuncError(`slice index out of range: ${lo}:${hi}`);
    return typeof item === 'string' ? new TextDecoder().decode(utf8(item).slice(lo, hi)) : item.slice(lo, hi);
  }),
  print: fn(0, -1, (args) => {
    // fmt.Sprint puts spaces between operands when neither side is a string.
    let out = '';
    args.forEach((a, i) => {
      if (i > 0 && typeof a !== 'string' && typeof args[i - 1] !== 'string') out += ' ';
      out += fmtV(a);
    });
    return out;
  }),
  println: fn(0, -1, (args) => args.map((a) => fmtV(a)).join(' ') + '\n'),
  printf: fn(1, -1, ([format, ...args]) => sprintf(str(format), args)),
  html: fn(0, -1, (args) =>
    args
      .map((a) => fmtV(a))
      .join('')
      .replace(/[&<>"']/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&#34;', "'": '&#39;' })[c]!),
  ),
  urlquery: fn(0, -1, (args) => encodeURIComponent(args.map((a) => fmtV(a)).join('')).replace(/%20/g, '+')),
  eq: fn(1, -1, ([a, ...rest]) => {
    if (!rest.length) throw new FuncError('missing argument for comparison');
    return rest.some((b) => equal(a, b));
  }),
  ne: fn(2, 2, ([a, b]) => !equal(a, b)),
  lt: fn(2, 2, ([a, b]) => less(a, b)),
  le: fn(2, 2, ([a, b]) => less(a, b) || equal(a, b)),
  gt: fn(2, 2, ([a, b]) => less(b, a)),
  ge: fn(2, 2, ([a, b]) => less(b, a) || equal(a, b)),

  // sprig (argument order as in sprig: the piped value comes last)
  toJson: fn(1, 1, ([a]) => goJson(a)),
  toPrettyJson: fn(1, 1, ([a]) => goJson(a, '  ')),
  toString: fn(1, 1, ([a]) => str(a)),
  trim: fn(1, 1, ([s]) => str(s).trim()),
  trimAll: fn(2, 2, ([cut, s]) => {
    const set = new Set(str(cut));
    const chars = [...str(s)];
    let a = 0;
    let b = chars.length;
    while (a < b && set.has(chars[a]!)) a++;
    while (b > a && set.has(chars[b - 1]!)) b--;
    return chars.slice(a, b).join('');
  }),
  trimPrefix: fn(2, 2, ([p, s]) => (str(s).startsWith(str(p)) ? str(s).slice(str(p).length) : str(s))),
  trimSuffix: fn(2, 2, ([x, s]) => (str(x) && str(s).endsWith(str(x)) ? str(s).slice(0, -str(x).length) : str(s))),
  contains: fn(2, 2, ([sub, s]) => str(s).includes(str(sub))),
  hasPrefix: fn(2, 2, ([p, s]) => str(s).startsWith(str(p))),
  hasSuffix: fn(2, 2, ([x, s]) => str(s).endsWith(str(x))),
  lower: fn(1, 1, ([s]) => str(s).toLowerCase()),
  upper: fn(1, 1, ([s]) => str(s).toUpperCase()),
  replace: fn(3, 3, ([from, to, s]) => str(s).split(str(from)).join(str(to))),
  repeat: fn(2, 2, ([n, s]) => str(s).repeat(Math.max(0, toInt(n)))),
  join: fn(2, 2, ([sep, list]) => (Array.isArray(list) ? list.map((e) => str(e)).join(str(sep)) : str(list))),
  splitList: fn(2, 2, ([sep, s]) => str(s).split(str(sep))),
  indent: fn(2, 2, ([n, s]) => str(s).replace(/^/gm, ' '.repeat(Math.max(0, toInt(n))))),
  nindent: fn(2, 2, ([n, s]) => '\n' + str(s).replace(/^/gm, ' '.repeat(Math.max(0, toInt(n))))),
  quote: fn(0, -1, (args) => args.filter((a) => a !== null && a !== undefined).map((a) => JSON.stringify(str(a))).join(' ')),
  squote: fn(0, -1, (args) => args.filter((a) => a !== null && a !== undefined).map((a) => `'${str(a)}'`).join(' ')),
  default: fn(1, 2, ([d, ...given]) => (given.length && truth(given[0]) ? given[0] : d)),
  empty: fn(1, 1, ([a]) => !truth(a)),
  coalesce: fn(0, -1, (args) => args.find((a) => truth(a))),
  ternary: fn(3, 3, ([a, b, cond]) => (truth(cond) ? a : b)),
  list: fn(0, -1, (args) => [...args]),
  dict: fn(0, -1, (args) => {
    const out: Obj = {};
    for (let i = 0; i < args.length; i += 2) out[str(args[i])] = args[i + 1];
    return out;
  }),
  hasKey: fn(2, 2, ([m, k]) => isObject(m) && Object.hasOwn(m, str(k))),
  first: fn(1, 1, ([l]) => (Array.isArray(l) ? l[0] : undefined)),
  last: fn(1, 1, ([l]) => (Array.isArray(l) ? l[l.length - 1] : undefined)),
  add: fn(0, -1, (args) => args.reduce((s: number, a) => s + toInt(a), 0)),
  add1: fn(1, 1, ([a]) => toInt(a) + 1),
  sub: fn(2, 2, ([a, b]) => toInt(a) - toInt(b)),
  mul: fn(1, -1, ([a, ...rest]) => rest.reduce((s: number, x) => s * toInt(x), toInt(a))),
  div: fn(2, 2, ([a, b]) => {
    if (toInt(b) === 0) throw new FuncError('integer divide by zero');
    return Math.trunc(toInt(a) / toInt(b));
  }),
  mod: fn(2, 2, ([a, b]) => {
    if (toInt(b) === 0) throw new FuncError('integer divide by zero');
    return toInt(a) % toInt(b);
  }),
  max: fn(1, -1, (args) => Math.max(...args.map(toInt))),
  min: fn(1, -1, (args) => Math.min(...args.map(toInt))),
  now: fn(0, 0, (_args, ctx) => ctx.now()),
  date: fn(2, 2, ([layout, t]) => {
    const d = t instanceof Date ? t : typeof t === 'number' ? new Date(t * 1000) : null;
    if (!d) throw new FuncError(`date needs a time, got ${goType(t)}`);
    return formatGoTime(d, str(layout));
  }),
};
