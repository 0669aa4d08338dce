/** Parser: tokens to the syntax tree, with Go's error messages and positions. */
import { FUNCS } from './functions';
import { Lexer, type Segment, type TokKind } from './lexer';
import { TemplateError, positionAt } from './position';
import { type Command, Cursor, KEYWORDS, type Node, type Operand, type Pipe, type Terminator, describe } from './syntax';

export class Parser {
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
