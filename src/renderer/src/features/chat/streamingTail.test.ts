import { describe, expect, it } from 'vitest';
import { withTail } from './Markdown';
import { parseMarkdownChunks } from './markdown';

const lastChunk = (text: string) => parseMarkdownChunks(text).at(-1)!;
const TAIL = '{"type":"loadoutStreamTail"}';

describe('the place where text that arrived since the last parse shows while an answer streams', () => {
  it('is the end of the last paragraph, heading, list item or code block, so new words appear where they belong', () => {
    const para = withTail(lastChunk('Some **bold** text'));
    expect(para.tree!.children).toHaveLength(1);
    expect(JSON.stringify(para.tree!.children[0]).endsWith(`${TAIL}],"position":${JSON.stringify(para.tree!.children[0]!.position)}}`)).toBe(true);

    const list = withTail(lastChunk('- one\n- two'));
    expect(list.tree!.children).toHaveLength(1);
    expect(JSON.stringify(list.tree!.children[0])).toContain(TAIL);

    const code = withTail(lastChunk('```js\nconst a = 1'));
    expect(code.tree!.children[0]).toMatchObject({ type: 'code', value: 'const a = 1', data: { loadoutStreamTail: true } });
  });

  it('is a paragraph of its own after a block that takes no text; the cached chunk is never changed', () => {
    const source = lastChunk('---');
    const before = JSON.stringify(source);
    const after = withTail(source);
    expect(after.tree!.children.at(-1)).toMatchObject({ type: 'paragraph', children: [{ type: 'loadoutStreamTail' }] });
    expect(JSON.stringify(source)).toBe(before);
  });
});
