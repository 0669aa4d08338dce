/**
 * A Go `text/template` interpreter for the subset LocalAI's model configs use (C3).
 *
 * LocalAI renders `template.chat`, `template.chat_message` and `template.completion` with Go's
 * text/template plus the sprig function library; to build the same prompt we interpret the same
 * language. Semantics follow Go: `{{-`/`-}}` trim all adjacent white space (space, tab, CR, LF),
 * truthiness is Go's (false, 0, nil, "" and empty lists/maps are false), `eq a b c` is
 * a==b || a==c, `and`/`or` short-circuit and return an operand, maps are ranged in key order,
 * and an unknown function is a parse error. Deliberate differences, for the user's sake: a missing
 * field or a nil value prints as nothing (Go would print `<no value>`/`<nil>` into the prompt),
 * and a field of a missing value is missing too instead of an error.
 *
 * Values are JSON-like: strings, numbers, booleans, null/undefined (nil), arrays, plain objects
 * (Go maps: keys are case-sensitive and ranged/serialized in sorted order) and Dates (time.Time).
 * An object with a `toJSON` method stands for a Go struct: `toJson` keeps the field order its
 * `toJSON` returns, as encoding/json keeps a struct's declaration order.
  *
 * One file per part: position, lexer, syntax, parser, values, compare, printf, time, functions, executor.
 */
import { Executor } from './executor';
import { Parser } from './parser';

export { TemplateError, type TemplatePosition } from './position';

export interface RenderOptions {
  /** The clock behind sprig's `now` (tests pass a fixed one). */
  now?: () => Date;
}

export interface CompiledTemplate {
  readonly source: string;
  /** Throws TemplateError on runtime errors (bad range, index out of range, wrong argument count...). */
  render(data: Record<string, unknown>, opts?: RenderOptions): string;
}

/** Parses once; throws TemplateError with the position of a syntax error. */
export function compileGoTemplate(source: string): CompiledTemplate {
  const parser = new Parser(source);
  const root = parser.parseTemplate();
  return {
    source,
    render(data: Record<string, unknown>, opts?: RenderOptions): string {
      const ex = new Executor(source, parser.defines, opts?.now ?? (() => new Date()));
      return ex.run(root, data);
    },
  };
}
