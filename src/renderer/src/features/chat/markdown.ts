/**
 * Model output as an mdast tree, parsed by micromark (CommonMark + GFM: tables, task lists,
 * strikethrough, autolinks, footnotes). Markdown.tsx renders the tree as React elements, so every
 * string ends up as a text node and nothing from the model is ever parsed as HTML: the HTML
 * constructs are switched off, so `<script>` is plain text like any other.
 *
 * Hostile input is the normal case here (the model may repeat anything it was shown):
 * - links only for http:, https: and mailto: (`safeHref`, checked on the parsed URL, so
 *   `JaVa\tScript:` and friends are caught the way a browser would read them);
 * - the text is cut into top-level chunks at blank lines (where no open block can continue), and
 *   each chunk is parsed on its own and cached: while an answer streams only its last chunk is
 *   parsed again, and one pathological chunk costs only itself;
 * - micromark's time grows faster than linearly with container nesting (`> > > > ...`) and it
 *   overflows the stack at a few thousand levels, so container markers beyond MAX_NEST on a line
 *   are escaped (shown as text), and a chunk longer than CHUNK_LIMIT is not parsed at all.
 */
import { fromMarkdown } from 'mdast-util-from-markdown';
import { gfmFromMarkdown } from 'mdast-util-gfm';
import { gfm } from 'micromark-extension-gfm';
import type { Definition, FootnoteDefinition, Root, RootContent } from 'mdast';

/** A longer answer is shown as plain text: the page stays responsive whatever a model writes. */
export const MARKDOWN_LIMIT = 100_000;
/** Longer link targets are not links (nobody types them; they only cost). */
const MAX_URL = 4096;
/** Containers (quotes, list items) nested deeper than this on one line are kept as text. */
export const MAX_NEST = 16;
/** A chunk (text between blank lines) longer than this is shown as plain text. */
export const CHUNK_LIMIT = 10_000;

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

// ------------------------------------------------------------------------------ chunks

const FENCE = /^ {0,3}(`{3,}|~{3,})/;
const LIST_MARKER = /^([-+*]|\d{1,9}[.)])([ \t]|$)/;

/**
 * Cuts the text before each unindented line that follows a blank line outside a fenced code
 * block: no container or paragraph continues across that, so parsing the pieces apart gives the
 * same tree. (A list item marker there could continue a loose list, so the cut is skipped.)
 * Reference definitions are resolved over all chunks by the renderer.
 */
export function splitChunks(text: string): string[] {
  return scanChunks(text).chunks;
}

/** The chunks, and whether the last one ends inside a fenced code block that is still open (streaming). */
function scanChunks(text: string): { chunks: string[]; inFence: boolean } {
  const lines = text.split('\n');
  const chunks: string[] = [];
  let start = 0;
  let fence: string | null = null;
  for (let i = 0; i < lines.length; i++) {
    const line = lines[i]!;
    const f = FENCE.exec(line);
    if (fence !== null) {
      if (f && f[1]![0] === fence[0] && f[1]!.length >= fence.length && line.trim() === f[1]) fence = null;
      continue;
    }
    if (i > start && lines[i - 1]!.trim() === '' && line !== '' && line[0] !== ' ' && line[0] !== '\t' && !LIST_MARKER.test(line)) {
      chunks.push(lines.slice(start, i).join('\n'));
      start = i;
    }
    if (f && !(f[1]![0] === '`' && line.slice(f[0].length).includes('`'))) fence = f[1]!;
  }
  chunks.push(lines.slice(start).join('\n'));
  return { chunks, inFence: fence !== null };
}

/** Escapes the container markers of a line beyond MAX_NEST (they then show as text). */
function capNesting(line: string): string {
  let i = 0;
  for (let depth = 0; ; depth++) {
    let j = i;
    while (j < i + 3 && line[j] === ' ') j++;
    let end: number;
    if (line[j] === '>') end = j + 1;
    else {
      const m = LIST_MARKER.exec(line.slice(j, j + 11));
      if (!m || m[2] === '') return line;
      end = j + m[1]!.length;
    }
    if (depth === MAX_NEST) return `${line.slice(0, end - 1)}\\${line.slice(end - 1)}`;
    i = end;
    while (line[i] === ' ' || line[i] === '\t') i++;
  }
}

/** The HTML constructs are switched off: raw HTML is parsed as the text it is. */
const NO_HTML = { disable: { null: ['htmlFlow', 'htmlText'] } };
/** Built once: making the GFM extensions costs more than parsing a paragraph, and a streaming answer parses every frame. */
const PARSE_OPTIONS = { extensions: [gfm(), NO_HTML], mdastExtensions: [gfmFromMarkdown()] };

/** A top-level chunk: its source, the text the tree's positions refer to, and the tree (null: too long to format, shown as text). */
export interface Chunk {
  src: string;
  parsed: string;
  tree: Root | null;
}

/**
 * micromark reads `[text][label]` as a link only when `label` is defined in the same text, so the
 * labels defined anywhere in the answer are appended to each chunk that may use them (with a
 * placeholder target; the renderer resolves them over the whole answer), and cut from its tree.
 */
export function parseChunk(src: string, labels: string[]): Chunk {
  if (src.length > CHUNK_LIMIT) return { src, parsed: src, tree: null };
  const parsed = src.split('\n').map(capNesting).join('\n');
  const extra = src.includes('[') && labels.length ? `\n\n${labels.map((l) => `[${l}]: ${l.startsWith('^') ? 'x' : 'about:blank'}`).join('\n\n')}` : '';
  const tree = fromMarkdown(parsed + extra, PARSE_OPTIONS);
  if (extra) tree.children = tree.children.filter((n) => (n.position?.start.offset ?? 0) < parsed.length);
  return { src, parsed, tree };
}

const DEFINITION = /^ {0,3}\[((?:[^\]\\\n]|\\.){1,200})\]:/gm;

/** A chunk to parse: its source and the reference labels defined anywhere in the answer that it may use. */
export interface ChunkJob {
  src: string;
  labels: string[];
}

/** The text's chunks, in order, as what each needs to be parsed (cheap: a scan, no parse). */
export function chunkJobs(text: string): ChunkJob[] {
  const labels = [...new Set(Array.from(text.matchAll(DEFINITION), (m) => m[1]!))].slice(0, 100);
  const { chunks, inFence } = scanChunks(text);
  // Appended to an open fence, the labels would be code.
  return chunks.map((src, i) => ({ src, labels: inFence && i === chunks.length - 1 ? [] : labels }));
}

/** Parsed chunks by source and labels: a streaming answer's finished chunks are not parsed again. */
const cache = new Map<string, Chunk>();
const CACHE_SIZE = 500;
const keyOf = (job: ChunkJob) => `${job.labels.join('\u0000')}\u0001${job.src}`;

export function cachedChunk(job: ChunkJob): Chunk | undefined {
  return cache.get(keyOf(job));
}

/** Keeps a parsed chunk (one parsed elsewhere too, e.g. in the worker); the cached one wins, so its identity stays. */
export function storeChunk(job: ChunkJob, chunk: Chunk): Chunk {
  const key = keyOf(job);
  const had = cache.get(key);
  if (had) return had;
  if (cache.size >= CACHE_SIZE) cache.delete(cache.keys().next().value!);
  cache.set(key, chunk);
  return chunk;
}

export function parseMarkdownChunks(text: string): Chunk[] {
  return chunkJobs(text).map((job) => cachedChunk(job) ?? storeChunk(job, parseChunk(job.src, job.labels)));
}

/** All top-level nodes of the text (tests and callers that need no chunks). */
export function parseMarkdown(text: string): RootContent[] {
  return parseMarkdownChunks(text).flatMap((c) => c.tree?.children ?? [{ type: 'text', value: c.src } as RootContent]);
}

/** What `[label]` and `[^note]` refer to, over the whole text (the first definition of a label wins). */
export interface References {
  links: Map<string, Definition>;
  notes: Map<string, number>;
}

export function collectReferences(chunks: Chunk[]): References {
  const links = new Map<string, Definition>();
  const notes = new Map<string, number>();
  for (const c of chunks) {
    for (const node of c.tree?.children ?? []) {
      if (node.type === 'definition' && !links.has(node.identifier)) links.set(node.identifier, node);
      if (node.type === 'footnoteDefinition' && !notes.has(node.identifier)) notes.set(node.identifier, notes.size + 1);
    }
  }
  return { links, notes };
}

/** An answer ready to render: its chunks and what their references point to (refsKey changes when any of that does). */
export interface ParsedAnswer {
  chunks: Chunk[];
  refs: References;
  refsKey: string;
}

/** The answer parsed (its chunks from the cache where they are there); null when it is too long to format. */
export function parseAnswer(text: string): ParsedAnswer | null {
  if (text.length > MARKDOWN_LIMIT) return null;
  const chunks = parseMarkdownChunks(text);
  const refs = collectReferences(chunks);
  const refsKey = [...refs.links.values()].map((d) => `${d.identifier}\u0000${d.url}`).join('\u0001') + `\u0002${[...refs.notes.keys()].join('\u0001')}`;
  return { chunks, refs, refsKey };
}

export type { FootnoteDefinition };
