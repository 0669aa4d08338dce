/**
 * Model output as React elements, from markdown.ts's mdast tree: every string becomes a text node
 * (React escapes it), so no HTML or script from a model ever runs. Links open outside the page
 * (rel=noopener noreferrer) and only for http(s)/mailto. Each top-level chunk is memoised on its
 * source text, and each block of a chunk too, so while an answer streams only its last block
 * re-renders; the streaming text is parsed by streamingParse.ts (in a worker where it can).
 */
import { createContext, memo, useContext, useEffect, useMemo, useReducer, useState } from 'react';
import type { ReactNode } from 'react';
import type { ElementContent as HastContent } from 'hast';
import type { Nodes, RootContent } from 'mdast';
import { copyText } from '../../ui/clipboard';
import { highlightCode } from './highlight';
import { MARKDOWN_LIMIT, parseAnswer, safeHref } from './markdown';
import type { ParsedAnswer, Chunk as ParsedChunk, References } from './markdown';
import { workerParser } from './markdownWorker';
import { StreamingParse, pageTimers } from './streamingParse';
import type { ParsedPrefix } from './streamingParse';

export { MARKDOWN_LIMIT };
/** Deeper elements render as their plain text (the tree's own depth is bounded by markdown.ts). */
const MAX_RENDER_DEPTH = 24;

/** The text of a node and everything in it, without recursion (any depth). */
function plainText(node: Nodes): string {
  let out = '';
  const stack: Nodes[] = [node];
  while (stack.length) {
    const n = stack.pop()!;
    if ('value' in n) out += n.value;
    else if ('children' in n) for (let i = n.children.length - 1; i >= 0; i--) stack.push(n.children[i]!);
  }
  return out;
}

/** Soft line breaks show as breaks: models write addresses, verses and lists line by line. */
function textWithBreaks(value: string): ReactNode {
  if (!value.includes('\n')) return value;
  return value.split('\n').flatMap((part, k) => (k === 0 ? [part] : [<br key={k} />, part]));
}

function HastCode({ nodes }: { nodes: HastContent[] }): ReactNode {
  return nodes.map((n, k) => {
    if (n.type === 'text') return n.value;
    if (n.type !== 'element') return null;
    const cls = n.properties.className;
    return (
      <span key={k} className={Array.isArray(cls) ? cls.join(' ') : undefined}>
        <HastCode nodes={n.children} />
      </span>
    );
  });
}

function CodeBlock({ lang, code, closed }: { lang: string; code: string; closed: boolean }) {
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
  // A block still streaming is not highlighted: it would be redone on every token.
  const highlighted = useMemo(() => (closed ? highlightCode(lang, code) : null), [closed, lang, code]);
  const copy = () => {
    copyText(code).then(
      () => setCopied('copied'),
      () => setCopied('failed'),
    );
    setTimeout(() => setCopied('idle'), 1500);
  };
  return (
    <div className="md-code">
      <div className="md-code-head">
        <span className="md-lang">{lang || 'text'}</span>
        <button type="button" className="md-copy" onClick={copy} aria-label={`Copy ${lang || 'code'} block`}>
          {copied === 'copied' ? 'Copied' : copied === 'failed' ? 'Copy failed' : 'Copy'}
        </button>
      </div>
      <pre>
        <code className={highlighted ? 'hljs' : undefined}>{highlighted ? <HastCode nodes={highlighted.children as HastContent[]} /> : code}</code>
      </pre>
    </div>
  );
}

const FENCE_CLOSE = /\n {0,3}(`{3,}|~{3,})[ \t]*$/;

interface Ctx {
  refs: References;
  /** The chunk's source: tells a finished fenced block from one still streaming. */
  src: string;
}

function Children({ nodes, ctx, depth }: { nodes: RootContent[]; ctx: Ctx; depth: number }): ReactNode {
  return nodes.map((n, k) => <Node key={k} node={n} ctx={ctx} depth={depth} />);
}

function Link({ href, children }: { href: string | null; children: ReactNode }) {
  if (!href) return <>{children}</>;
  return (
    <a href={href} target="_blank" rel="noopener noreferrer">
      {children}
    </a>
  );
}

function Node({ node: n, ctx, depth }: { node: RootContent; ctx: Ctx; depth: number }): ReactNode {
  if ((n.type as string) === STREAM_TAIL) return <StreamTail />;
  if (depth > MAX_RENDER_DEPTH) return plainText(n);
  const kids = 'children' in n ? <Children nodes={n.children as RootContent[]} ctx={ctx} depth={depth + 1} /> : null;
  switch (n.type) {
    case 'text':
      return textWithBreaks(n.value);
    case 'html': // switched off in the parser; kept as text should it ever appear
      return n.value;
    case 'paragraph':
      return <p>{kids}</p>;
    case 'heading': {
      const H = `h${Math.min(6, n.depth + 2)}` as 'h3'; // inside a message: below the page's own headings
      return <H className={`md-h md-h${n.depth}`}>{kids}</H>;
    }
    case 'thematicBreak':
      return <hr />;
    case 'blockquote':
      return <blockquote>{kids}</blockquote>;
    case 'list': {
      // A tight list's paragraphs are not separate paragraphs.
      const loose = n.spread || n.children.some((i) => i.spread);
      const items = n.children.map((item, k) => {
        const body = loose ? <Children nodes={item.children} ctx={ctx} depth={depth + 2} /> : item.children.map((c, j) => (c.type === 'paragraph' ? <Children key={j} nodes={c.children} ctx={ctx} depth={depth + 2} /> : <Node key={j} node={c} ctx={ctx} depth={depth + 2} />));
        if (item.checked == null) return <li key={k}>{body}</li>;
        return (
          <li key={k} className="md-task">
            <input type="checkbox" checked={item.checked} disabled aria-label={item.checked ? 'done' : 'not done'} /> {body}
          </li>
        );
      });
      if (n.ordered) return <ol start={n.start == null || n.start === 1 ? undefined : n.start}>{items}</ol>;
      return <ul className={n.children.some((i) => i.checked != null) ? 'md-tasks' : undefined}>{items}</ul>;
    }
    case 'code': {
      const src = ctx.src.slice(n.position?.start.offset ?? 0, n.position?.end.offset ?? ctx.src.length);
      const fenced = /^ {0,3}(`{3,}|~{3,})/.exec(src);
      const closed = !fenced || (FENCE_CLOSE.exec(src)?.[1]?.[0] === fenced[1]![0] && FENCE_CLOSE.exec(src)![1]!.length >= fenced[1]!.length);
      if (n.data && STREAM_TAIL in n.data) return <StreamingCodeBlock lang={n.lang ?? ''} code={n.value} />;
      return <CodeBlock lang={n.lang ?? ''} code={n.value} closed={closed} />;
    }
    case 'inlineCode':
      return <code>{n.value}</code>;
    case 'strong':
      return <strong>{kids}</strong>;
    case 'emphasis':
      return <em>{kids}</em>;
    case 'delete':
      return <del>{kids}</del>;
    case 'break':
      return <br />;
    case 'link':
      return <Link href={safeHref(n.url)}>{kids}</Link>;
    case 'image': // never loaded (a model could use it to call out); shown as a link to it
      return <Link href={safeHref(n.url)}>{n.alt || n.url}</Link>;
    case 'linkReference':
    case 'imageReference': {
      const def = ctx.refs.links.get(n.identifier);
      const label = n.type === 'linkReference' ? kids : n.alt;
      // Not defined: the source text it came from, as CommonMark shows it.
      if (!def) return n.type === 'linkReference' ? <>[{kids}]{n.referenceType === 'full' ? `[${n.label ?? ''}]` : n.referenceType === 'collapsed' ? '[]' : ''}</> : `![${n.alt ?? ''}]`;
      return <Link href={safeHref(def.url)}>{label}</Link>;
    }
    case 'definition':
      return null;
    case 'footnoteReference':
      return <sup className="md-note-ref">[{ctx.refs.notes.get(n.identifier) ?? n.label}]</sup>;
    case 'footnoteDefinition':
      return (
        <div className="md-note">
          <sup>{ctx.refs.notes.get(n.identifier) ?? n.label}</sup> {kids}
        </div>
      );
    case 'table': {
      const align = n.align ?? [];
      const cell = (row: (typeof n.children)[number], r: number, Tag: 'th' | 'td') => (
        <tr key={r}>
          {row.children.map((c, k) => (
            <Tag key={k} className={align[k] ? `md-align-${align[k]}` : undefined}>
              <Children nodes={c.children} ctx={ctx} depth={depth + 2} />
            </Tag>
          ))}
        </tr>
      );
      const [head, ...rows] = n.children;
      return (
        <div className="md-table">
          <table>
            {head && <thead>{cell(head, 0, 'th')}</thead>}
            <tbody>{rows.map((r, i) => cell(r, i, 'td'))}</tbody>
          </table>
        </div>
      );
    }
    default:
      return plainText(n);
  }
}

/**
 * A top-level block of a chunk, skipped when its source did not change: while an answer streams
 * and its last chunk is parsed again, the blocks before its last one keep their DOM.
 */
const Block = memo(
  function Block({ node, ctx }: { node: RootContent; ctx: Ctx; src: string; refsKey: string; tailed: boolean }) {
    return <Node node={node} ctx={ctx} depth={0} />;
  },
  (a, b) => a.refsKey === b.refsKey && a.tailed === b.tailed && (a.node === b.node || (!a.tailed && a.src === b.src)),
);

/** A top-level chunk, skipped when its source and the references did not change (a streaming answer's earlier chunks). */
const Chunk = memo(
  function Chunk({ chunk, refs, refsKey, tailed }: { chunk: ParsedChunk; refs: References; refsKey: string; tailed: boolean }) {
    if (!chunk.tree) return <p className="md-plain">{chunk.src}</p>;
    const ctx = { refs, src: chunk.parsed };
    const nodes = chunk.tree.children;
    return nodes.map((n, k) => <Block key={k} node={n} ctx={ctx} src={chunk.parsed.slice(n.position?.start.offset ?? 0, n.position?.end.offset ?? 0)} refsKey={refsKey} tailed={tailed && k === nodes.length - 1} />);
  },
  (a, b) => a.chunk === b.chunk && a.refsKey === b.refsKey && a.tailed === b.tailed,
);

const StreamTailText = createContext('');
const STREAM_TAIL = 'loadoutStreamTail';

function StreamTail() {
  return useContext(StreamTailText);
}

/** A code block still being written: the text that arrived since the last parse goes on its end. */
function StreamingCodeBlock({ lang, code }: { lang: string; code: string }) {
  return <CodeBlock lang={lang} code={code + useContext(StreamTailText)} closed={false} />;
}

/** The chunk with a place for the streaming tail at the end of its deepest last block (a paragraph, heading or code), else in a paragraph of its own. */
export function withTail(chunk: ParsedChunk): ParsedChunk {
  const marker = { type: STREAM_TAIL } as unknown as RootContent;
  if (!chunk.tree) return chunk;
  const append = (nodes: RootContent[]): RootContent[] => {
    const last = nodes.at(-1);
    const rest = nodes.slice(0, -1);
    if (last?.type === 'paragraph' || last?.type === 'heading') return [...rest, { ...last, children: [...last.children, marker] } as RootContent];
    if (last?.type === 'code') return [...rest, { ...last, data: { ...last.data, [STREAM_TAIL]: true } } as RootContent];
    if ((last?.type === 'list' || last?.type === 'listItem' || last?.type === 'blockquote') && last.children.length > 0) {
      return [...rest, { ...last, children: append(last.children as RootContent[]) } as RootContent];
    }
    return [...nodes, { type: 'paragraph', children: [marker] } as RootContent];
  };
  return { ...chunk, tree: { ...chunk.tree, children: append(chunk.tree.children) as typeof chunk.tree.children } };
}

function TooLong({ text }: { text: string }) {
  return (
    <div className="md md-plain">
      <p className="muted">This answer is too long to format; it is shown as plain text.</p>
      {text}
    </div>
  );
}

function Answer({ answer, tailed }: { answer: ParsedAnswer; tailed: boolean }) {
  const { chunks, refs, refsKey } = answer;
  return (
    <div className="md">
      {chunks.map((c, k) => (
        <Chunk key={k} chunk={c} refs={refs} refsKey={refsKey} tailed={tailed && k === chunks.length - 1} />
      ))}
      {/* a chunk too long to format has no place for the tail */}
      {tailed && chunks.at(-1)?.tree === null ? (
        <p className="md-plain">
          <StreamTail />
        </p>
      ) : null}
    </div>
  );
}

function FinishedMarkdown({ text }: { text: string }) {
  const answer = useMemo(() => parseAnswer(text), [text]);
  return answer ? <Answer answer={answer} tailed={false} /> : <TooLong text={text} />;
}

/** The answer parsed by streamingParse.ts, up to where it has got: re-rendered when a parse comes in. */
function useStreamingParse(text: string): ParsedPrefix | null {
  const [, changed] = useReducer((n: number) => n + 1, 0);
  const [parse] = useState(() => new StreamingParse(pageTimers, workerParser(), changed));
  useEffect(() => parse.update(text), [parse, text]);
  useEffect(() => () => parse.stop(), [parse]);
  return parse.shown;
}

const NOTHING_PARSED: ParsedPrefix = { text: '', answer: { chunks: [{ src: '', parsed: '', tree: { type: 'root', children: [] } }], refs: { links: new Map(), notes: new Map() }, refsKey: '' } };

/** An answer being written: what was parsed, and the text that arrived since at the end of its last block. */
function StreamingMarkdown({ text }: { text: string }) {
  const parsed = useStreamingParse(text);
  // A new answer in the same place (regenerate) starts with nothing parsed.
  const shown = parsed && text.startsWith(parsed.text) ? parsed : NOTHING_PARSED;
  const answer = useMemo(() => (shown.answer && shown.answer.chunks.length > 0 ? { ...shown.answer, chunks: [...shown.answer.chunks.slice(0, -1), withTail(shown.answer.chunks.at(-1)!)] } : shown.answer), [shown.answer]);
  if (!answer) return <TooLong text={text} />;
  return (
    <StreamTailText.Provider value={text.slice(shown.text.length)}>
      <Answer answer={answer} tailed />
    </StreamTailText.Provider>
  );
}

/** A finished answer is parsed as it renders; one streaming is parsed as streamingParse.ts says. */
export function Markdown({ text, streaming = false }: { text: string; streaming?: boolean }) {
  return streaming ? <StreamingMarkdown text={text} /> : <FinishedMarkdown text={text} />;
}
