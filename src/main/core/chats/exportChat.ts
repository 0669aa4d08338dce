/** A conversation as a file the user saves (pure): Markdown to read, JSON to keep or process. */
import type { ChatExportFormat, ChatMessage, Conversation } from '../../../shared/chat';
import { LoadoutError } from '../../../shared/errors';

export interface ExportedChat {
  filename: string;
  mime: string;
  text: string;
}

export function exportConversation(conv: Conversation, format: ChatExportFormat): ExportedChat {
  const base = fileStem(conv.title);
  if (format === 'json') {
    return { filename: `${base}.json`, mime: 'application/json', text: `${JSON.stringify({ format: 'loadout-chat', version: 1, conversation: conv }, null, 2)}\n` };
  }
  if (format === 'markdown') return { filename: `${base}.md`, mime: 'text/markdown', text: toMarkdown(conv) };
  throw new LoadoutError('invalid', `Unknown export format ${JSON.stringify(format)}; use "markdown" or "json".`);
}

/** A file name from a title: letters, digits, spaces, dots, dashes and underscores only; never empty, never hidden. */
export function fileStem(title: string): string {
  const cleaned = title
    .normalize('NFC')
    .replace(/[^\p{L}\p{N} ._-]+/gu, ' ')
    .replace(/\.{2,}/g, ' ')
    .replace(/\s+/g, ' ')
    .trim()
    .replace(/^[.\s]+|[.\s]+$/g, '');
  const short = [...cleaned].slice(0, 80).join('').trim();
  return short === '' ? 'chat' : short;
}

function toMarkdown(conv: Conversation): string {
  const out: string[] = [`# ${conv.title.replace(/\n/g, ' ')}`, ''];
  const facts = [`Model: ${conv.model ?? 'none chosen'}`, `Started: ${conv.createdAt}`, `${conv.messages.length} message(s)`];
  out.push(facts.join(' · '), '');
  if (conv.params.system_prompt.trim() !== '') out.push('## System prompt', '', conv.params.system_prompt, '');
  for (const m of conv.messages) out.push(...messageMarkdown(m), '');
  return `${out.join('\n').trimEnd()}\n`;
}

function messageMarkdown(m: ChatMessage): string[] {
  const who = m.role === 'user' ? 'You' : `Assistant${m.model ? ` (${m.model})` : ''}`;
  const lines = [`## ${who}`, '', `_${m.at}${statsLine(m)}_`, '', m.content === '' ? '_(no text)_' : m.content];
  if (m.omitted) lines.push('', `_${m.omitted} earlier message(s) were left out to fit the model's context._`);
  if (m.finish === 'stopped') lines.push('', '_Stopped before the end._');
  if (m.finish === 'length') lines.push('', '_Cut off at the token limit._');
  if (m.error) lines.push('', `_Error: ${m.error}_`);
  return lines;
}

function statsLine(m: ChatMessage): string {
  const s = m.stats;
  if (!s || m.role !== 'assistant') return '';
  const parts = [`${s.tokens} tokens`];
  if (s.tokensPerSecond !== null) parts.push(`${s.tokensPerSecond.toFixed(1)} tokens/s`);
  if (s.ttftMs !== null) parts.push(`first token after ${(s.ttftMs / 1000).toFixed(2)} s`);
  return ` · ${parts.join(', ')}`;
}
