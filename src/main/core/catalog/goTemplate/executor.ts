/** Executor: walks the syntax tree over the data, with depth and output bounds. */
import { FUNCS, LAZY } from './functions';
import { TemplateError, positionAt } from './position';
import type { Command, Node, Operand, Pipe } from './syntax';
import { FuncError, fmtV, goType, isObject, isStruct, truth } from './values';

type Signal = 'break' | 'continue' | undefined;

/** No argument came down the pipeline (distinct from a nil one). */
const NONE = Symbol('none');

const MAX_DEPTH = 1000;
/** Far beyond any prompt; stops a runaway range from eating the core's memory. */
const MAX_OUTPUT = 32 * 1024 * 1024;

export class Executor {
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
