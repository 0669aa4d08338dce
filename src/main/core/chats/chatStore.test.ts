import { appendFileSync, existsSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { DEFAULT_CHAT_PARAMS } from '../../../shared/chat';
import type { ChatMessage } from '../../../shared/chat';
import { fullDiskFs } from '../fsx/fullDiskFs';
import { ChatStore, newId } from './chatStore';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tempDir(): string {
  const d = mkdtempSync(join(os.tmpdir(), 'loadout-chats-'));
  dirs.push(d);
  return d;
}

// One clock for messages and the store, a millisecond apart each time it is read: the order of
// conversations (most recently touched first) must not depend on how fast the machine is.
let seq = 0;
const tick = (): number => Date.now() + seq++;

function open(dir: string, o: { compactAfter?: number; fs?: ReturnType<typeof fullDiskFs> } = {}): { store: ChatStore; notices: string[] } {
  const notices: string[] = [];
  const store = new ChatStore({ dir, notice: (n) => notices.push(n), now: tick, ...o });
  store.open();
  return { store, notices };
}

const msg = (role: 'user' | 'assistant', content: string): ChatMessage => ({ id: newId(), role, content, at: new Date(tick()).toISOString() });

describe('chat store: one append-only JSON-lines file per conversation', () => {
  it('ids are time-sortable, random and path-safe', () => {
    const now = Date.now() + 60_000;
    const a = newId(now);
    const b = newId(now + 1);
    expect(a < b).toBe(true);
    expect(a).toMatch(/^[a-z0-9-]+$/);
    // Made in the same millisecond: still unique and in order.
    const same = Array.from({ length: 100 }, () => newId(now + 1));
    expect([...same].sort()).toEqual(same);
    expect(new Set(same).size).toBe(100);
  });

  it('what is written is read back the same after a restart; newest first', () => {
    const dir = tempDir();
    const { store } = open(dir);
    const one = store.create({ title: 'One', model: 'm', params: { ...DEFAULT_CHAT_PARAMS, temperature: 0.2 } });
    const two = store.create({ title: 'Two', model: null, params: DEFAULT_CHAT_PARAMS });
    const m1 = msg('user', 'hello\nwith "quotes" and ünïcode 日本');
    store.append(one.id, m1);
    store.append(one.id, msg('assistant', 'hi'));
    store.append(one.id, msg('user', 'again'));
    store.truncate(one.id, 2);
    store.patch(one.id, { title: 'One renamed', params: { ...DEFAULT_CHAT_PARAMS, seed: 4 } });
    expect(store.list().map((s) => s.id)).toEqual([one.id, two.id]);

    const again = open(dir);
    expect(again.notices).toEqual([]);
    expect(again.store.list()).toEqual(store.list());
    expect(again.store.conversation(one.id)).toEqual(store.conversation(one.id));
    expect(again.store.conversation(one.id)).toMatchObject({ title: 'One renamed', messageCount: 2, params: { seed: 4, temperature: null } });
    expect(again.store.messages(one.id)[0]).toEqual(m1);
    // One line per record.
    expect(readFileSync(join(dir, `${one.id}.jsonl`), 'utf8').trimEnd().split('\n')).toHaveLength(1 + 3 + 1 + 1);
  });

  it('a torn last line is dropped, the file cut back to the last good line, and the next append is clean', () => {
    const dir = tempDir();
    const { store } = open(dir);
    const c = store.create({ title: 'T', model: 'm', params: DEFAULT_CHAT_PARAMS });
    store.append(c.id, msg('user', 'first'));
    store.append(c.id, msg('assistant', 'second'));
    const file = join(dir, `${c.id}.jsonl`);
    const goodSize = statSync(file).size;
    appendFileSync(file, '{"type":"message","message":{"id":"x","role":"assistant","content":"half an ans');

    const { store: s2, notices } = open(dir);
    expect(notices.join('\n')).toMatch(/last line of .* was cut off .* repaired/);
    expect(statSync(file).size).toBe(goodSize);
    expect(s2.messages(c.id).map((m) => m.content)).toEqual(['first', 'second']);
    s2.append(c.id, msg('user', 'third'));
    const { store: s3, notices: n3 } = open(dir);
    expect(n3).toEqual([]);
    expect(s3.messages(c.id).map((m) => m.content)).toEqual(['first', 'second', 'third']);
  });

  it('Trust 4: invalid UTF-8 in one message and a torn last line: cut at the last good newline byte, no NULs, quiet next start', () => {
    const dir = tempDir();
    const { store } = open(dir);
    const c = store.create({ title: 'T', model: 'm', params: DEFAULT_CHAT_PARAMS });
    store.append(c.id, msg('user', 'first'));
    const file = join(dir, `${c.id}.jsonl`);
    // A message whose text holds bytes that are not UTF-8 (each decodes to one 3-byte U+FFFD).
    const bad = Buffer.from(JSON.stringify({ type: 'message', message: msg('assistant', 'XXXXXX') }) + '\n');
    const at = bad.indexOf('XXXXXX');
    bad.fill(0xff, at, at + 6);
    appendFileSync(file, bad);
    const goodSize = statSync(file).size;
    appendFileSync(file, '{"type":"message","message":{"id":"x","role":"assistant","content":"half');

    const { store: s2, notices } = open(dir);
    expect(notices.join('\n')).toMatch(/last line of .* was cut off/);
    const bytes = readFileSync(file);
    expect(bytes.length).toBe(goodSize);
    expect(bytes.includes(0)).toBe(false);
    expect(s2.messages(c.id).map((m) => m.content)).toEqual(['first', '\ufffd'.repeat(6)]);
    const third = open(dir);
    expect(third.notices).toEqual([]);
    expect(third.store.messages(c.id)).toHaveLength(2);
  });

  it('Trust 3: a conversation created on a full disk leaves no file and says the disk is full (disk_space)', () => {
    const dir = tempDir();
    const { store } = open(dir, { fs: fullDiskFs(0) });
    expect(() => store.create({ title: 'T', model: 'm', params: DEFAULT_CHAT_PARAMS })).toThrow(expect.objectContaining({ code: 'disk_space', message: expect.stringMatching(/full/) }));
    expect(readdirSync(dir)).toEqual([]);
    expect(store.list()).toEqual([]);
    expect(open(dir).notices).toEqual([]);
  });

  it('Trust 3: a message appended on a full disk is cut back and answers disk_space; the file stays clean', () => {
    const dir = tempDir();
    const fs = fullDiskFs(1e9);
    const { store } = open(dir, { fs });
    const c = store.create({ title: 'T', model: 'm', params: DEFAULT_CHAT_PARAMS });
    const file = join(dir, `${c.id}.jsonl`);
    const size = statSync(file).size;
    const { store: full } = open(dir, { fs: fullDiskFs(10) });
    expect(() => full.append(c.id, msg('user', 'does not fit'))).toThrow(expect.objectContaining({ code: 'disk_space' }));
    expect(statSync(file).size).toBe(size);
    expect(full.summary(c.id).messageCount).toBe(0);
    expect(open(dir).notices).toEqual([]);
  });

  it('a complete last line that lost only its newline is kept; the next record starts on its own line', () => {
    const dir = tempDir();
    const { store } = open(dir);
    const c = store.create({ title: 'T', model: 'm', params: DEFAULT_CHAT_PARAMS });
    const file = join(dir, `${c.id}.jsonl`);
    appendFileSync(file, JSON.stringify({ type: 'message', message: msg('user', 'kept') }));
    const { store: s2, notices } = open(dir);
    expect(notices).toEqual([]);
    s2.append(c.id, msg('assistant', 'after'));
    expect(open(dir).store.messages(c.id).map((m) => m.content)).toEqual(['kept', 'after']);
  });

  it('a damaged line in the middle is skipped with a notice; a file that is not a conversation is left alone', () => {
    const dir = tempDir();
    const { store } = open(dir);
    const c = store.create({ title: 'T', model: 'm', params: DEFAULT_CHAT_PARAMS });
    const file = join(dir, `${c.id}.jsonl`);
    appendFileSync(file, 'garbage\n');
    store.append(c.id, msg('user', 'ok'));
    // A record this version does not know, last: skipped, but not cut off as a torn line.
    appendFileSync(file, '{"type":"reaction","emoji":"+1"}\n');
    writeFileSync(join(dir, 'notachat.jsonl'), 'hello\n');
    writeFileSync(join(dir, 'Bad Name.jsonl'), 'hello\n');
    writeFileSync(join(dir, 'empty.jsonl'), '');
    const { store: s2, notices } = open(dir);
    expect(notices.join('\n')).toMatch(/2 damaged line\(s\) \(line 2, 4\)/);
    expect(readFileSync(file, 'utf8')).toContain('"reaction"');
    expect(notices.join('\n')).toMatch(/notachat.jsonl could not be read .*left as it is/);
    expect(notices.join('\n')).toMatch(/empty.jsonl could not be read/);
    expect(s2.list().map((s) => s.id)).toEqual([c.id]);
    expect(s2.messages(c.id).map((m) => m.content)).toEqual(['ok']);
    expect(existsSync(join(dir, 'notachat.jsonl'))).toBe(true);
  });

  it('unknown and malformed ids are refused (no path traversal)', () => {
    const { store } = open(tempDir());
    expect(() => store.summary('nope')).toThrow(expect.objectContaining({ code: 'not_found' }));
    expect(() => store.messages('../x')).toThrow(expect.objectContaining({ code: 'invalid' }));
    expect(() => store.remove('/etc/passwd')).toThrow(expect.objectContaining({ code: 'invalid' }));
  });

  it('after many truncations the file is rewritten to its live content (tmp + rename)', () => {
    const dir = tempDir();
    const { store } = open(dir, { compactAfter: 20 });
    const c = store.create({ title: 'T', model: 'm', params: DEFAULT_CHAT_PARAMS });
    store.append(c.id, msg('user', 'keep me'));
    for (let i = 0; i < 15; i++) {
      store.append(c.id, msg('assistant', `answer ${i}`));
      store.truncate(c.id, 1);
    }
    store.patch(c.id, { title: 'Renamed' });
    const file = join(dir, `${c.id}.jsonl`);
    // Without the rewrite: 1 meta + 1 message + 15 x (answer + truncate) + 1 patch = 33 lines.
    expect(readFileSync(file, 'utf8').trimEnd().split('\n').length).toBeLessThan(20);
    const { store: s2, notices } = open(dir);
    expect(notices).toEqual([]);
    expect(s2.conversation(c.id)).toEqual(store.conversation(c.id));
    expect(s2.summary(c.id).title).toBe('Renamed');
  });

  it('a 5,000-message conversation opens fast (summary at start, messages on demand, parsed once)', () => {
    const dir = tempDir();
    const { store } = open(dir);
    const c = store.create({ title: 'Long', model: 'm', params: DEFAULT_CHAT_PARAMS });
    const body = 'Lorem ipsum dolor sit amet, consectetur adipiscing elit. '.repeat(5);
    const lines: string[] = [];
    for (let i = 0; i < 5000; i++) lines.push(JSON.stringify({ type: 'message', message: msg(i % 2 ? 'assistant' : 'user', `${i} ${body}`) }));
    appendFileSync(join(dir, `${c.id}.jsonl`), `${lines.join('\n')}\n`);
    const bytes = statSync(join(dir, `${c.id}.jsonl`)).size;

    let t = performance.now();
    const { store: s2 } = open(dir);
    const openMs = performance.now() - t;
    t = performance.now();
    const conv = s2.conversation(c.id);
    const loadMs = performance.now() - t;
    t = performance.now();
    s2.conversation(c.id);
    const cachedMs = performance.now() - t;
    expect(conv.messages).toHaveLength(5000);
    expect(conv.messageCount).toBe(5000);
    console.log(`5,000 messages (${(bytes / 1e6).toFixed(1)} MB): open ${openMs.toFixed(1)} ms, load ${loadMs.toFixed(1)} ms, cached ${cachedMs.toFixed(2)} ms`);
    // Generous: this machine runs other test files at the same time.
    expect(loadMs).toBeLessThan(1000);
  });
});
