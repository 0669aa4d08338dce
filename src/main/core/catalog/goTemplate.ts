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
 */

export interface TemplatePosition {
  /** Character offset into the source. */
  offset: number;
  /** 1-based. */
  line: number;
  /** 1-based, in characters. */
  column: number;
}

export class TemplateError extends Error implements TemplatePosition {
  readonly reason: string;
  readonly offset: number;
  readonly line: number;
  readonly column: number;
  /** Which template this came from (e.g. `chat_message`), when the caller said so. */
  readonly templateName: string | undefined;

  constructor(reason: string, pos: TemplatePosition, templateName?: string) {
    const where = `line ${pos.line}, column ${pos.column}`;
    super(templateName ? `${templateName} template, ${where}: ${reason}` : `Template error at ${where}: ${reason}`);
    this.name = 'TemplateError';
    this.reason = reason;
    this.offset = pos.offset;
    this.line = pos.line;
    this.column = pos.column;
    this.templateName = templateName;
  }

  /** The same error, naming the template it came from. */
  inTemplate(templateName: string): TemplateError {
    return new TemplateError(this.reason, this, templateName);
  }
}

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

/* ------------------------------------------------------------------------------------------ */
/* Positions                                                                                   */

function positionAt(source: string, offset: number): TemplatePosition {
  let line = 1;
  let lineStart = 0;
  for (let i = 0; i < offset && i < source.length; i++) {
    if (source[i] === '\n') {
      line++;
      lineStart = i + 1;
    }
  }
  return { offset, line, column: offset - lineStart + 1 };
}

/* ------------------------------------------------------------------------------------------ */
/* Lexer                                                                                       */

type TokKind =
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

interface Tok {
  k: TokKind;
  v: string;
  val?: unknown;
  pos: number;
  /** White space right before this token: operands must be separated, chained fields must not. */
  sp: boolean;
}

type Segment = { k: 'text'; text: string } | { k: 'action'; toks: Tok[]; pos: number };

const isSpace = (c: string | undefined): boolean => c === ' ' || c === '\t' || c === '\r' || c === '\n';
const isDigit = (c: string | undefined): boolean => c !== undefined && c >= '0' && c <= '9';
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

class Lexer {
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

/* ------------------------------------------------------------------------------------------ */
/* Syntax tree                                                                                 */

type Operand =
  | { t: 'field'; pos: number; names: string[] } // .A.B on dot
  | { t: 'chain'; pos: number; base: Operand; names: string[] } // $x.A, (pipe).A, fn.A
  | { t: 'dot'; pos: number }
  | { t: 'var'; pos: number; name: string }
  | { t: 'ident'; pos: number; name: string }
  | { t: 'literal'; pos: number; value: unknown }
  | { t: 'pipe'; pos: number; pipe: Pipe };

interface Command {
  pos: number;
  args: Operand[];
}

interface Pipe {
  pos: number;
  decl: string[];
  isAssign: boolean;
  cmds: Command[];
}

interface Control {
  pos: number;
  pipe: Pipe;
  list: Node[];
  elseList: Node[] | null;
}

type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pos: number; pipe: Pipe }
  | ({ t: 'if' } & Control)
  | ({ t: 'with' } & Control)
  | ({ t: 'range' } & Control)
  | { t: 'template'; pos: number; name: string; pipe: Pipe | null }
  | { t: 'break' | 'continue'; pos: number };

type Terminator =
  | { kind: 'eof' }
  | { kind: 'end'; pos: number }
  | { kind: 'else'; pos: number; cur: Cursor };

const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

class Cursor {
  private i = 0;
  constructor(readonly toks: Tok[]) {}
  peek(ahead = 0): Tok {
    return this.toks[Math.min(this.i + ahead, this.toks.length - 1)]!;
  }
  next(): Tok {
    const t = this.peek();
    if (this.i < this.toks.length - 1) this.i++;
    return t;
  }
}

function describe(t: Tok): string {
  if (t.k === 'eoa') return 'end of action "}}"';
  if (t.k === 'field') return `".${t.v}"`;
  return JSON.stringify(t.v);
}

/* ------------------------------------------------------------------------------------------ */
/* Parser                                                                                      */

class Parser {
  readonly defines = new Map<string, Node[]>();
  private readonly segs: Segment[];
  private si = 0;
  /** Variables in scope, innermost last ($ is always there). */
  private vars: string[] = ['$'];
  private rangeDepth = 0;

  constructor(private readonly src: string) {
    this.segs = new Lexer(src).segments();
  }

  private fail(reason: string, offset: number): never {
    throw new TemplateError(reason, positionAt(this.src, offset));
  }

  parseTemplate(): Node[] {
    const { nodes, term } = this.parseList(true);
    if (term.kind === 'end') this.fail('unexpected {{end}}: there is no {{if}}, {{range}} or {{with}} to close', term.pos);
    if (term.kind === 'else') this.fail('unexpected {{else}} outside {{if}}, {{range}} or {{with}}', term.pos);
    return nodes;
  }

  private parseList(topLevel = false): { nodes: Node[]; term: Terminator } {
    const nodes: Node[] = [];
    while (this.si < this.segs.length) {
      const seg = this.segs[this.si++]!;
      if (seg.k === 'text') {
        nodes.push({ t: 'text', text: seg.text });
        continue;
      }
      const cur = new Cursor(seg.toks);
      const first = cur.peek();
      if (first.k === 'ident' && KEYWORDS.has(first.v)) {
        cur.next();
        switch (first.v) {
          case 'end':
            this.expectEnd(cur, 'end');
            return { nodes, term: { kind: 'end', pos: first.pos } };
          case 'else':
            return { nodes, term: { kind: 'else', pos: first.pos, cur } };
          case 'if':
          case 'with':
          case 'range':
            nodes.push(this.parseControl(first.v, cur, first.pos));
            continue;
          case 'break':
          case 'continue':
            if (this.rangeDepth === 0) this.fail(`{{${first.v}}} outside {{range}}`, first.pos);
            this.expectEnd(cur, first.v);
            nodes.push({ t: first.v, pos: first.pos });
            continue;
          case 'template':
            nodes.push(this.parseTemplateCall(cur, first.pos));
            continue;
          case 'define':
          case 'block': {
            if (first.v === 'define' && !topLevel) this.fail('{{define}} must be at the top level of the template', first.pos);
            const nameTok = cur.next();
            if (nameTok.k !== 'string' || typeof nameTok.val !== 'string') this.fail(`{{${first.v}}} needs a quoted template name`, nameTok.pos);
            let pipe: Pipe | null = null;
            if (first.v === 'block') pipe = this.parsePipeline(cur, 'block');
            else this.expectEnd(cur, 'define');
            const saved = this.vars;
            const savedDepth = this.rangeDepth;
            this.vars = ['$'];
            this.rangeDepth = 0;
            const body = this.parseList();
            this.vars = saved;
            this.rangeDepth = savedDepth;
            if (body.term.kind !== 'end') this.fail(`missing {{end}} for this {{${first.v}}}`, first.pos);
            this.defines.set(nameTok.val, body.nodes);
            if (first.v === 'block') nodes.push({ t: 'template', pos: first.pos, name: nameTok.val, pipe });
            continue;
          }
        }
      }
      nodes.push({ t: 'action', pos: first.pos, pipe: this.parsePipeline(cur, 'command') });
    }
    return { nodes, term: { kind: 'eof' } };
  }

  private expectEnd(cur: Cursor, what: string): void {
    const t = cur.next();
    if (t.k !== 'eoa') this.fail(`unexpected ${describe(t)} in {{${what}}}`, t.pos);
  }

  private parseControl(kind: 'if' | 'with' | 'range', cur: Cursor, pos: number): Node {
    const mark = this.vars.length;
    const pipe = this.parsePipeline(cur, kind);
    if (kind === 'range') this.rangeDepth++;
    const body = this.parseList();
    if (kind === 'range') this.rangeDepth--;
    let elseList: Node[] | null = null;
    if (body.term.kind === 'eof') this.fail(`missing {{end}} for this {{${kind}}}`, pos);
    if (body.term.kind === 'else') {
      const ec = body.term.cur;
      const nx = ec.peek();
      if (kind !== 'range' && nx.k === 'ident' && (nx.v === 'if' || nx.v === 'with')) {
        // {{else if x}} is {{else}}{{if x}}...{{end}}{{end}} sharing one {{end}}.
        ec.next();
        elseList = [this.parseControl(nx.v, ec, nx.pos)];
      } else {
        this.expectEnd(ec, 'else');
        const rest = this.parseList();
        if (rest.term.kind === 'else') this.fail(`a second {{else}} in this {{${kind}}}: expected {{end}}`, rest.term.pos);
        if (rest.term.kind === 'eof') this.fail(`missing {{end}} for this {{${kind}}}`, pos);
        elseList = rest.nodes;
      }
    }
    this.vars.length = mark;
    return { t: kind, pos, pipe, list: body.nodes, elseList };
  }

  private parseTemplateCall(cur: Cursor, pos: number): Node {
    const nameTok = cur.next();
    if (nameTok.k !== 'string' || typeof nameTok.val !== 'string') this.fail('{{template}} needs a quoted template name', nameTok.pos);
    if (cur.peek().k === 'eoa') {
      cur.next();
      return { t: 'template', pos, name: nameTok.val, pipe: null };
    }
    return { t: 'template', pos, name: nameTok.val, pipe: this.parsePipeline(cur, 'template') };
  }

  /** A pipeline up to the end of the action (or the closing paren when context is "parenthesized"). */
  private parsePipeline(cur: Cursor, context: string): Pipe {
    const endKind: TokKind = context === 'parenthesized' ? 'rparen' : 'eoa';
    const pos = cur.peek().pos;
    const decl: string[] = [];
    let isAssign = false;
    const t0 = cur.peek();
    // Declarations belong to actions and control structures, not to parenthesized arguments.
    if (t0.k === 'var' && context !== 'parenthesized') {
      const t1 = cur.peek(1);
      if (t1.k === 'declare' || t1.k === 'assign') {
        cur.next();
        cur.next();
        decl.push(t0.v);
        isAssign = t1.k === 'assign';
      } else if (t1.k === 'comma' && context === 'range') {
        const t2 = cur.peek(2);
        const t3 = cur.peek(3);
        if (t2.k !== 'var' || (t3.k !== 'declare' && t3.k !== 'assign')) this.fail('expected "$index, $element := " in {{range}}', t1.pos);
        for (let n = 0; n < 4; n++) cur.next();
        decl.push(t0.v, t2.v);
        isAssign = t3.k === 'assign';
      }
    }
    if (decl.length && isAssign) {
      for (const name of decl) if (!this.vars.includes(name)) this.fail(`undefined variable "${name}" (declare it with :=)`, pos);
    }
    if (cur.peek().k === endKind) this.fail(`missing value for ${context}`, cur.peek().pos);
    const cmds: Command[] = [];
    for (;;) {
      const cmd = this.parseCommand(cur);
      if (cmds.length > 0) {
        const head = cmd.args[0]!;
        if (head.t === 'literal' || head.t === 'dot') this.fail(`non executable command in pipeline stage ${cmds.length + 1}`, cmd.pos);
      }
      cmds.push(cmd);
      if (cur.peek().k === 'pipe') {
        cur.next();
        continue;
      }
      break;
    }
    const end = cur.next();
    if (end.k !== endKind) this.fail(`unexpected ${describe(end)} in ${context}`, end.pos);
    if (decl.length && !isAssign) this.vars.push(...decl);
    return { pos, decl, isAssign, cmds };
  }

  private parseCommand(cur: Cursor): Command {
    const pos = cur.peek().pos;
    const args: Operand[] = [];
    for (;;) {
      const t = cur.peek();
      if (t.k === 'pipe' || t.k === 'rparen' || t.k === 'eoa') break;
      if (args.length > 0 && !t.sp) this.fail(`unexpected ${describe(t)} in operand (missing space?)`, t.pos);
      args.push(this.parseOperand(cur));
    }
    if (args.length === 0) this.fail('missing value for command', cur.peek().pos);
    const head = args[0]!;
    if (head.t === 'literal' && head.value === null) this.fail('nil is not a command', head.pos);
    return { pos, args };
  }

  private parseOperand(cur: Cursor): Operand {
    const term = this.parseTerm(cur);
    const names: string[] = [];
    while (cur.peek().k === 'field' && !cur.peek().sp) names.push(cur.next().v);
    if (!names.length) return term;
    if (term.t === 'literal' || term.t === 'dot') this.fail(`unexpected .${names[0]} after a constant`, term.pos);
    if (term.t === 'field') return { ...term, names: [...term.names, ...names] };
    return { t: 'chain', pos: term.pos, base: term, names };
  }

  private parseTerm(cur: Cursor): Operand {
    const t = cur.next();
    switch (t.k) {
      case 'ident':
        if (KEYWORDS.has(t.v)) this.fail(`unexpected keyword "${t.v}" here`, t.pos);
        if (!Object.hasOwn(FUNCS, t.v)) {
          this.fail(
            `function "${t.v}" is not defined (Loadout renders LocalAI's Go templates with the text/template ` +
              `built-ins and common sprig functions; rewrite that part of the template or set use_tokenizer_template: true)`,
            t.pos,
          );
        }
        return { t: 'ident', pos: t.pos, name: t.v };
      case 'dot':
        return { t: 'dot', pos: t.pos };
      case 'field':
        return { t: 'field', pos: t.pos, names: [t.v] };
      case 'var':
        if (!this.vars.includes(t.v)) this.fail(`undefined variable "${t.v}"`, t.pos);
        return { t: 'var', pos: t.pos, name: t.v };
      case 'string':
      case 'number':
      case 'bool':
      case 'nil':
        return { t: 'literal', pos: t.pos, value: t.val };
      case 'lparen':
        return { t: 'pipe', pos: t.pos, pipe: this.parsePipeline(cur, 'parenthesized') };
      default:
        this.fail(`unexpected ${describe(t)} in operand`, t.pos);
    }
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Values                                                                                      */

/** An error inside a function; the executor adds the position. */
class FuncError extends Error {}

type Obj = Record<string, unknown>;

const isObject = (v: unknown): v is Obj => typeof v === 'object' && v !== null && !Array.isArray(v) && !(v instanceof Date);
/** A Go struct stand-in: an object whose toJSON gives its JSON field order. */
const isStruct = (v: unknown): v is Obj & { toJSON(): unknown } => isObject(v) && typeof (v as { toJSON?: unknown }).toJSON === 'function';

function goType(v: unknown): string {
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
function truth(v: unknown): boolean {
  if (v === null || v === undefined) return false;
  if (typeof v === 'boolean') return v;
  if (typeof v === 'number') return v !== 0;
  if (typeof v === 'string') return v.length > 0;
  if (Array.isArray(v)) return v.length > 0;
  if (v instanceof Date || isStruct(v)) return true;
  if (isObject(v)) return Object.keys(v).length > 0;
  return true;
}

function fmtNumber(n: number): string {
  if (Number.isNaN(n)) return 'NaN';
  if (!Number.isFinite(n)) return n > 0 ? '+Inf' : '-Inf';
  // JavaScript cannot tell Go's ints from floats: integral values print as ints.
  if (Number.isInteger(n)) return Math.abs(n) < 1e21 ? n.toFixed(0) : goExp(n);
  const exp = Math.floor(Math.log10(Math.abs(n)));
  // Go's %v for floats is %g with the shortest digits: exponent form below 1e-4 and from 1e21.
  return exp < -4 || exp >= 21 ? goExp(n) : String(n);
}

function goExp(n: number, digits?: number): string {
  const [mant, e] = n.toExponential(digits).split('e') as [string, string];
  const exp = Number(e);
  return `${mant}e${exp < 0 ? '-' : '+'}${String(Math.abs(exp)).padStart(2, '0')}`;
}

/** fmt's %v. Nil prints as nothing at the top level (see the file comment), `<nil>` inside lists. */
function fmtV(v: unknown, nested = false): string {
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
const str = (v: unknown): string => fmtV(v);

function toInt(v: unknown): number {
  if (typeof v === 'number') return Math.trunc(v);
  if (typeof v === 'boolean') return v ? 1 : 0;
  if (typeof v === 'string') {
    const n = Number.parseInt(v, 10);
    return Number.isNaN(n) ? 0 : n;
  }
  return 0;
}

/** encoding/json's output: maps with sorted keys, structs in field order, <>& escaped. */
function goJson(v: unknown, indent = '', level = 0): string {
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

/* ------------------------------------------------------------------------------------------ */
/* Comparison                                                                                  */

type Basic = 'string' | 'number' | 'bool' | 'nil';

function basicKind(v: unknown): Basic | null {
  if (v === null || v === undefined) return 'nil';
  if (typeof v === 'string') return 'string';
  if (typeof v === 'number') return 'number';
  if (typeof v === 'boolean') return 'bool';
  return null;
}

function equal(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka === null || kb === null) throw new FuncError(`non-comparable type ${goType(ka === null ? a : b)}`);
  // A missing value equals only nil (Go would fail to compare it with anything).
  if (ka === 'nil' || kb === 'nil') return ka === kb;
  if (ka !== kb) throw new FuncError(`incompatible types for comparison: ${goType(a)} and ${goType(b)}`);
  return a === b;
}

function less(a: unknown, b: unknown): boolean {
  const ka = basicKind(a);
  const kb = basicKind(b);
  if (ka !== 'string' && ka !== 'number') throw new FuncError(`invalid type for comparison: ${goType(a)}`);
  if (ka !== kb) throw new FuncError(`incompatible types for comparison: ${goType(a)} and ${goType(b)}`);
  return (a as string | number) < (b as string | number);
}

/* ------------------------------------------------------------------------------------------ */
/* printf                                                                                      */

function sprintf(format: string, args: unknown[]): string {
  let out = '';
  let ai = 0;
  for (let i = 0; i < format.length; i++) {
    const c = format[i]!;
    if (c !== '%') {
      out += c;
      continue;
    }
    let j = i + 1;
    let flags = '';
    while (j < format.length && '+-# 0'.includes(format[j]!)) flags += format[j++];
    let width = '';
    while (isDigit(format[j])) width += format[j++];
    let prec: number | null = null;
    if (format[j] === '.') {
      j++;
      let p = '';
      while (isDigit(format[j])) p += format[j++];
      prec = Number(p || '0');
    }
    const verb = format[j];
    i = j;
    if (verb === undefined) {
      out += '%!(NOVERB)';
      break;
    }
    if (verb === '%') {
      out += '%';
      continue;
    }
    if (ai >= args.length) {
      out += `%!${verb}(MISSING)`;
      continue;
    }
    const s = formatVerb(verb, args[ai++], flags, prec);
    const w = Number(width || '0');
    if (s.length >= w) out += s;
    else if (flags.includes('-')) out += s.padEnd(w);
    else if (flags.includes('0') && /^[+-]?[\d.]/.test(s) && 'dfeg'.includes(verb)) {
      const sign = /^[+-]/.test(s) ? s[0]! : '';
      out += sign + s.slice(sign.length).padStart(w - sign.length, '0');
    } else out += s.padStart(w);
  }
  if (ai < args.length) out += `%!(EXTRA ${args.slice(ai).map((a) => `${goType(a)}=${fmtV(a, true)}`).join(', ')})`;
  return out;
}

function formatVerb(verb: string, a: unknown, flags: string, prec: number | null): string {
  const bad = (): string => (a === null || a === undefined ? `%!${verb}(<nil>)` : `%!${verb}(${goType(a)}=${fmtV(a, true)})`);
  const plus = (s: string, n: number): string => (n >= 0 && flags.includes('+') ? '+' + s : n >= 0 && flags.includes(' ') ? ' ' + s : s);
  switch (verb) {
    case 'v':
      return typeof a === 'number' ? plus(fmtV(a), a) : fmtV(a);
    case 's': {
      if (typeof a === 'number' || typeof a === 'boolean') return bad();
      const s = fmtV(a);
      return prec === null ? s : [...s].slice(0, prec).join('');
    }
    case 'q':
      if (typeof a === 'string') return JSON.stringify(a);
      if (typeof a === 'number' && Number.isInteger(a)) return `'${String.fromCodePoint(a)}'`;
      return bad();
    case 'd':
      return typeof a === 'number' && Number.isInteger(a) ? plus(a.toFixed(0), a) : bad();
    case 't':
      return typeof a === 'boolean' ? String(a) : bad();
    case 'f':
    case 'F':
      return typeof a === 'number' ? plus(a.toFixed(prec ?? 6), a) : bad();
    case 'e':
      return typeof a === 'number' ? plus(goExp(a, prec ?? 6), a) : bad();
    case 'g':
      return typeof a === 'number' ? plus(prec === null ? fmtNumber(a) : String(Number(a.toPrecision(prec || 1))), a) : bad();
    case 'x':
    case 'X': {
      let s: string;
      if (typeof a === 'number' && Number.isInteger(a)) s = (a < 0 ? '-' : '') + Math.abs(a).toString(16);
      else if (typeof a === 'string') s = [...new TextEncoder().encode(a)].map((b) => b.toString(16).padStart(2, '0')).join('');
      else return bad();
      return verb === 'X' ? s.toUpperCase() : s;
    }
    case 'c':
      return typeof a === 'number' && Number.isInteger(a) ? String.fromCodePoint(a) : bad();
    case 'T':
      return goType(a);
    default:
      return `%!${verb}(${goType(a)}=${fmtV(a, true)})`;
  }
}

/* ------------------------------------------------------------------------------------------ */
/* Time (sprig's now/date, Go layouts)                                                         */

const MONTHS = ['January', 'February', 'March', 'April', 'May', 'June', 'July', 'August', 'September', 'October', 'November', 'December'];
const DAYS = ['Sunday', 'Monday', 'Tuesday', 'Wednesday', 'Thursday', 'Friday', 'Saturday'];
const LAYOUT =
  /January|Jan|Monday|Mon|MST|2006|-07:00:00|-070000|-07:00|-0700|-07|Z07:00:00|Z070000|Z07:00|Z0700|Z07|002|__2|_2|01|02|03|04|05|06|15|PM|pm|[.,](?:0+|9+)(?!\d)|1|2|3|4|5/g;

function zoneAbbreviation(d: Date): string {
  try {
    const part = new Intl.DateTimeFormat('en-US', { timeZoneName: 'short' }).formatToParts(d).find((p) => p.type === 'timeZoneName');
    return part?.value ?? 'UTC';
  } catch {
    return 'UTC';
  }
}

/** Formats a Date in local time with a Go reference-time layout ("Mon Jan 2 15:04:05 MST 2006"). */
function formatGoTime(d: Date, layout: string): string {
  const p2 = (n: number): string => String(n).padStart(2, '0');
  const offMin = -d.getTimezoneOffset();
  const zone = (colon: boolean, secs: boolean, hoursOnly: boolean, z: boolean): string => {
    if (z && offMin === 0) return 'Z';
    const sign = offMin < 0 ? '-' : '+';
    const h = p2(Math.floor(Math.abs(offMin) / 60));
    const m = p2(Math.abs(offMin) % 60);
    if (hoursOnly) return sign + h;
    return colon ? `${sign}${h}:${m}${secs ? ':00' : ''}` : `${sign}${h}${m}${secs ? '00' : ''}`;
  };
  const start = new Date(d.getFullYear(), 0, 1);
  const yday = Math.round((new Date(d.getFullYear(), d.getMonth(), d.getDate()).getTime() - start.getTime()) / 86400000) + 1;
  const h12 = d.getHours() % 12 || 12;
  return layout.replace(LAYOUT, (tok) => {
    switch (tok) {
      case 'January': return MONTHS[d.getMonth()]!;
      case 'Jan': return MONTHS[d.getMonth()]!.slice(0, 3);
      case 'Monday': return DAYS[d.getDay()]!;
      case 'Mon': return DAYS[d.getDay()]!.slice(0, 3);
      case 'MST': return zoneAbbreviation(d);
      case '2006': return String(d.getFullYear()).padStart(4, '0');
      case '06': return p2(d.getFullYear() % 100);
      case '01': return p2(d.getMonth() + 1);
      case '1': return String(d.getMonth() + 1);
      case '02': return p2(d.getDate());
      case '_2': return String(d.getDate()).padStart(2, ' ');
      case '2': return String(d.getDate());
      case '002': return String(yday).padStart(3, '0');
      case '__2': return String(yday).padStart(3, ' ');
      case '15': return p2(d.getHours());
      case '03': return p2(h12);
      case '3': return String(h12);
      case '04': return p2(d.getMinutes());
      case '4': return String(d.getMinutes());
      case '05': return p2(d.getSeconds());
      case '5': return String(d.getSeconds());
      case 'PM': return d.getHours() >= 12 ? 'PM' : 'AM';
      case 'pm': return d.getHours() >= 12 ? 'pm' : 'am';
      case '-0700': return zone(false, false, false, false);
      case '-07:00': return zone(true, false, false, false);
      case '-07': return zone(false, false, true, false);
      case '-070000': return zone(false, true, false, false);
      case '-07:00:00': return zone(true, true, false, false);
      case 'Z0700': return zone(false, false, false, true);
      case 'Z07:00': return zone(true, false, false, true);
      case 'Z07': return zone(false, false, true, true);
      case 'Z070000': return zone(false, true, false, true);
      case 'Z07:00:00': return zone(true, true, false, true);
    }
    // Fractional seconds: .000 keeps zeros, .999 trims them (and the point when all are zero).
    const digits = tok.length - 1;
    const frac = String(d.getMilliseconds()).padStart(3, '0').padEnd(digits, '0').slice(0, digits);
    if (tok[1] === '0') return tok[0]! + frac;
    const trimmed = frac.replace(/0+$/, '');
    return trimmed ? tok[0]! + trimmed : '';
  });
}

/* ------------------------------------------------------------------------------------------ */
/* Functions                                                                                   */

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
const LAZY = new Set(['and', 'or']);

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

const FUNCS: Record<string, Func> = {
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

/* ------------------------------------------------------------------------------------------ */
/* Executor                                                                                    */

type Signal = 'break' | 'continue' | undefined;

/** No argument came down the pipeline (distinct from a nil one). */
const NONE = Symbol('none');

const MAX_DEPTH = 1000;
/** Far beyond any prompt; stops a runaway range from eating the core's memory. */
const MAX_OUTPUT = 32 * 1024 * 1024;

class Executor {
  private out: string[] = [];
  private size = 0;
  private vars: { name: string; value: unknown }[] = [];
  private depth = 0;

  constructor(
    private readonly src: string,
    private readonly defines: Map<string, Node[]>,
    private readonly now: () => Date,
  ) {}

  private fail(reason: string, offset: number): never {
    throw new TemplateError(reason, positionAt(this.src, offset));
  }

  run(root: Node[], data: unknown): string {
    this.vars = [{ name: '$', value: data }];
    this.walk(root, data);
    return this.out.join('');
  }

  private write(s: string, pos: number): void {
    if (!s) return;
    this.size += s.length;
    if (this.size > MAX_OUTPUT) this.fail('the template output is too large (over 32 MB): check for a runaway {{range}}', pos);
    this.out.push(s);
  }

  private walk(nodes: Node[], dot: unknown): Signal {
    for (const node of nodes) {
      const sig = this.walkNode(node, dot);
      if (sig) return sig;
    }
    return undefined;
  }

  private walkNode(node: Node, dot: unknown): Signal {
    switch (node.t) {
      case 'text':
        this.write(node.text, 0);
        return undefined;
      case 'action': {
        const v = this.evalPipe(node.pipe, dot);
        if (!node.pipe.decl.length) this.write(fmtV(v), node.pos);
        return undefined;
      }
      case 'if':
      case 'with': {
        const mark = this.vars.length;
        const v = this.evalPipe(node.pipe, dot);
        let sig: Signal;
        if (truth(v)) sig = this.walk(node.list, node.t === 'with' ? v : dot);
        else if (node.elseList) sig = this.walk(node.elseList, dot);
        this.vars.length = mark;
        return sig;
      }
      case 'range':
        return this.walkRange(node, dot);
      case 'break':
      case 'continue':
        return node.t;
      case 'template': {
        const body = this.defines.get(node.name);
        if (!body) this.fail(`no template named "${node.name}" is defined`, node.pos);
        if (++this.depth > MAX_DEPTH) this.fail(`templates nest more than ${MAX_DEPTH} deep (a {{template}} calls itself?)`, node.pos);
        const value = node.pipe ? this.evalPipe(node.pipe, dot) : undefined;
        const saved = this.vars;
        this.vars = [{ name: '$', value }];
        this.walk(body, value);
        this.vars = saved;
        this.depth--;
        return undefined;
      }
    }
  }

  private walkRange(node: Extract<Node, { t: 'range' }>, dot: unknown): Signal {
    const mark = this.vars.length;
    const pipe = node.pipe;
    // The range's own variables take each key/element, not the pipeline's value.
    const value = this.evalPipe({ ...pipe, decl: [] }, dot);
    let items: [unknown, unknown][];
    if (value === null || value === undefined) items = [];
    else if (Array.isArray(value)) items = value.map((e, i) => [i, e]);
    else if (isObject(value) && !isStruct(value)) {
      items = Object.keys(value)
        .sort()
        .map((k) => [k, value[k]]);
    } else if (typeof value === 'number' && Number.isInteger(value)) {
      if (pipe.decl.length > 1) this.fail('can\'t use two variables to range over an integer', node.pos);
      items = Array.from({ length: Math.max(0, value) }, (_, i) => [i, i]);
    } else {
      this.fail(`range can't iterate over ${goType(value)} ${JSON.stringify(fmtV(value))}: it needs a list or a map`, pipe.pos);
    }
    if (!items.length) {
      const sig = node.elseList ? this.walk(node.elseList, dot) : undefined;
      this.vars.length = mark;
      return sig;
    }
    const declare = (key: unknown, elem: unknown): void => {
      const values = pipe.decl.length === 2 ? [key, elem] : [elem];
      pipe.decl.forEach((name, i) => {
        if (pipe.isAssign) this.setVar(name, values[i]);
        else this.vars.push({ name, value: values[i] });
      });
    };
    for (const [key, elem] of items) {
      const inner = this.vars.length;
      declare(key, elem);
      const sig = this.walk(node.list, elem);
      this.vars.length = inner;
      if (sig === 'break') break;
    }
    this.vars.length = mark;
    return undefined;
  }

  private setVar(name: string, value: unknown): void {
    for (let i = this.vars.length - 1; i >= 0; i--) {
      if (this.vars[i]!.name === name) {
        this.vars[i]!.value = value;
        return;
      }
    }
  }

  private getVar(name: string, pos: number): unknown {
    for (let i = this.vars.length - 1; i >= 0; i--) if (this.vars[i]!.name === name) return this.vars[i]!.value;
    this.fail(`undefined variable "${name}"`, pos);
  }

  private evalPipe(pipe: Pipe, dot: unknown): unknown {
    let value: unknown = NONE;
    for (const cmd of pipe.cmds) value = this.evalCommand(cmd, dot, value);
    for (const name of pipe.decl) {
      if (pipe.isAssign) this.setVar(name, value);
      else this.vars.push({ name, value });
    }
    return value;
  }

  private evalCommand(cmd: Command, dot: unknown, final: unknown): unknown {
    const head = cmd.args[0]!;
    if (head.t === 'ident') return this.call(head.name, cmd.args.slice(1), dot, final, head.pos);
    if (cmd.args.length > 1 || final !== NONE) {
      this.fail(`can't give an argument to ${describeOperand(head)}: it is not a function`, head.pos);
    }
    return this.evalOperand(head, dot);
  }

  private call(name: string, argNodes: Operand[], dot: unknown, final: unknown, pos: number): unknown {
    const f = FUNCS[name]!;
    const count = argNodes.length + (final === NONE ? 0 : 1);
    if (count < f.min || (f.max >= 0 && count > f.max)) {
      const want = f.max < 0 ? `at least ${f.min}` : f.min === f.max ? String(f.min) : `${f.min} to ${f.max}`;
      this.fail(`wrong number of arguments for ${name}: want ${want}, got ${count}`, pos);
    }
    if (LAZY.has(name)) {
      // and/or stop at the first operand that decides the result, and return that operand.
      const isAnd = name === 'and';
      let v: unknown;
      for (let i = 0; i < count; i++) {
        v = i < argNodes.length ? this.evalOperand(argNodes[i]!, dot) : final;
        if (truth(v) !== isAnd) return v;
      }
      return v;
    }
    const args = argNodes.map((a) => this.evalOperand(a, dot));
    if (final !== NONE) args.push(final);
    try {
      return f.call(args, { now: this.now });
    } catch (e) {
      if (e instanceof FuncError) this.fail(`error calling ${name}: ${e.message}`, pos);
      throw e;
    }
  }

  private evalOperand(op: Operand, dot: unknown): unknown {
    switch (op.t) {
      case 'dot':
        return dot;
      case 'literal':
        return op.value;
      case 'var':
        return this.getVar(op.name, op.pos);
      case 'ident':
        return this.call(op.name, [], dot, NONE, op.pos);
      case 'pipe': {
        const mark = this.vars.length;
        const v = this.evalPipe(op.pipe, dot);
        this.vars.length = mark;
        return v;
      }
      case 'field':
        return this.fields(dot, op.names, op.pos);
      case 'chain':
        return this.fields(this.evalOperand(op.base, dot), op.names, op.pos);
    }
  }

  private fields(value: unknown, names: string[], pos: number): unknown {
    let v = value;
    for (const name of names) {
      if (v === null || v === undefined) return undefined;
      if (!isObject(v)) this.fail(`can't evaluate field ${name} in type ${goType(v)}`, pos);
      v = Object.hasOwn(v, name) ? v[name] : undefined;
    }
    return v;
  }
}

function describeOperand(op: Operand): string {
  switch (op.t) {
    case 'field':
      return `.${op.names.join('.')}`;
    case 'chain':
      return `${describeOperand(op.base)}.${op.names.join('.')}`;
    case 'var':
      return op.name;
    case 'dot':
      return '.';
    case 'literal':
      return JSON.stringify(op.value);
    case 'ident':
      return op.name;
    case 'pipe':
      return 'a parenthesized pipeline';
  }
}
