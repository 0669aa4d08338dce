/** printf: Go's fmt verbs, the subset templates use. */
import { isDigit } from './lexer';
import { fmtNumber, fmtV, goExp, goType } from './values';

export function sprintf(format: string, args: unknown[]): string {
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
