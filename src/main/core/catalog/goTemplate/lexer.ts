/** Lexer: template text and actions, split into tokens with their source offsets. */
import { TemplateError, positionAt } from './position';

export type TokKind =
  | 'field' // .Name (v = Name)
  | 'dot'
  | 'var' // $name or $ (v includes the $)
  | 'ident'
  | 'string' // quoted, raw or char: val holds the value
  | 'number'
  | 'bool'
  | 'nil'
  | 'lparen'
  | 'rparen'
  | 'pipe'
  | 'declare'
  | 'assign'
  | 'comma'
  | 'eoa'; // end of action

export interface Tok {
  k: TokKind;
  v: string;
  val?: unknown;
  pos: number;
  /** White space right before this token: operands must be separated, chained fields must not. */
  sp: boolean;
}

export type Segment = { k: 'text'; text: string } | { k: 'action'; toks: Tok[]; pos: number };

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
export const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
const isAlnum = (c: string | undefined): boolean => c !== undefined && /[\p{L}\p{Nd}_]/u.test(c);

function trimLeftSpace(s: string): string {
  let i = 0;
  while (i < s.length && isSpace(s[i])) i++;
  return s.slice(i);
}
function trimRightSpace(s: string): string {
  let i = s.length;
  while (i > 0 && isSpace(s[i - 1])) i--;
  return s.slice(0, i);
}

export class Lexer {
  constructor(private readonly src: string) {}

  fail(reason: string, offset: number): never {
    throw new TemplateError(reason, positionAt(this.src, offset));
  }

  segments(): Segment[] {
    const src = this.src;
    const out: Segment[] = [];
    let i = 0;
    let trimNext = false;
    while (i <= src.length) {
      const open = src.indexOf('{{', i);
      let text = open < 0 ? src.slice(i) : src.slice(i, open);
      if (trimNext) text = trimLeftSpace(text);
      if (open < 0) {
        if (text) out.push({ k: 'text', text });
        break;
      }
      // "{{- " trims the text before it; the marker needs the space ("{{-3}}" is the number -3).
      const leftTrim = src[open + 2] === '-' && isSpace(src[open + 3]);
      if (leftTrim) text = trimRightSpace(text);
      if (text) out.push({ k: 'text', text });
      let p = open + 2 + (leftTrim ? 2 : 0);
      if (src.startsWith('/*', p)) {
        const close = src.indexOf('*/', p + 2);
        if (close < 0) this.fail('unclosed comment: a {{/* needs a matching */}}', open);
        p = close + 2;
        if (src.startsWith('}}', p)) {
          trimNext = false;
          i = p + 2;
        } else if (isSpace(src[p]) && src[p + 1] === '-' && src.startsWith('}}', p + 2)) {
          trimNext = true;
          i = p + 4;
        } else {
          this.fail('comment ends before the closing }} (write {{/* ... */}})', close);
        }
        continue;
      }
      const { toks, end, rightTrim } = this.action(p, open);
      out.push({ k: 'action', toks, pos: open });
      trimNext = rightTrim;
      i = end;
    }
    return out;
  }

  /** Tokens of one action starting at p (after "{{" and any trim marker). */
  private action(p: number, open: number): { toks: Tok[]; end: number; rightTrim: boolean } {
    const src = this.src;
    const toks: Tok[] = [];
    let sp = p > open + 2; // after "{{- " there was white space
    const push = (k: TokKind, v: string, pos: number, val?: unknown): void => {
      toks.push({ k, v, pos, sp, val });
      sp = false;
    };
    for (;;) {
      if (p >= src.length) this.fail('unclosed action: this {{ has no matching }}', open);
      const c = src[p];
      if (isSpace(c)) {
        if (src[p + 1] === '-' && src.startsWith('}}', p + 2)) {
          toks.push({ k: 'eoa', v: '}}', pos: p, sp: true });
          return { toks, end: p + 4, rightTrim: true };
        }
        sp = true;
        p++;
        continue;
      }
      if (src.startsWith('}}', p)) {
        toks.push({ k: 'eoa', v: '}}', pos: p, sp });
        return { toks, end: p + 2, rightTrim: false };
      }
      const start = p;
      switch (c) {
        case '|':
          push('pipe', c, p++);
          continue;
        case '(':
          push('lparen', c, p++);
          continue;
        case ')':
          push('rparen', c, p++);
          continue;
        case ',':
          push('comma', c, p++);
          continue;
        case '=':
          push('assign', c, p++);
          continue;
        case ':':
          if (src[p + 1] !== '=') this.fail('expected := after ":"', p);
          push('declare', ':=', p);
          p += 2;
          continue;
        case '"': {
          const { value, end } = this.quoted(p);
          push('string', src.slice(start, end), start, value);
          p = end;
          continue;
        }
        case '`': {
          const close = src.indexOf('`', p + 1);
          if (close < 0) this.fail('unterminated raw string: a ` needs a closing `', p);
          push('string', src.slice(start, close + 1), start, src.slice(p + 1, close).replace(/\r/g, ''));
          p = close + 1;
          continue;
        }
        case "'": {
          const { value, end } = this.charConst(p);
          push('number', src.slice(start, end), start, value);
          p = end;
          continue;
        }
        case '$': {
          p++;
          while (isAlnum(src[p])) p++;
          push('var', src.slice(start, p), start);
          continue;
        }
        case '.': {
          if (isDigit(src[p + 1])) break; // a number like .5
          p++;
          while (isAlnum(src[p])) p++;
          if (p === start + 1) push('dot', '.', start);
          else push('field', src.slice(start + 1, p), start);
          continue;
        }
      }
      if (c === '+' || c === '-' || c === '.' || isDigit(c)) {
        const { value, end } = this.number(p);
        push('number', src.slice(start, end), start, value);
        p = end;
        continue;
      }
      if (isAlnum(c)) {
        while (isAlnum(src[p])) p++;
        const word = src.slice(start, p);
        if (word === 'true' || word === 'false') push('bool', word, start, word === 'true');
        else if (word === 'nil') push('nil', word, start, null);
        else push('ident', word, start);
        continue;
      }
      this.fail(`unexpected character ${JSON.stringify(c)} in action`, p);
    }
  }

  private quoted(p: number): { value: string; end: number } {
    const src = this.src;
    let out = '';
    let i = p + 1;
    for (;;) {
      const c = src[i];
      if (c === undefined || c === '\n') this.fail('unterminated quoted string', p);
      if (c === '"') return { value: out, end: i + 1 };
      if (c !== '\\') {
        out += c;
        i++;
        continue;
      }
      const { ch, next } = this.escape(i, '"');
      out += ch;
      i = next;
    }
  }

  private charConst(p: number): { value: number; end: number } {
    const src = this.src;
    let ch: string;
    let i: number;
    if (src[p + 1] === '\\') {
      ({ ch, next: i } = this.escape(p + 1, "'"));
    } else {
      const cp = src.codePointAt(p + 1);
      if (cp === undefined || src[p + 1] === "'" || src[p + 1] === '\n') this.fail('malformed character constant', p);
      ch = String.fromCodePoint(cp);
      i = p + 1 + ch.length;
    }
    if (src[i] !== "'") this.fail('malformed character constant', p);
    return { value: ch.codePointAt(0)!, end: i + 1 };
  }

  /** A Go escape sequence at i (the backslash). */
  private escape(i: number, quote: string): { ch: string; next: number } {
    const src = this.src;
    const e = src[i + 1];
    const simple: Record<string, string> = { a: '\x07', b: '\b', f: '\f', n: '\n', r: '\r', t: '\t', v: '\v', '\\': '\\' };
    if (e !== undefined && e in simple) return { ch: simple[e]!, next: i + 2 };
    if (e === quote) return { ch: quote, next: i + 2 };
    const hex = (len: number): { ch: string; next: number } => {
      const digits = src.slice(i + 2, i + 2 + len);
      if (!new RegExp(`^[0-9a-fA-F]{${len}}$`).test(digits)) this.fail(`invalid escape \\${e}${digits}`, i);
      const cp = parseInt(digits, 16);
      if (cp > 0x10ffff) this.fail(`invalid escape \\${e}${digits}`, i);
      return { ch: String.fromCodePoint(cp), next: i + 2 + len };
    };
    if (e === 'x') return hex(2);
    if (e === 'u') return hex(4);
    if (e === 'U') return hex(8);
    if (e !== undefined && e >= '0' && e <= '7') {
      const digits = src.slice(i + 1, i + 4);
      if (!/^[0-7]{3}$/.test(digits)) this.fail(`invalid escape \\${digits}`, i);
      return { ch: String.fromCharCode(parseInt(digits, 8)), next: i + 4 };
    }
    this.fail(`unknown escape sequence \\${e ?? ''}`, i);
  }

  private number(p: number): { value: number; end: number } {
    const src = this.src;
    let i = p;
    if (src[i] === '+' || src[i] === '-') i++;
    // Go's lexer takes a run of number-ish characters, then validates it.
    while (i < src.length) {
      const c = src[i]!;
      if (isAlnum(c) || c === '.') i++;
      // A sign continues the number only as an exponent's sign (1e-5), never in hex (0xe-1).
      else if ((c === '+' || c === '-') && /[eE]$/.test(src.slice(p, i)) && !/^[+-]?0[xX]/.test(src.slice(p, i))) i++;
      else break;
    }
    const text = src.slice(p, i);
    const value = parseGoNumber(text);
    if (value === null) this.fail(`bad number syntax: ${JSON.stringify(text)}`, p);
    return { value, end: i };
  }
}

function parseGoNumber(text: string): number | null {
  if (/_$|__|^[+-]?_/.test(text)) return null;
  const sign = text.startsWith('-') ? -1 : 1;
  const body = text.replace(/^[+-]/, '').replace(/_/g, '');
  let value: number;
  if (/^0[xX][0-9a-fA-F]+$/.test(body)) value = parseInt(body.slice(2), 16);
  else if (/^0[bB][01]+$/.test(body)) value = parseInt(body.slice(2), 2);
  else if (/^0[oO][0-7]+$/.test(body)) value = parseInt(body.slice(2), 8);
  else if (/^0[0-7]+$/.test(body)) value = parseInt(body.slice(1), 8);
  else if (/^(\d+\.?\d*|\.\d+)([eE][+-]?\d+)?$/.test(body)) value = Number(body);
  else return null;
  return Number.isFinite(value) ? sign * value : null;
}
