/**
 * Model output as React elements, from markdown.ts's AST: every string becomes a text node (React
 * escapes it), so no HTML or script from a model ever runs. Links open outside the page
 * (rel=noopener noreferrer). Each top-level block is memoised on its source text, so while an
 * answer streams only its last block re-renders.
 */
import { memo, useMemo, useState } from 'react';
import type { ReactNode } from 'react';
import { copyText } from '../../ui/clipboard';
import { parseMarkdownSourced } from './markdown';
import type { Block, Inline } from './markdown';

/** Longer text is shown as plain text: the page stays responsive whatever a model writes. */
export const MARKDOWN_LIMIT = 200_000;

function renderInline(nodes: Inline[]): ReactNode[] {
  return nodes.map((n, k) => {
    switch (n.t) {
      case 'text':
        return n.v;
      case 'code':
        return <code key={k}>{n.v}</code>;
      case 'strong':
        return <strong key={k}>{renderInline(n.c)}</strong>;
      case 'em':
        return <em key={k}>{renderInline(n.c)}</em>;
      case 'del':
        return <del key={k}>{renderInline(n.c)}</del>;
      case 'br':
        return <br key={k} />;
      case 'link':
        return (
          <a key={k} href={n.href} target="_blank" rel="noopener noreferrer">
            {renderInline(n.c)}
          </a>
        );
    }
  });
}

function CodeBlock({ lang, code }: { lang: string; code: string }) {
  const [copied, setCopied] = useState<'idle' | 'copied' | 'failed'>('idle');
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
        <code>{code}</code>
      </pre>
    </div>
  );
}

function renderBlocks(blocks: Block[]): ReactNode[] {
  return blocks.map((b, k) => <BlockView key={k} block={b} />);
}

function BlockView({ block: b }: { block: Block }): ReactNode {
  switch (b.t) {
    case 'p':
      return <p>{renderInline(b.c)}</p>;
    case 'h': {
      const H = `h${Math.min(6, b.level + 2)}` as 'h3'; // inside a message: below the page's own headings
      return <H className={`md-h md-h${b.level}`}>{renderInline(b.c)}</H>;
    }
    case 'code':
      return <CodeBlock lang={b.lang} code={b.v} />;
    case 'quote':
      return <blockquote>{renderBlocks(b.c)}</blockquote>;
    case 'hr':
      return <hr />;
    case 'list': {
      const items = b.items.map((item, k) => <li key={k}>{renderBlocks(item)}</li>);
      return b.ordered ? <ol start={b.start === 1 ? undefined : b.start}>{items}</ol> : <ul>{items}</ul>;
    }
    case 'table':
      return (
        <div className="md-table">
          <table>
            <thead>
              <tr>
                {b.head.map((c, k) => (
                  <th key={k} className={b.align[k] ? `md-align-${b.align[k]}` : undefined}>
                    {renderInline(c)}
                  </th>
                ))}
              </tr>
            </thead>
            <tbody>
              {b.rows.map((r, i) => (
                <tr key={i}>
                  {r.map((c, k) => (
                    <td key={k} className={b.align[k] ? `md-align-${b.align[k]}` : undefined}>
                      {renderInline(c)}
                    </td>
                  ))}
                </tr>
              ))}
            </tbody>
          </table>
        </div>
      );
  }
}

/** A top-level block, skipped when its source did not change (the streaming answer's earlier blocks). */
const TopBlock = memo(
  function TopBlock({ block }: { block: Block; src: string }) {
    return <BlockView block={block} />;
  },
  (a, b) => a.src === b.src,
);

export function Markdown({ text }: { text: string }) {
  const blocks = useMemo(() => (text.length > MARKDOWN_LIMIT ? null : parseMarkdownSourced(text)), [text]);
  if (!blocks) {
    return (
      <div className="md md-plain">
        <p className="muted">This answer is too long to format; it is shown as plain text.</p>
        {text}
      </div>
    );
  }
  return (
    <div className="md">
      {blocks.map((b, k) => (
        <TopBlock key={k} block={b.block} src={b.src} />
      ))}
    </div>
  );
}
