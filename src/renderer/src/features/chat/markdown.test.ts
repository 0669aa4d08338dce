/** The chat's Markdown: what model answers use renders as expected; nothing hostile runs or hangs. */
import { createElement } from 'react';
import { renderToStaticMarkup } from 'react-dom/server';
import { describe, expect, it } from 'vitest';
import { Markdown, MARKDOWN_LIMIT } from './Markdown';
import { CHUNK_LIMIT, MAX_NEST, parseMarkdown, safeHref, splitChunks } from './markdown';

const ALLOWED_TAGS = ['div', 'p', 'br', 'code', 'pre', 'strong', 'em', 'del', 'a', 'ul', 'ol', 'li', 'blockquote', 'hr', 'table', 'thead', 'tbody', 'tr', 'th', 'td', 'h3', 'h4', 'h5', 'h6', 'span', 'button'];
const html = (text: string) => renderToStaticMarkup(createElement(Markdown, { text }));

const body = (text: string) => html(text).replace(/^<div class="md">|<\/div>$/g, '');

describe('Markdown (CommonMark + GFM)', () => {
  it('paragraphs, ATX and setext headings, rules; single newlines are line breaks', () => {
    expect(body('# Title ##\n\nfirst line\nsecond line\n\n---\n###### six')).toBe(
      '<h3 class="md-h md-h1">Title</h3><p>first line<br/>second line</p><hr/><h6 class="md-h md-h6">six</h6>',
    );
    expect(body('#hashtag')).toBe('<p>#hashtag</p>');
    expect(body('Big\n===\n\nSmall\n---')).toBe('<h3 class="md-h md-h1">Big</h3><h4 class="md-h md-h2">Small</h4>');
  });

  it('fenced code keeps its text verbatim with its language; indented code; an unclosed fence (still streaming) runs to the end', () => {
    const fenced = body('```python\nx = 1 < 2 and "**no**"\n\n  indented\n```\nafter');
    expect(fenced).toContain('<span class="md-lang">python</span>');
    expect(fenced).toContain('<code class="hljs">x = <span class="hljs-number">1</span> &lt; <span class="hljs-number">2</span> <span class="hljs-keyword">and</span> <span class="hljs-string">&quot;**no**&quot;</span>\n\n  indented</code>');
    expect(fenced).toContain('<p>after</p>');
    expect(body('para\n\n    code *here*\n    more')).toContain('<pre><code>code *here*\nmore</code></pre>');
    // Still streaming: no closing fence yet, so it is not highlighted (it would be redone every token).
    const open = body('~~~js\nlet x\n```\ny');
    expect(open).toContain('<pre><code>let x\n```\ny</code></pre>');
    expect(body('~~~js\nlet x\n~~~')).toContain('<code class="hljs"><span class="hljs-keyword">let</span> x</code>');
    // A language that is not registered shows plain.
    expect(body('```brainfuck\n+[-]\n```')).toContain('<pre><code>+[-]</code></pre>');
  });

  it('lists: bullets, ordered with a start, nested, loose items stay one list; task lists', () => {
    expect(body('- a\n- b\n  - b1\n- c')).toBe('<ul><li>a</li><li>b<ul><li>b1</li></ul></li><li>c</li></ul>');
    expect(body('3. three\n\n4. four')).toBe('<ol start="3"><li><p>three</p></li><li><p>four</p></li></ol>');
    expect(body('- a\n\n- b\n\nafter')).toBe('<ul><li><p>a</p></li><li><p>b</p></li></ul><p>after</p>');
    expect(body('- a\n* b')).toBe('<ul><li>a</li></ul><ul><li>b</li></ul>');
    expect(body('In\n1996. it began')).toBe('<p>In<br/>1996. it began</p>');
    expect(body('- [x] done\n- [ ] todo')).toBe(
      '<ul class="md-tasks"><li class="md-task"><input type="checkbox" disabled="" aria-label="done" checked=""/> done</li><li class="md-task"><input type="checkbox" disabled="" aria-label="not done"/> todo</li></ul>',
    );
  });

  it('blockquotes nest; tables have a head, rows and alignment; strikethrough', () => {
    expect(body('> quoted\n> > deeper')).toBe('<blockquote><p>quoted</p><blockquote><p>deeper</p></blockquote></blockquote>');
    expect(body('| Name | Size |\n|:-----|-----:|\n| a | `1` |\n| b \\| c |')).toBe(
      '<div class="md-table"><table><thead><tr><th class="md-align-left">Name</th><th class="md-align-right">Size</th></tr></thead>' +
        '<tbody><tr><td class="md-align-left">a</td><td class="md-align-right"><code>1</code></td></tr><tr><td class="md-align-left">b | c</td></tr></tbody></table></div>',
    );
    expect(body('~~gone~~ and ~one~')).toBe('<p><del>gone</del> and <del>one</del></p>');
  });

  it('emphasis by the CommonMark rules: ***a** b*, nesting, intraword underscores, escapes, entities', () => {
    expect(body('***a** b*')).toBe('<p><em><strong>a</strong> b</em></p>');
    expect(body('a `x*y*` **b *c*** _d_ \\*f\\*')).toBe('<p>a <code>x*y*</code> <strong>b <em>c</em></strong> <em>d</em> *f*</p>');
    expect(body('``a ` b``')).toBe('<p><code>a ` b</code></p>');
    expect(body('2 * 3 * 4, snake_case_name, **never closed, `unclosed')).toBe('<p>2 * 3 * 4, snake_case_name, **never closed, `unclosed</p>');
    expect(body('Tom &amp; Jerry &copy; &#169; &lt;b&gt;')).toBe('<p>Tom &amp; Jerry © © &lt;b&gt;</p>');
  });

  it('links: inline with parentheses, reference links (defined anywhere), autolinks, images as links', () => {
    const a = (href: string, label: string) => `<a href="${href}" target="_blank" rel="noopener noreferrer">${label}</a>`;
    expect(body('[Foo](https://en.wikipedia.org/wiki/Foo_(bar)) and [the *docs*](https://example.com/a_b "title")')).toBe(
      `<p>${a('https://en.wikipedia.org/wiki/Foo_(bar)', 'Foo')} and ${a('https://example.com/a_b', 'the <em>docs</em>')}</p>`,
    );
    expect(body('see https://en.wikipedia.org/wiki/Foo_(bar). Done, or www.example.com')).toBe(
      `<p>see ${a('https://en.wikipedia.org/wiki/Foo_(bar)', 'https://en.wikipedia.org/wiki/Foo_(bar)')}. Done, or ${a('http://www.example.com/', 'www.example.com')}</p>`,
    );
    expect(body('<mailto:a@b.org>')).toBe(`<p>${a('mailto:a@b.org', 'mailto:a@b.org')}</p>`);
    // The definition comes after a blank line, in another chunk: still resolved.
    expect(body('Read [the spec][cm] and [cm].\n\n[cm]: https://spec.commonmark.org/ "CommonMark"')).toBe(
      `<p>Read ${a('https://spec.commonmark.org/', 'the spec')} and ${a('https://spec.commonmark.org/', 'cm')}.</p>`,
    );
    expect(body('[not defined] here')).toBe('<p>[not defined] here</p>');
    expect(body('![a cat](https://img.example/cat.png)')).toBe(`<p>${a('https://img.example/cat.png', 'a cat')}</p>`);
  });

  it('the text is cut into chunks at blank lines that no block continues over; fences keep their blank lines', () => {
    expect(splitChunks('para one\ncontinues\n\n```js\nx\n\ny\n```\n- item\n\n- loose item\n\n    indented code\n\nend')).toEqual([
      'para one\ncontinues\n',
      '```js\nx\n\ny\n```\n- item\n\n- loose item\n\n    indented code\n',
      'end',
    ]);
    // Parsing the chunks apart gives what parsing the whole would.
    const text = 'intro\n\n> quote\n\n| a |\n|---|\n| 1 |\n\n1. x\n\n2. y\n\ntail';
    const whole = renderToStaticMarkup(createElement(Markdown, { text: text.replace(/\n\n(?=[^\n])/g, '\n\n') }));
    expect(parseMarkdown(text).map((n) => n.type)).toEqual(['paragraph', 'blockquote', 'table', 'list', 'paragraph']);
    expect(whole).toContain('<ol><li><p>x</p></li><li><p>y</p></li></ol>');
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

  it('huge and pathological input renders in bounded time, nesting included, without overflowing the stack', () => {
    const fill = (unit: string, size: number) => unit.repeat(Math.floor(size / unit.length));
    const patterns = [
      '[',
      '[a]',
      '[a](b)',
      '*',
      '*a ',
      '_a ',
      '**a',
      '~~a',
      '``a',
      '<',
      '<a',
      '> ',
      '- ',
      '1. ',
      '>- ',
      'https://',
      'www.a.co ',
      'a@b.co ',
      '# ',
      '| a ',
      '![x](y) ',
      '[^1]',
      'word **bold** `code` [link](https://x.org) _em_\n',
    ];
    const nestedByIndent = Array.from({ length: 95 }, (_, i) => `${' '.repeat(i * 2)}- x`).join('\n');
    const quotesPerLine = Array.from({ length: 900 }, (_, i) => '>'.repeat(i % 200)).join('\n');
    // One chunk as big as is parsed, and a whole answer of such chunks separated by blank lines.
    const cases = [
      ...patterns.map((p) => fill(p, CHUNK_LIMIT)),
      ...patterns.map((p) => fill(`${fill(p, 3000)}\n\n`, MARKDOWN_LIMIT)),
      nestedByIndent,
      quotesPerLine,
      `${fill('[r]: https://x.org\n\n', 20_000)}${fill('[r] ', 20_000)}`,
    ];
    // micromark is not linear on every input (10,000 chars of `**a` cost ~30x plain prose; unbounded
    // nesting overflowed the stack): the chunk limit and nesting cap keep each case to a few hundred
    // ms on an idle machine; the bound is loose for a loaded one and still catches a hang.
    for (const md of cases) {
      const t0 = performance.now();
      html(md);
      const ms = performance.now() - t0;
      expect(ms, `${JSON.stringify(md.slice(0, 20))}... (${md.length} chars)`).toBeLessThan(5000);
    }
    // Containers past MAX_NEST on a line are text; the ones before still nest.
    const deep = html(`${'> '.repeat(MAX_NEST + 5)}x`);
    expect(deep.match(/<blockquote>/g)).toHaveLength(MAX_NEST);
    expect(deep).toContain(`${'&gt; '.repeat(4)}&gt; x`);
  });

  it('text over the limit is shown plain, escaped', () => {
    const out = html(`<script>x</script>${'a'.repeat(MARKDOWN_LIMIT)}`);
    expect(out).toContain('md-plain');
    expect(out).toContain('&lt;script&gt;');
    expect(out).not.toContain('<script>');
  });
});
