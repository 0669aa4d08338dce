/**
 * A small Markdown parser for model output: text in, a plain AST out (Markdown.tsx turns it into
 * React elements, so every string ends up as a text node and nothing from the model is ever
 * parsed as HTML). Covers what chat answers use: paragraphs, headings, fenced code, inline code,
 * bold, italic, strikethrough, links, lists, blockquotes, rules and pipe tables.
 *
 * Hostile input is the normal case here (the model may repeat anything it was shown):
 * - links only for http:, https: and mailto: (checked on the parsed URL, so `JaVa\tScript:` and
 *   friends are caught the way a browser would read them); anything else stays text;
 * - raw HTML is just text;
 * - the parser is linear-ish on any input: no regex that can backtrack, every search for a
 *   closing delimiter that failed is remembered so it is not repeated, and nesting is capped.
 */

export type Inline =
  | { t: 'text'; v: string }
  | { t: 'code'; v: string }
  | { t: 'strong'; c: Inline[] }
  | { t: 'em'; c: Inline[] }
  | { t: 'del'; c: Inline[] }
  | { t: 'link'; href: string; c: Inline[] }
  | { t: 'br' };

export type Align = 'left' | 'center' | 'right' | null;

export type Block =
  | { t: 'p'; c: Inline[] }
  | { t: 'h'; level: 1 | 2 | 3 | 4 | 5 | 6; c: Inline[] }
  /** `open`: the closing fence has not come (yet: the answer may still be streaming). */
  | { t: 'code'; lang: string; v: string; open: boolean }
  | { t: 'quote'; c: Block[] }
  | { t: 'list'; ordered: boolean; start: number; items: Block[][] }
  | { t: 'hr' }
  | { t: 'table'; align: Align[]; head: Inline[][]; rows: Inline[][][] };

/** A top-level block and the source lines it came from (lets a view skip blocks that did not change). */
export interface SourcedBlock {
  block: Block;
  src: string;
}

/** Nesting deeper than this (quotes in lists in quotes..., emphasis in emphasis...) is kept as text. */
const MAX_DEPTH = 12;
/** Longer link targets are not links (nobody types them; they only cost). */
const MAX_URL = 4096;

const SAFE_PROTOCOLS = new Set(['http:', 'https:', 'mailto:']);

/** The URL to put in an href, or null when it is not an absolute http(s)/mailto URL. */
export function safeHref(raw: string): string | null {
  const trimmed = raw.trim();
  if (trimmed === '' || trimmed.length > MAX_URL) return null;
  let url: URL;
  try {
    url = new URL(trimmed);
  } catch {
    return null;
  }
  return SAFE_PROTOCOLS.has(url.protocol) ? url.href : null;
}

// ---------------------------------------------------------------------------------- blocks

const isBlank = (line: string) => line.trim() === '';

/** Leading spaces, a tab counting as up to the next multiple of 4. */
function indentOf(line: string): number {
  let n = 0;
  for (const ch of line) {
    if (ch === ' ') n += 1;
    else if (ch === '\t') n += 4 - (n % 4);
    else break;
  }
  return n;
}

/** Drops `n` columns of indentation (tabs expanded). */
function dedent(line: string, n: number): string {
  let col = 0;
  let i = 0;
  while (i < line.length && col < n) {
    if (line[i] === ' ') col += 1;
    else if (line[i] === '\t') col += 4 - (col % 4);
    else break;
    i += 1;
  }
  return (col > n ? ' '.repeat(col - n) : '') + line.slice(i);
}

interface Fence {
  char: '`' | '~';
  len: number;
  lang: string;
}

function fenceOpen(line: string): Fence | null {
  if (indentOf(line) > 3) return null;
  const s = line.trimStart();
  const char = s[0];
  if (char !== '`' && char !== '~') return null;
  let len = 0;
  while (s[len] === char) len += 1;
  if (len < 3) return null;
  const info = s.slice(len).trim();
  if (char === '`' && info.includes('`')) return null;
  return { char, len, lang: info.split(/\s/, 1)[0] ?? '' };
}

function isFenceClose(line: string, f: Fence): boolean {
  if (indentOf(line) > 3) return false;
  const s = line.trim();
  if (s.length < f.len) return false;
  for (const ch of s) if (ch !== f.char) return false;
  return true;
}

function headingOf(line: string): { level: 1 | 2 | 3 | 4 | 5 | 6; text: string } | null {
  if (indentOf(line) > 3) return null;
  const s = line.trimStart();
  let level = 0;
  while (s[level] === '#') level += 1;
  if (level < 1 || level > 6) return null;
  if (s.length > level && s[level] !== ' ' && s[level] !== '\t') return null;
  let text = s.slice(level).trim();
  // An optional closing run of #s, when it is separated by a space ("## Title ##").
  let end = text.length;
  while (end > 0 && text[end - 1] === '#') end -= 1;
  if (end === 0) text = '';
  else if (end < text.length && (text[end - 1] === ' ' || text[end - 1] === '\t')) text = text.slice(0, end).trimEnd();
  return { level: level as 1 | 2 | 3 | 4 | 5 | 6, text };
}

function isRule(line: string): boolean {
  if (indentOf(line) > 3) return false;
  let char = '';
  let count = 0;
  for (const ch of line) {
    if (ch === ' ' || ch === '\t') continue;
    if (ch !== '-' && ch !== '*' && ch !== '_') return false;
    if (char && ch !== char) return false;
    char = ch;
    count += 1;
  }
  return count >= 3;
}

function isQuote(line: string): boolean {
  return indentOf(line) <= 3 && line.trimStart().startsWith('>');
}

function unquote(line: string): string {
  const s = line.trimStart().slice(1);
  return s.startsWith(' ') ? s.slice(1) : s;
}

interface Marker {
  ordered: boolean;
  /** `-`, `*`, `+`, `.` or `)`: a different one starts a new list. */
  kind: string;
  start: number;
  /** Columns from the line start to the item's content. */
  width: number;
  content: string;
}

function listMarker(line: string): Marker | null {
  const indent = indentOf(line);
  if (indent > 3) return null;
  const s = line.trimStart();
  let kind: string;
  let ordered = false;
  let start = 1;
  let len: number;
  if (s[0] === '-' || s[0] === '*' || s[0] === '+') {
    kind = s[0];
    len = 1;
  } else {
    let d = 0;
    while (d < 9 && s[d] >= '0' && s[d] <= '9') d += 1;
    if (d === 0 || (s[d] !== '.' && s[d] !== ')')) return null;
    ordered = true;
    kind = s[d];
    start = Number(s.slice(0, d));
    len = d + 1;
  }
  if (s.length > len && s[len] !== ' ' && s[len] !== '\t') return null;
  const rest = s.slice(len);
  const pad = Math.min(Math.max(indentOf(rest), 1), 4);
  return { ordered, kind, start, width: indent + len + pad, content: rest.trim() === '' ? '' : dedent(rest, pad) };
}

/** Splits a table row into cells on unescaped pipes (a leading and a trailing pipe are optional). */
function splitRow(line: string): string[] {
  let s = line.trim();
  if (s.startsWith('|')) s = s.slice(1);
  if (s.endsWith('|') && !s.endsWith('\\|')) s = s.slice(0, -1);
  const cells: string[] = [];
  let cur = '';
  for (let i = 0; i < s.length; i++) {
    if (s[i] === '\\' && s[i + 1] === '|') {
      cur += '|';
      i += 1;
    } else if (s[i] === '|') {
      cells.push(cur.trim());
      cur = '';
    } else cur += s[i];
  }
  cells.push(cur.trim());
  return cells;
}

function delimiterRow(line: string): Align[] | null {
  if (!line.includes('-')) return null;
  const cells = splitRow(line);
  const align: Align[] = [];
  for (const c of cells) {
    const left = c.startsWith(':');
    const right = c.endsWith(':') && c.length > 1;
    const dashes = c.slice(left ? 1 : 0, right ? -1 : undefined);
    if (dashes.length === 0) return null;
    for (const ch of dashes) if (ch !== '-') return null;
    align.push(left && right ? 'center' : right ? 'right' : left ? 'left' : null);
  }
  return align;
}

function tableStart(lines: string[], i: number): Align[] | null {
  if (i + 1 >= lines.length || !lines[i].includes('|')) return null;
  const align = delimiterRow(lines[i + 1]);
  if (!align || !lines[i + 1].includes('|')) return null;
  return splitRow(lines[i]).length === align.length ? align : null;
}

/** A line that ends a paragraph (without a blank line before it). */
function interrupts(lines: string[], i: number): boolean {
  const line = lines[i];
  if (fenceOpen(line) || headingOf(line) || isRule(line) || isQuote(line)) return true;
  const m = listMarker(line);
  // As in CommonMark, "1996. was a good year" inside a sentence does not start a list.
  return m !== null && m.content !== '' && (!m.ordered || m.start === 1);
}

function parseLines(lines: string[], depth: number, sources: string[] | null): Block[] {
  const out: Block[] = [];
  let i = 0;
  const push = (block: Block, from: number) => {
    out.push(block);
    sources?.push(lines.slice(from, i).join('\n'));
  };
  while (i < lines.length) {
    const line = lines[i];
    const from = i;
    if (isBlank(line)) {
      i += 1;
      continue;
    }
    const fence = fenceOpen(line);
    if (fence) {
      const body: string[] = [];
      const indent = indentOf(line);
      i += 1;
      let open = true;
      while (i < lines.length) {
        if (isFenceClose(lines[i], fence)) {
          open = false;
          i += 1;
          break;
        }
        body.push(dedent(lines[i], indent));
        i += 1;
      }
      push({ t: 'code', lang: fence.lang, v: body.join('\n'), open }, from);
      continue;
    }
    const heading = headingOf(line);
    if (heading) {
      i += 1;
      push({ t: 'h', level: heading.level, c: parseInline(heading.text, depth) }, from);
      continue;
    }
    if (isRule(line)) {
      i += 1;
      push({ t: 'hr' }, from);
      continue;
    }
    if (isQuote(line) && depth < MAX_DEPTH) {
      const inner: string[] = [];
      while (i < lines.length && isQuote(lines[i])) inner.push(unquote(lines[i++]));
      push({ t: 'quote', c: parseLines(inner, depth + 1, null) }, from);
      continue;
    }
    const marker = listMarker(line);
    if (marker && depth < MAX_DEPTH) {
      const items: Block[][] = [];
      let m: Marker | null = marker;
      while (m) {
        const body = [m.content];
        i += 1;
        let next: Marker | null = null;
        while (i < lines.length) {
          const l = lines[i];
          if (isBlank(l)) {
            // A blank line continues the item only when an indented line follows.
            let j = i + 1;
            while (j < lines.length && isBlank(lines[j])) j += 1;
            if (j < lines.length && indentOf(lines[j]) >= m.width) {
              for (; i < j; i++) body.push('');
              continue;
            }
            // ...or the list goes on with its next item (a loose list).
            const after = j < lines.length ? listMarker(lines[j]) : null;
            if (after && after.kind === m.kind && after.ordered === m.ordered) {
              i = j;
              next = after;
            }
            break;
          }
          if (indentOf(l) >= m.width) {
            body.push(dedent(l, m.width));
            i += 1;
            continue;
          }
          const other = listMarker(l);
          if (other) {
            if (other.kind === m.kind && other.ordered === m.ordered) next = other;
            break;
          }
          if (interrupts(lines, i)) break;
          body.push(l); // a lazy continuation of the item's paragraph
          i += 1;
        }
        items.push(parseLines(body, depth + 1, null));
        m = next;
      }
      push({ t: 'list', ordered: marker.ordered, start: marker.start, items }, from);
      continue;
    }
    const align = tableStart(lines, i);
    if (align) {
      const head = splitRow(line).map((c) => parseInline(c, depth));
      i += 2;
      const rows: Inline[][][] = [];
      while (i < lines.length && !isBlank(lines[i]) && lines[i].includes('|')) {
        const cells = splitRow(lines[i]);
        rows.push(align.map((_, k) => parseInline(cells[k] ?? '', depth)));
        i += 1;
      }
      push({ t: 'table', align, head, rows }, from);
      continue;
    }
    const para: string[] = [line.trim()];
    i += 1;
    while (i < lines.length && !isBlank(lines[i]) && !interrupts(lines, i) && !tableStart(lines, i)) para.push(lines[i++].trim());
    push({ t: 'p', c: parseInline(para.join('\n'), depth) }, from);
  }
  return out;
}

/** Parses Markdown into blocks. */
export function parseMarkdown(text: string): Block[] {
  return parseLines(text.split(/\r\n|\r|\n/), 0, null);
}

/** Like parseMarkdown, with each top-level block's source (to skip re-rendering blocks that did not change). */
export function parseMarkdownSourced(text: string): SourcedBlock[] {
  const sources: string[] = [];
  const blocks = parseLines(text.split(/\r\n|\r|\n/), 0, sources);
  return blocks.map((block, k) => ({ block, src: sources[k] }));
}

// ---------------------------------------------------------------------------------- inline

const PUNCT = new Set('!"#$%&\'()*+,-./:;<=>?@[\\]^_`{|}~');
const isSpace = (ch: string | undefined) => ch === undefined || ch === ' ' || ch === '\t' || ch === '\n';
const isWordChar = (ch: string | undefined) => ch !== undefined && /[\p{L}\p{N}]/u.test(ch);

/** Trailing characters that end a sentence rather than a bare URL. */
const URL_TRAIL = new Set(['.', ',', ':', ';', '!', '?', '"', "'", ')', ']', '*', '_', '~']);

class InlineParser {
  private readonly out: Inline[] = [];
  private buf = '';
  /** Delimiters whose closer was searched for from some position and not found: never found from later either. */
  private readonly noCloser = new Map<string, number>();
  /** The next `]`, `)` or `>` found by the last search for it: {from, at} (at -1: none after `from`). */
  private readonly nextCache = new Map<string, { from: number; at: number }>();

  constructor(
    private readonly s: string,
    private readonly depth: number,
  ) {}

  private flush(): void {
    if (this.buf) {
      this.out.push({ t: 'text', v: this.buf });
      this.buf = '';
    }
  }

  private emit(node: Inline): void {
    this.flush();
    this.out.push(node);
  }

  /** `s.indexOf(ch, from)`, without rescanning: a run of `[[[[` asks for the same `]` many times. */
  private nextIndex(ch: string, from: number): number {
    const c = this.nextCache.get(ch);
    // No `ch` lies in [c.from, c.at), so from any `from` inside that range the answer is c.at.
    if (c && from >= c.from && (c.at === -1 || from <= c.at)) return c.at;
    const at = this.s.indexOf(ch, from);
    this.nextCache.set(ch, { from, at });
    return at;
  }

  /**
   * A closing `delim` after `from`: the end of a run of its character that does not follow a space
   * (for `_`, not followed by a word character). The run is as long as the delimiter, or 3 long
   * when it also closes an inner one ("**b *c***", "*a **b***").
   */
  private closer(delim: string, from: number): number {
    const failedFrom = this.noCloser.get(delim);
    if (failedFrom !== undefined && from >= failedFrom) return -1;
    const s = this.s;
    const ch = delim[0];
    let at = s.indexOf(ch, from);
    while (at >= 0) {
      let end = at;
      while (s[end] === ch) end += 1;
      const run = end - at;
      const close = end - delim.length;
      const fits = run === delim.length || (run === 3 && delim.length < 3);
      if (fits && close > from && !isSpace(s[at - 1]) && (ch !== '_' || !isWordChar(s[end]))) return close;
      at = s.indexOf(ch, end);
    }
    this.noCloser.set(delim, from);
    return -1;
  }

  private nested(text: string): Inline[] {
    return this.depth >= MAX_DEPTH ? [{ t: 'text', v: text }] : parseInline(text, this.depth + 1);
  }

  parse(): Inline[] {
    const s = this.s;
    let i = 0;
    while (i < s.length) {
      const ch = s[i];
      if (ch === '\\' && i + 1 < s.length && PUNCT.has(s[i + 1])) {
        this.buf += s[i + 1];
        i += 2;
      } else if (ch === '\n') {
        this.buf = this.buf.trimEnd();
        this.emit({ t: 'br' });
        i += 1;
      } else if (ch === '`') {
        i = this.codeSpan(i);
      } else if (ch === '[') {
        i = this.link(i);
      } else if (ch === '<') {
        i = this.autolink(i);
      } else if (ch === 'h' && (s.startsWith('http://', i) || s.startsWith('https://', i)) && !isWordChar(s[i - 1])) {
        i = this.bareUrl(i);
      } else if (ch === '*' || ch === '_' || ch === '~') {
        i = this.emphasis(i);
      } else {
        // Plain text up to the next character that may start something.
        let j = i + 1;
        while (j < s.length && !'\\\n`[<h*_~'.includes(s[j])) j += 1;
        this.buf += s.slice(i, j);
        i = j;
      }
    }
    this.flush();
    return this.out;
  }

  private codeSpan(i: number): number {
    const s = this.s;
    let k = 0;
    while (s[i + k] === '`') k += 1;
    const key = '`'.repeat(k);
    const failedFrom = this.noCloser.get(key);
    let close = -1;
    if (failedFrom === undefined || i < failedFrom) {
      // The next run of exactly k backticks.
      let j = s.indexOf('`', i + k);
      while (j >= 0) {
        let r = 0;
        while (s[j + r] === '`') r += 1;
        if (r === k) {
          close = j;
          break;
        }
        j = s.indexOf('`', j + r);
      }
      if (close < 0) this.noCloser.set(key, i);
    }
    if (close < 0) {
      this.buf += key;
      return i + k;
    }
    let v = s.slice(i + k, close).replace(/\n/g, ' ');
    if (v.length > 2 && v.startsWith(' ') && v.endsWith(' ') && v.trim() !== '') v = v.slice(1, -1);
    this.emit({ t: 'code', v });
    return close + k;
  }

  private link(i: number): number {
    const s = this.s;
    const close = this.nextIndex(']', i + 1);
    if (close < 0 || s[close + 1] !== '(') {
      this.buf += '[';
      return i + 1;
    }
    const end = this.nextIndex(')', close + 2);
    if (end < 0) {
      this.buf += '[';
      return i + 1;
    }
    let dest = s.slice(close + 2, end).trim();
    if (dest.startsWith('<') && dest.includes('>')) dest = dest.slice(1, dest.indexOf('>'));
    else dest = dest.split(/\s/, 1)[0] ?? ''; // a title after the URL is ignored
    const label = s.slice(i + 1, close);
    const href = safeHref(dest);
    // An image (`![alt](url)`) becomes a link to it: the page loads nothing a model points at.
    if (s[i - 1] === '!' && this.buf.endsWith('!')) this.buf = this.buf.slice(0, -1);
    // An unsafe link shows its label as plain text: readable, and nothing to click.
    if (href) this.emit({ t: 'link', href, c: this.nested(label) });
    else for (const node of this.nested(label)) this.emit(node);
    return end + 1;
  }

  private autolink(i: number): number {
    const s = this.s;
    const end = this.nextIndex('>', i + 1);
    const inner = end > i ? s.slice(i + 1, end) : '';
    if (end < 0 || inner.length > MAX_URL || /\s|</.test(inner) || !/^[a-zA-Z][a-zA-Z0-9+.-]{1,31}:/.test(inner)) {
      this.buf += '<';
      return i + 1;
    }
    const href = safeHref(inner);
    if (href) this.emit({ t: 'link', href, c: [{ t: 'text', v: inner }] });
    else this.buf += s.slice(i, end + 1);
    return end + 1;
  }

  private bareUrl(i: number): number {
    const s = this.s;
    let j = i;
    while (j < s.length && !isSpace(s[j]) && s[j] !== '<' && s[j] !== '`' && j - i < MAX_URL) j += 1;
    // Sentence punctuation after a URL is not part of it; a `)` is, when the URL opened one.
    while (j > i && URL_TRAIL.has(s[j - 1])) {
      if (s[j - 1] === ')') {
        const part = s.slice(i, j);
        if (part.split('(').length > part.split(')').length - 1) break;
      }
      j -= 1;
    }
    const raw = s.slice(i, j);
    const href = safeHref(raw);
    if (href && raw.length > 'https://'.length) this.emit({ t: 'link', href, c: [{ t: 'text', v: raw }] });
    else this.buf += raw || s[i];
    return Math.max(j, i + 1);
  }

  private emphasis(i: number): number {
    const s = this.s;
    const ch = s[i];
    let run = 0;
    while (s[i + run] === ch) run += 1;
    const after = s[i + run];
    // An opener must touch the text it opens; `_` inside a word (snake_case) is not one.
    const canOpen = !isSpace(after) && (ch !== '_' || !isWordChar(s[i - 1]));
    if (canOpen) {
      if (ch === '~') {
        if (run === 2) {
          const close = this.closer('~~', i + 2);
          if (close >= 0) {
            this.emit({ t: 'del', c: this.nested(s.slice(i + 2, close)) });
            return close + 2;
          }
        }
      } else if (run >= 3) {
        const delim = ch.repeat(3);
        const close = this.closer(delim, i + 3);
        if (close >= 0) {
          this.emit({ t: 'strong', c: [{ t: 'em', c: this.nested(s.slice(i + 3, close)) }] });
          return close + 3;
        }
      } else if (run === 2) {
        const close = this.closer(ch + ch, i + 2);
        if (close >= 0) {
          this.emit({ t: 'strong', c: this.nested(s.slice(i + 2, close)) });
          return close + 2;
        }
      } else {
        const close = this.closer(ch, i + 1);
        if (close >= 0) {
          this.emit({ t: 'em', c: this.nested(s.slice(i + 1, close)) });
          return close + 1;
        }
      }
    }
    this.buf += s.slice(i, i + run);
    return i + run;
  }
}

/** Parses one block's text into inline nodes. */
export function parseInline(text: string, depth = 0): Inline[] {
  return new InlineParser(text, depth).parse();
}

/** The plain text of inline nodes (for titles, search, accessible names). */
export function inlineText(nodes: Inline[]): string {
  let out = '';
  for (const n of nodes) {
    if (n.t === 'text' || n.t === 'code') out += n.v;
    else if (n.t === 'br') out += '\n';
    else out += inlineText(n.c);
  }
  return out;
}
