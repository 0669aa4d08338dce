import { describe, expect, it } from 'vitest';
import type { Conversation } from '../../../shared/chat';
import { exportConversation, fileStem } from './exportChat';
import { matcher, snippet } from './search';

const conv: Conversation = {
  id: 'abc',
  title: 'Plans: ../../etc/passwd? <b>',
  model: 'tiny',
  params: { system_prompt: 'Be brief.', temperature: null, top_p: null, max_tokens: null, seed: null },
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt: '2025-01-01T00:01:00.000Z',
  messageCount: 2,
  messages: [
    { id: 'm1', role: 'user', content: 'Hi **there**', at: '2025-01-01T00:00:10.000Z' },
    {
      id: 'm2',
      role: 'assistant',
      content: 'Hello',
      at: '2025-01-01T00:00:11.000Z',
      model: 'tiny',
      finish: 'error',
      error: 'tiny stopped',
      omitted: 3,
      stats: { tokens: 12, promptTokens: 30, ttftMs: 250, tokensPerSecond: 40.5, durationMs: 600 },
    },
  ],
};

describe('export', () => {
  it('Markdown: title, system prompt, each message with who wrote it, stats, notes', () => {
    const out = exportConversation(conv, 'markdown');
    expect(out.mime).toBe('text/markdown');
    expect(out.filename).toBe('Plans etc passwd b.md');
    expect(out.text).toContain('# Plans: ../../etc/passwd? <b>');
    expect(out.text).toContain('## System prompt\n\nBe brief.');
    expect(out.text).toContain('## You\n');
    expect(out.text).toContain('Hi **there**');
    expect(out.text).toContain('## Assistant (tiny)');
    expect(out.text).toContain('12 tokens, 40.5 tokens/s');
    expect(out.text).toContain('3 earlier message(s) were left out');
    expect(out.text).toContain('Error: tiny stopped');
  });

  it('JSON: the whole conversation, parseable back', () => {
    const out = exportConversation(conv, 'json');
    expect(out.mime).toBe('application/json');
    expect(out.filename.endsWith('.json')).toBe(true);
    expect(JSON.parse(out.text)).toEqual({ format: 'loadout-chat', version: 1, conversation: conv });
  });

  it('file names are never empty, hidden or paths', () => {
    expect(fileStem('...')).toBe('chat');
    expect(fileStem('/')).toBe('chat');
    expect(fileStem('.hidden')).toBe('hidden');
    expect(fileStem('Ünïcode 日本')).toBe('Ünïcode 日本');
    expect(fileStem('x'.repeat(200)).length).toBe(80);
  });

  it('rejects an unknown format', () => {
    expect(() => exportConversation(conv, 'pdf' as never)).toThrow(/Unknown export format/);
  });
});

describe('search snippets', () => {
  it('case-insensitive literal match, about 40 characters either side, one line', () => {
    const re = matcher('TCP (fast)')!;
    const text = `${'a'.repeat(100)} tcp (FAST)\n${'b'.repeat(100)}`;
    const s = snippet(text, re)!;
    expect(s.startsWith('…')).toBe(true);
    expect(s.endsWith('…')).toBe(true);
    expect(s).toContain('tcp (FAST) b');
    expect(s.length).toBeLessThanOrEqual(40 * 2 + 12);
    expect(snippet('nothing here', re)).toBeNull();
    expect(matcher('   ')).toBeNull();
  });
});
