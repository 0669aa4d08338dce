/** Syntax tree of a parsed template. */
import type { Tok } from './lexer';

export type Operand =
  | { t: 'field'; pos: number; names: string[] } // .A.B on dot
  | { t: 'chain'; pos: number; base: Operand; names: string[] } // $x.A, (pipe).A, fn.A
  | { t: 'dot'; pos: number }
  | { t: 'var'; pos: number; name: string }
  | { t: 'ident'; pos: number; name: string }
  | { t: 'literal'; pos: number; value: unknown }
  | { t: 'pipe'; pos: number; pipe: Pipe };

export interface Command {
  pos: number;
  args: Operand[];
}

export interface Pipe {
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

export type Node =
  | { t: 'text'; text: string }
  | { t: 'action'; pos: number; pipe: Pipe }
  | ({ t: 'if' } & Control)
  | ({ t: 'with' } & Control)
  | ({ t: 'range' } & Control)
  | { t: 'template'; pos: number; name: string; pipe: Pipe | null }
  | { t: 'break' | 'continue'; pos: number };

export type Terminator =
  | { kind: 'eof' }
  | { kind: 'end'; pos: number }
  | { kind: 'else'; pos: number; cur: Cursor };

export const KEYWORDS = new Set(['if', 'else', 'end', 'range', 'with', 'define', 'template', 'block', 'break', 'continue']);

export class Cursor {
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

export function describe(t: Tok): string {
  if (t.k === 'eoa') return 'end of action "}}"';
  if (t.k === 'field') return `".${t.v}"`;
  return JSON.stringify(t.v);
}
