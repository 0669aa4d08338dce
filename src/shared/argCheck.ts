/**
 * Checks of untrusted values (command arguments arriving over IPC or a WebSocket), written so
 * that each check is also the value's type: the contract's command table lists one check per
 * argument and the argument types are derived from it. A check answers null for a good value,
 * else a sentence saying what is wrong, naming where (`opts.force must be true or false`).
 * Pure: no node, no DOM.
 */

/** A check of a value of type T; `at` names the value in the message. */
export type Check<T> = ((value: unknown, at: string) => string | null) & { readonly __type?: T; readonly optional?: boolean };

/** The type a check accepts. */
export type TypeOf<C> = C extends Check<infer T> ? T : never;

type Optional<T> = Check<T | undefined> & { readonly optional: true };

function check<T>(fn: (value: unknown, at: string) => string | null): Check<T> {
  return fn as Check<T>;
}

/** "a number", "a list", "null": what a wrong value was, without echoing it (it may be huge). */
export function kindOf(value: unknown): string {
  if (value === null) return 'null';
  if (Array.isArray(value)) return 'a list';
  switch (typeof value) {
    case 'string':
      return 'text';
    case 'object':
      return 'an object';
    case 'undefined':
      return 'nothing';
    default:
      return `a ${typeof value}`;
  }
}

const must = (at: string, what: string, value: unknown) => `${at} must be ${what} (got ${kindOf(value)})`;

export function text(opts: { max?: number; nonEmpty?: boolean } = {}): Check<string> {
  const max = opts.max ?? 100_000;
  return check((v, at) => {
    if (typeof v !== 'string') return must(at, 'text', v);
    if (opts.nonEmpty && v.trim() === '') return `${at} must not be empty`;
    if (v.length > max) return `${at} is too long (${v.length.toLocaleString('en')} characters; at most ${max.toLocaleString('en')})`;
    return null;
  });
}

/**
 * A model's (or backend's) name as users write it: not empty, no control characters, no spaces
 * at either end (a name that differs from another only by them would look the same in every list).
 */
export const name: Check<string> = check((v, at) => {
  if (typeof v !== 'string') return must(at, 'a name (text)', v);
  if (v === '') return `${at} must not be empty`;
  if (v.length > 256) return `${at} is too long (${v.length} characters; at most 256)`;
  // eslint-disable-next-line no-control-regex
  if (/[\u0000-\u001f\u007f]/.test(v)) return `${at} must not contain control characters (such as NUL or a line break)`;
  if (v.trim() !== v) return `${at} must not start or end with spaces`;
  return null;
});

export const flag: Check<boolean> = check((v, at) => (typeof v === 'boolean' ? null : must(at, 'true or false', v)));

export function number(opts: { integer?: boolean } = {}): Check<number> {
  return check((v, at) => {
    if (typeof v !== 'number' || !Number.isFinite(v)) return must(at, 'a number', v);
    if (opts.integer && !Number.isInteger(v)) return `${at} must be a whole number (got ${v})`;
    return null;
  });
}

export function oneOf<const T extends string>(...values: T[]): Check<T> {
  const say = values.map((x) => JSON.stringify(x)).join(' or ');
  return check((v, at) => (typeof v === 'string' && (values as string[]).includes(v) ? null : `${at} must be ${say}`));
}

export function nullable<T>(inner: Check<T>): Check<T | null> {
  return check((v, at) => (v === null ? null : inner(v, at)));
}

/** Absent (undefined, or null: JSON turns an undefined list element into null). */
export function optional<T>(inner: Check<T>): Optional<T> {
  return Object.assign(
    check<T | undefined>((v, at) => (v === undefined || v === null ? null : inner(v, at))),
    { optional: true as const },
  );
}

export function list<T>(item: Check<T>, opts: { max?: number } = {}): Check<T[]> {
  const max = opts.max ?? 1000;
  return check((v, at) => {
    if (!Array.isArray(v)) return must(at, 'a list', v);
    if (v.length > max) return `${at} has too many items (${v.length}; at most ${max})`;
    for (let i = 0; i < v.length; i++) {
      const p = item(v[i], `${at}[${i}]`);
      if (p) return p;
    }
    return null;
  });
}

const isPlainObject = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

type Simplify<T> = { [K in keyof T]: T[K] } & {};
type Shape = Record<string, Check<unknown>>;
type ObjectOf<S extends Shape> = Simplify<
  { [K in keyof S as S[K] extends { optional: true } ? never : K]: TypeOf<S[K]> } & {
    [K in keyof S as S[K] extends { optional: true } ? K : never]?: Exclude<TypeOf<S[K]>, undefined>;
  }
>;

/** An object with exactly these keys (optional ones may be left out); any other key is refused by name. */
export function object<S extends Shape>(shape: S): Check<ObjectOf<S>> {
  const keys = Object.keys(shape);
  return check((v, at) => {
    if (!isPlainObject(v)) return must(at, `an object with ${keys.join(', ')}`, v);
    for (const key of Object.keys(v)) {
      if (!Object.hasOwn(shape, key)) return `${at} has an unknown key ${JSON.stringify(key.slice(0, 64))} (the keys are ${keys.join(', ')})`;
    }
    for (const key of keys) {
      const p = shape[key](v[key], `${at}.${key}`);
      if (p) return p;
    }
    return null;
  });
}

/** A plain object whose keys the command itself checks (a settings patch: its rules live with the settings). */
export function record<T extends object>(what: string): Check<T> {
  return check((v, at) => (isPlainObject(v) ? null : must(at, what, v)));
}
