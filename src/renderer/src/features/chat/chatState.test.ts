/** The chat's fold of core events: every window that folds the same events shows the same conversations and answer. */
import { describe, expect, it, vi } from 'vitest';
import { DEFAULT_CHAT_PARAMS } from '../../../../shared/chat';
import type { ChatMessage, ConversationSummary, Generation } from '../../../../shared/chat';
import { applyChatEvent, applyConversation, applyConversationList, applyDeltas, applyGenerations, emptyChatData, emptyConversation, isChatEvent } from './chatState';
import type { ChatData } from './chatState';
import { moveFocus } from './listKeys';
import { parseDraft, toDraft, unsavedParams } from './paramsDraft';

const summary = (id: string, updatedAt: string, o: Partial<ConversationSummary> = {}): ConversationSummary => ({
  id,
  title: `chat ${id}`,
  model: 'tiny',
  params: DEFAULT_CHAT_PARAMS,
  createdAt: '2025-01-01T00:00:00.000Z',
  updatedAt,
  messageCount: 0,
  ...o,
});
const msg = (id: string, role: ChatMessage['role'] = 'user', content = id): ChatMessage => ({ id, role, content, at: '2025-01-01T00:00:00.000Z' });
const gen = (conversationId: string, messageId: string, o: Partial<Generation> = {}): Generation => ({
  conversationId,
  messageId,
  model: 'tiny',
  phase: 'generating',
  text: '',
  startedAt: '2025-01-01T00:00:00.000Z',
  omitted: 0,
  ...o,
});

function opened(): ChatData {
  let s = applyConversationList(emptyChatData, [summary('a', '2025-01-02T00:00:00.000Z'), summary('b', '2025-01-03T00:00:00.000Z')]);
  s = applyConversation(s, { ...summary('a', '2025-01-02T00:00:00.000Z'), messages: [msg('u1')] });
  return s;
}

describe('chat state', () => {
  it('the list is ordered most recent first; an update moves a conversation to the top; removal drops it everywhere', () => {
    let s = opened();
    expect(s.listReady).toBe(true);
    expect(s.order).toEqual(['b', 'a']);
    s = applyChatEvent(s, { type: 'conversation', conversation: summary('a', '2025-01-04T00:00:00.000Z', { title: 'renamed' }) });
    expect(s.order).toEqual(['a', 'b']);
    expect(s.summaries.a.title).toBe('renamed');
    const before = s.order;
    s = applyChatEvent(s, { type: 'conversation', conversation: summary('b', '2025-01-03T00:00:00.000Z', { title: 'same place' }) });
    expect(s.order).toBe(before); // unchanged order keeps its identity: the list does not re-render
    s = applyChatEvent(s, { type: 'conversation-removed', id: 'a' });
    expect(s.order).toEqual(['b']);
    expect(s.messages.a).toBeUndefined();
  });

  it('an answer: generation, deltas, end, then its message replaces it without a gap', () => {
    let s = opened();
    s = applyChatEvent(s, { type: 'chat-message', conversationId: 'a', message: msg('u2') });
    s = applyChatEvent(s, { type: 'generation', conversationId: 'a', generation: gen('a', 'r1', { phase: 'loading' }) });
    expect(s.generations.a.phase).toBe('loading');
    s = applyDeltas(s, new Map([['a', { messageId: 'r1', text: 'Hel' }]]));
    s = applyChatEvent(s, { type: 'chat-delta', conversationId: 'a', messageId: 'r1', text: 'lo' });
    expect(s.generations.a).toMatchObject({ phase: 'generating', text: 'Hello' });
    s = applyChatEvent(s, { type: 'generation', conversationId: 'a', generation: null });
    // Still shown (ended) until the message lands, so the text never blinks out.
    expect(s.generations.a).toMatchObject({ ended: true, text: 'Hello' });
    s = applyDeltas(s, new Map([['a', { messageId: 'r1', text: ' late' }]]));
    expect(s.generations.a.text).toBe('Hello');
    s = applyChatEvent(s, { type: 'chat-message', conversationId: 'a', message: { ...msg('r1', 'assistant', 'Hello'), finish: 'stop' } });
    expect(s.generations.a).toBeUndefined();
    expect(s.messages.a.map((m) => m.id)).toEqual(['u1', 'u2', 'r1']);
  });

  it('a message seen twice (the reply and the event) is kept once; truncation drops the tail', () => {
    let s = opened();
    s = applyChatEvent(s, { type: 'chat-message', conversationId: 'a', message: msg('u2') });
    s = applyChatEvent(s, { type: 'chat-message', conversationId: 'a', message: { ...msg('u2'), content: 'edited' } });
    expect(s.messages.a.map((m) => m.content)).toEqual(['u1', 'edited']);
    s = applyChatEvent(s, { type: 'chat-truncated', conversationId: 'a', keep: 1 });
    expect(s.messages.a.map((m) => m.id)).toEqual(['u1']);
    const same = applyChatEvent(s, { type: 'chat-truncated', conversationId: 'a', keep: 5 });
    expect(same).toBe(s);
  });

  it('events for a conversation not fetched yet touch only its summary (the fetch returns them)', () => {
    let s = opened();
    s = applyChatEvent(s, { type: 'chat-message', conversationId: 'b', message: msg('x') });
    expect(s.messages.b).toBeUndefined();
    s = applyChatEvent(s, { type: 'generation', conversationId: 'b', generation: gen('b', 'r9') });
    s = applyChatEvent(s, { type: 'generation', conversationId: 'b', generation: null });
    expect(s.generations.b).toBeUndefined();
  });

  it('a window opening mid-answer: the generations reply carries the text so far, deltas for unknown answers are ignored', () => {
    let s = opened();
    s = applyDeltas(s, new Map([['a', { messageId: 'r1', text: 'lost?' }]]));
    expect(s.generations.a).toBeUndefined();
    s = applyGenerations(s, [gen('a', 'r1', { text: 'so far' })]);
    s = applyDeltas(s, new Map([['a', { messageId: 'r1', text: ', and more' }]]));
    expect(s.generations.a.text).toBe('so far, and more');
    // A later generation event (a phase change) carries the whole text again.
    s = applyChatEvent(s, { type: 'generation', conversationId: 'a', generation: gen('a', 'r1', { text: 'so far, and more!' }) });
    expect(s.generations.a.text).toBe('so far, and more!');
  });

  it('a reconnect replaces the list and forgets fetched messages (they are fetched again)', () => {
    const s = applyConversationList(opened(), [summary('c', '2025-02-01T00:00:00.000Z')]);
    expect(s.order).toEqual(['c']);
    expect(s.messages).toEqual({});
  });

  it("'+ New chat' finds the most recent conversation with nothing in it, if any (not one whose first message or answer is on its way)", () => {
    let s = applyConversationList(emptyChatData, [
      summary('full', '2025-01-05T00:00:00.000Z', { messageCount: 2 }),
      summary('old-empty', '2025-01-02T00:00:00.000Z'),
      summary('new-empty', '2025-01-03T00:00:00.000Z'),
    ]);
    expect(emptyConversation(s)?.id).toBe('new-empty');
    // Its first message is in, the count not yet: not empty any more.
    s = applyConversation(s, { ...summary('new-empty', '2025-01-03T00:00:00.000Z'), messages: [] });
    s = applyChatEvent(s, { type: 'chat-message', conversationId: 'new-empty', message: msg('u1') });
    expect(emptyConversation(s)?.id).toBe('old-empty');
    s = applyChatEvent(s, { type: 'generation', conversationId: 'old-empty', generation: gen('old-empty', 'r1') });
    expect(emptyConversation(s)).toBeNull();
    expect(emptyConversation(applyConversationList(emptyChatData, [summary('full', '2025-01-05T00:00:00.000Z', { messageCount: 1 })]))).toBeNull();
  });

  it('routes only chat events to the chat store', () => {
    expect(isChatEvent({ type: 'chat-delta', conversationId: 'a', messageId: 'r', text: 'x' })).toBe(true);
    expect(isChatEvent({ type: 'conversation-removed', id: 'a' })).toBe(true);
    expect(isChatEvent({ type: 'removed', name: 'tiny' })).toBe(false);
  });
});

describe('conversation settings form', () => {
  const draft = { system_prompt: 'Be brief.', temperature: '', top_p: '0.9', max_tokens: '256', seed: '' };

  it('empty fields are the model default (null); numbers are checked', () => {
    expect(parseDraft(draft)).toEqual({ params: { system_prompt: 'Be brief.', temperature: null, top_p: 0.9, max_tokens: 256, seed: null } });
    expect(parseDraft({ ...draft, top_p: '1.5' })).toMatchObject({ field: 'top_p', error: expect.stringContaining('between 0 and 1') });
    expect(parseDraft({ ...draft, max_tokens: '2.5' })).toMatchObject({ field: 'max_tokens', error: expect.stringContaining('whole number') });
    expect(parseDraft({ ...draft, max_tokens: '0' })).toMatchObject({ field: 'max_tokens', error: expect.stringContaining('at least 1') });
    expect(parseDraft({ ...draft, seed: '-7' })).toMatchObject({ params: { seed: -7 } });
  });

  it('a send saves what the panel shows first: nothing when it shows the saved settings, the typed ones, or not at all when a field is wrong', () => {
    const saved = { ...DEFAULT_CHAT_PARAMS, temperature: 0.5 };
    const edit = (d: Partial<typeof draft>) => ({ draft: { ...toDraft(saved), ...d }, error: null, saved: false });
    expect(unsavedParams(undefined, saved)).toBeNull(); // panel closed
    expect(unsavedParams({ draft: null, error: null, saved: true }, saved)).toBeNull(); // open, nothing changed
    expect(unsavedParams(edit({ max_tokens: '5' }), saved)).toEqual({ params: { ...saved, max_tokens: 5 } });
    expect(unsavedParams(edit({ max_tokens: '5 ' }), { ...saved, max_tokens: 5 })).toBeNull(); // typed back to what is saved
    expect(unsavedParams(edit({ temperature: '' }), saved)).toEqual({ params: { ...saved, temperature: null } }); // cleared = model default
    expect(unsavedParams(edit({ max_tokens: '0' }), saved)).toMatchObject({ field: 'max_tokens', error: expect.stringContaining('at least 1') });
  });
});

describe('deltas are coalesced per burst', () => {
  it('the deltas that arrive together fold into one update right after them; a generation event supersedes what was buffered', async () => {
    const { useChat, receiveChatEvent } = await import('./chatStore');
    receiveChatEvent({ type: 'generation', conversationId: 'c', generation: gen('c', 'r', { text: '' }) });
    let updates = 0;
    const off = useChat.subscribe(() => updates++);
    for (const text of ['a', 'b', 'c']) receiveChatEvent({ type: 'chat-delta', conversationId: 'c', messageId: 'r', text });
    expect(updates).toBe(0); // the burst is still arriving (this task)
    await vi.waitFor(() => expect(updates).toBe(1)); // then one update for the three
    expect(useChat.getState().generations.c.text).toBe('abc');

    receiveChatEvent({ type: 'chat-delta', conversationId: 'c', messageId: 'r', text: 'd' });
    await vi.waitFor(() => expect(updates).toBe(2));
    expect(useChat.getState().generations.c.text).toBe('abcd');

    // Buffered, then a generation event whose text already has it: the buffer is dropped, not applied twice.
    receiveChatEvent({ type: 'chat-delta', conversationId: 'c', messageId: 'r', text: 'e' });
    receiveChatEvent({ type: 'generation', conversationId: 'c', generation: gen('c', 'r', { text: 'abcde' }) });
    await new Promise((r) => setTimeout(r, 20));
    expect(useChat.getState().generations.c.text).toBe('abcde');
    off();
  });
});

describe('model picker keys', () => {
  // 0 ok, 1 broken, 2 ok, 3 broken
  const disabled = [false, true, false, true];

  it('arrows, Home and End skip the models that cannot be picked; at an end the focus stays', () => {
    expect(moveFocus(disabled, 0, 'ArrowDown')).toBe(2);
    expect(moveFocus(disabled, 2, 'ArrowDown')).toBeNull();
    expect(moveFocus(disabled, 2, 'ArrowUp')).toBe(0);
    expect(moveFocus(disabled, 0, 'ArrowUp')).toBeNull();
    expect(moveFocus(disabled, 1, 'ArrowUp')).toBe(0); // from a broken current model
    expect(moveFocus(disabled, 3, 'Home')).toBe(0);
    expect(moveFocus(disabled, 0, 'End')).toBe(2);
    expect(moveFocus([true, false], -1, 'ArrowDown')).toBe(1); // nothing focused yet
    expect(moveFocus([true, false], -1, 'ArrowUp')).toBe(1);
    expect(moveFocus([true, true], -1, 'Home')).toBeNull();
    expect(moveFocus(disabled, 0, 'Enter')).toBeNull();
  });
});
