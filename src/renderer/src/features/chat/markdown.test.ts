/** The chat's Markdown: what model answers use renders as expected; nothing hostile runs or hangs. */
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Markdown, MARKDOWN_LIMIT } from './Markdown';
import { inlineText, parseInline, parseMarkdown, parseMarkdownSourced, safeHref } from './markdown';

const ALLOWED_TAGS = ['div', 'p', 'br', 'code', 'pre', 'strong', 'em', 'del', 'a', 'ul', 'ol', 'li', 'blockquote', 'hr', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'h3', 'h4', 'h5', 'h6', 'span', 'button'];
const html = (text: string) => renderToStaticMarkup(createElement(Markdown, { text }));

describe('Markdown blocks', () => {
  it('paragraphs, headings, rules; single newlines are line breaks', () => {
    expect(parseMarkdown('# Title ##\n\nfirst line\nsecond line\n\n---\n###### six')).toEqual([
      { t: 'h', level: 1, c: [{ t: 'text', v: 'Title' }] },
      { t: 'p', c: [{ t: 'text', v: 'first line' }, { t: 'br' }, { t: 'text', v: 'second line' }] },
      { t: 'hr' },
      { t: 'h', level: 6, c: [{ t: 'text', v: 'six' }] },
    ]);
    expect(parseMarkdown('#hashtag')).toEqual([{ t: 'p', c: [{ t: 'text', v: '#hashtag' }] }]);
  });

  it('fenced code keeps its text verbatim with its language; an unclosed fence (still streaming) runs to the end', () => {
    expect(parseMarkdown('```ts\nconst a = 1 < 2 && "**no**";\n\n  indented\n```\nafter')).toEqual([
      { t: 'code', lang: 'ts', v: 'const a = 1 < 2 && "**no**";\n\n  indented', open: false },
      { t: 'p', c: [{ t: 'text', v: 'after' }] },
    ]);
    expect(parseMarkdown('~~~\nx\n```\ny')).toEqual([{ t: 'code', lang: '', v: 'x\n```\ny', open: true }]);
  });

  it('lists: bullets, ordered with a start, nested, loose items stay one list', () => {
    expect(parseMarkdown('- a\n- b\n  - b1\n- c')).toEqual([
      {
        t: 'list',
        ordered: false,
        start: 1,
        items: [
          [{ t: 'p', c: [{ t: 'text', v: 'a' }] }],
          [{ t: 'p', c: [{ t: 'text', v: 'b' }] }, { t: 'list', ordered: false, start: 1, items: [[{ t: 'p', c: [{ t: 'text', v: 'b1' }] }]] }],
          [{ t: 'p', c: [{ t: 'text', v: 'c' }] }],
        ],
      },
    ]);
    const ordered = parseMarkdown('3. three\n\n4. four');
    expect(ordered).toHaveLength(1);
    expect(ordered[0]).toMatchObject({ t: 'list', ordered: true, start: 3 });
    expect((ordered[0] as { items: unknown[] }).items).toHaveLength(2);
    // A different marker starts another list; a number inside a sentence does not start one.
    expect(parseMarkdown('- a\n* b')).toHaveLength(2);
    expect(parseMarkdown('In\n1996. it began')).toEqual([{ t: 'p', c: [{ t: 'text', v: 'In' }, { t: 'br' }, { t: 'text', v: '1996. it began' }] }]);
  });

  it('blockquotes nest; tables have a head, rows and alignment', () => {
    expect(parseMarkdown('> quoted\n> > deeper')).toEqual([
      { t: 'quote', c: [{ t: 'p', c: [{ t: 'text', v: 'quoted' }] }, { t: 'quote', c: [{ t: 'p', c: [{ t: 'text', v: 'deeper' }] }] }] },
    ]);
    const [table] = parseMarkdown('| Name | Size |\n|:-----|-----:|\n| a | `1` |\n| b \\| c |');
    expect(table).toEqual({
      t: 'table',
      align: ['left', 'right'],
      head: [[{ t: 'text', v: 'Name' }], [{ t: 'text', v: 'Size' }]],
      rows: [
        [[{ t: 'text', v: 'a' }], [{ t: 'code', v: '1' }]],
        [[{ t: 'text', v: 'b | c' }], []],
      ],
    });
  });

  it('each top-level block carries its source, so unchanged blocks can be skipped while streaming', () => {
    const blocks = parseMarkdownSourced('para one\ncontinues\n\n```js\nx\n```\n- item');
    expect(blocks.map((b) => b.src)).toEqual(['para one\ncontinues', '```js\nx\n```', '- item']);
  });
});

describe('Markdown inline', () => {
  it('code, bold, italic, strikethrough, nesting and escapes', () => {
    expect(parseInline('a `x*y*` **b *c*** _d_ ~~e~~ \\*f\\*')).toEqual([
      { t: 'text', v: 'a ' },
      { t: 'code', v: 'x*y*' },
      { t: 'text', v: ' ' },
      { t: 'strong', c: [{ t: 'text', v: 'b ' }, { t: 'em', c: [{ t: 'text', v: 'c' }] }] },
      { t: 'text', v: ' ' },
      { t: 'em', c: [{ t: 'text', v: 'd' }] },
      { t: 'text', v: ' ' },
      { t: 'del', c: [{ t: 'text', v: 'e' }] },
      { t: 'text', v: ' *f*' },
    ]);
    expect(parseInline('``a ` b``')).toEqual([{ t: 'code', v: 'a ` b' }]);
  });

  it('stray delimiters stay text: 2 * 3 * 4, snake_case_names, unclosed **bold', () => {
    expect(inlineText(parseInline('2 * 3 * 4'))).toBe('2 * 3 * 4');
    expect(parseInline('snake_case_name')).toEqual([{ t: 'text', v: 'snake_case_name' }]);
    expect(parseInline('**never closed')).toEqual([{ t: 'text', v: '**never closed' }]);
    expect(parseInline('`unclosed')).toEqual([{ t: 'text', v: '`unclosed' }]);
  });

  it('links: [label](url), <url>, bare URLs without their trailing punctuation', () => {
    expect(parseInline('[the *docs*](https://example.com/a_b "title")')).toEqual([
      { t: 'link', href: 'https://example.com/a_b', c: [{ t: 'text', v: 'the ' }, { t: 'em', c: [{ t: 'text', v: 'docs' }] }] },
    ]);
    expect(parseInline('![a cat](https://img.example/cat.png)')).toEqual([{ t: 'link', href: 'https://img.example/cat.png', c: [{ t: 'text', v: 'a cat' }] }]);
    expect(parseInline('<mailto:a@b.org>')).toEqual([{ t: 'link', href: 'mailto:a@b.org', c: [{ t: 'text', v: 'mailto:a@b.org' }] }]);
    expect(parseInline('see https://en.wikipedia.org/wiki/Foo_(bar). Done')).toEqual([
      { t: 'text', v: 'see ' },
      { t: 'link', href: 'https://en.wikipedia.org/wiki/Foo_(bar)', c: [{ t: 'text', v: 'https://en.wikipedia.org/wiki/Foo_(bar)' }] },
      { t: 'text', v: '. Done' },
    ]);
  });
});

describe('hostile model output', () => {
  it('only absolute http, https and mailto URLs are links, however they are disguised', () => {
    for (const bad of [
      'javascript:alert(1)',
      'JaVaScRiPt:alert(1)',
      ' javascript:alert(1)',
      'java\tscript:alert(1)',
      'java\nscript:alert(1)',
      '\u0001javascript:alert(1)',
      'vbscript:msgbox(1)',
      'data:text/html,<script>alert(1)</script>',
      'file:///etc/passwd',
      '/relative/path',
      '//evil.example/x',
      'ftp://example.com',
      '',
    ]) {
      expect(safeHref(bad), bad).toBeNull();
    }
    expect(safeHref('https://example.com/x?q=<b>')).toBe('https://example.com/x?q=%3Cb%3E');
    expect(safeHref('HTTP://EXAMPLE.com')).toBe('http://example.com/');
  });

  it('unsafe links render their label as text with nothing to click', () => {
    for (const md of ['[click me](javascript:alert(1))', '[click me](JAVASCRIPT:alert`1`)', '<javascript:alert(1)>', '[click me](data:text/html;base64,PHNjcmlwdD4=)', '[click me](vbscript:x)']) {
      const out = html(md);
      expect(out, md).not.toMatch(/<a\b/);
      expect(out.toLowerCase(), md).not.toMatch(/href=/);
    }
    expect(html('[click me](javascript:alert(1))')).toContain('click me');
  });

  it('safe links open outside the page with rel=noopener noreferrer', () => {
    expect(html('[ok](https://example.com)')).toBe('<div class="md"><p><a href="https://example.com/" target="_blank" rel="noopener noreferrer">ok</a></p></div>');
  });

  it('HTML in the output is shown as text, never as elements', () => {
    const attacks = [
      '<script>alert(1)</script>',
      '<img src=x onerror=alert(1)>',
      '<iframe src="javascript:alert(1)"></iframe>',
      '<a href="javascript:alert(1)">x</a>',
      '**<svg onload=alert(1)>**',
      '[<img src=x onerror=alert(1)>](https://example.com)',
      '```html\n<script>alert(1)</script>\n```',
      '| <b onmouseover=alert(1)>x</b> |\n|---|\n| <style>*{}</style> |',
      '"><script>alert(1)</script>',
    ];
    for (const md of attacks) {
      const out = html(md);
      expect(out, md).toContain('&lt;');
      // Every real tag in the output is one the renderer makes, with only its own attributes.
      for (const [, name, attrs] of out.matchAll(/<\/?([a-z0-9]+)([^>]*)>/gi)) {
        expect(ALLOWED_TAGS, `${md}: <${name}>`).toContain(name);
        for (const [, attr, value] of attrs.matchAll(/\s([a-z-]+)="([^"]*)"/gi)) {
          expect(['class', 'href', 'target', 'rel', 'start', 'aria-label', 'type'], `${md}: ${attr}`).toContain(attr);
          if (attr === 'href') expect(value).toMatch(/^(https?|mailto):/);
        }
      }
    }
  });

  it('huge and pathological input parses in linear time', () => {
    const cases = [
      '['.repeat(200_000),
      '[a]'.repeat(60_000),
      '*'.repeat(200_000),
      '*a '.repeat(60_000),
      '_a '.repeat(60_000),
      '`'.repeat(1_000) + 'x'.repeat(1_000) + '``a'.repeat(50_000),
      '<'.repeat(200_000),
      '<a'.repeat(100_000),
      '> '.repeat(50_000) + 'x',
      '- '.repeat(50_000) + 'x',
      'https://'.repeat(20_000),
      '# '.repeat(50_000) + '#'.repeat(50_000),
      '| a '.repeat(20_000) + '\n' + '|---'.repeat(20_000) + '\n' + '| b '.repeat(20_000),
      'word **bold** `code` [link](https://x.org) _em_\n'.repeat(4_000),
      '![x](y) '.repeat(25_000),
      '**a'.repeat(60_000),
    ];
    for (const md of cases) {
      const t0 = performance.now();
      parseMarkdown(md);
      const ms = performance.now() - t0;
      expect(ms, `${md.slice(0, 20)}... (${md.length} chars)`).toBeLessThan(1000);
    }
  });

  it('text over the limit is shown plain, escaped', () => {
    const out = html(`<script>x</script>${'a'.repeat(MARKDOWN_LIMIT)}`);
    expect(out).toContain('md-plain');
    expect(out).toContain('&lt;script&gt;');
    expect(out).not.toContain('<script>');
  });
});
