/**
 * Conversations on disk: `<dir>/<id>.jsonl`, one append-only JSON-lines file each (no native
 * module to rebuild for Electron). Line 1 is the conversation's meta record; then message,
 * patch and truncate records. Every change is one `JSON.stringify(record) + '\n'` appended in
 * one write, so a crash loses at most the line being written: a torn last line is dropped on
 * load and the file cut back to the last good line, so the next append starts clean.
 *
 * Summaries of every conversation stay in memory (read at start); full message lists are read
 * on demand and a few recent ones are cached.
 */
import { randomBytes } from 'node:crypto';
import * as nodeFs from 'node:fs';
import { mkdirSync, readFileSync, readdirSync, truncateSync, unlinkSync } from 'node:fs';
import { join } from 'node:path';
import { DEFAULT_CHAT_PARAMS } from '../../../shared/chat';
import type { ChatMessage, ChatParams, Conversation, ConversationSummary } from '../../../shared/chat';
import { LoadoutError } from '../../../shared/errors';
import { storageError } from '../fsx/storageError';
import { writeFileAtomicSync, type AtomicFs } from '../fsx/writeFileAtomic';
import { ID_PATTERN, checkId } from './params';

export type ChatRecord =
  | { type: 'meta'; v: 1; id: string; title: string; model: string | null; params: ChatParams; createdAt: string; updatedAt?: string }
  | { type: 'message'; message: ChatMessage }
  | { type: 'patch'; at: string; title?: string; model?: string | null; params?: ChatParams }
  /** Messages from index `keep` on are dropped. */
  | { type: 'truncate'; at: string; keep: number };

export interface ParsedChat {
  meta: Extract<ChatRecord, { type: 'meta' }>;
  summary: ConversationSummary;
  messages: ChatMessage[];
  /** Lines that no longer carry live content (patches, truncates, dropped messages): compaction fodder. */
  deadLines: number;
  /** 1-based numbers of lines that were not valid records (skipped). */
  badLines: number[];
  /** Set when the last line was torn: the byte length of the file up to the last good line. */
  tornAt: number | null;
}

let lastIdTime = 0;
let idSeq = 0;

/**
 * A time-sortable id: milliseconds in base 36 (fixed width, so ids sort by time), a sequence
 * number so ids made in the same millisecond still sort in order, and random characters.
 */
export function newId(now = Date.now()): string {
  if (now > lastIdTime) {
    lastIdTime = now;
    idSeq = 0;
  } else {
    idSeq++;
  }
  const time = lastIdTime.toString(36).padStart(9, '0');
  const seq = (idSeq % 36 ** 3).toString(36).padStart(3, '0');
  const rand = BigInt(`0x${randomBytes(5).toString('hex')}`).toString(36).padStart(8, '0');
  return `${time}-${seq}${rand}`;
}

/**
 * Parses a conversation file. Throws when it has no valid meta line (not a conversation).
 * A last line that does not parse is reported in `tornAt`; other bad lines in `badLines`.
 * Lines are found on the raw bytes, so `tornAt` is a byte offset even when some text is not
 * valid UTF-8 (decoding would change its length).
 */
export function parseChatFile(data: Uint8Array | string, id: string): ParsedChat {
  const bytes = typeof data === 'string' ? Buffer.from(data, 'utf8') : Buffer.from(data.buffer, data.byteOffset, data.byteLength);
  let meta: Extract<ChatRecord, { type: 'meta' }> | null = null;
  let title = '';
  let model: string | null = null;
  let params: ChatParams = { ...DEFAULT_CHAT_PARAMS };
  let updatedAt = '';
  const messages: ChatMessage[] = [];
  let deadLines = 0;
  const badLines: number[] = [];
  let tornAt: number | null = null;
  /** Bytes up to the end of the last good line (its newline included). */
  let goodBytes = 0;

  for (let start = 0, lineNo = 1; start < bytes.length; lineNo++) {
    const newline = bytes.indexOf(0x0a, start);
    const end = newline < 0 ? bytes.length : newline;
    const lineEnd = newline < 0 ? bytes.length : newline + 1;
    const isLast = lineEnd === bytes.length;
    const line = bytes.toString('utf8', start, end);
    start = lineEnd;
    if (line.trim() === '') {
      goodBytes = lineEnd;
      continue;
    }
    const record = parseRecord(line);
    if (!record || record === 'not-json' || (meta === null) !== (record.type === 'meta')) {
      // Only a last line that is not even JSON was cut by a crash; a record this version does not
      // know (a newer Loadout's?) is skipped but kept in the file.
      if (isLast && meta !== null && record === 'not-json') tornAt = goodBytes;
      else if (meta === null) throw new Error(lineNo === 1 ? 'its first line is not a conversation header' : 'a conversation header is missing');
      else badLines.push(lineNo);
      continue;
    }
    goodBytes = lineEnd;
    switch (record.type) {
      case 'meta':
        meta = record;
        title = record.title;
        model = record.model;
        params = { ...DEFAULT_CHAT_PARAMS, ...record.params };
        updatedAt = record.updatedAt ?? record.createdAt;
        break;
      case 'message':
        messages.push(record.message);
        updatedAt = record.message.at;
        break;
      case 'patch':
        if (record.title !== undefined) title = record.title;
        if (record.model !== undefined) model = record.model;
        if (record.params !== undefined) params = { ...DEFAULT_CHAT_PARAMS, ...record.params };
        updatedAt = record.at;
        deadLines++;
        break;
      case 'truncate': {
        const dropped = Math.max(0, messages.length - record.keep);
        messages.length = Math.min(messages.length, Math.max(0, record.keep));
        updatedAt = record.at;
        deadLines += dropped + 1;
        break;
      }
    }
  }
  if (!meta) throw new Error('it is empty');
  // A valid last line without its '\n' (cut right after the JSON): keep it; the next append adds the newline first.
  const summary: ConversationSummary = { id, title, model, params, createdAt: meta.createdAt, updatedAt, messageCount: messages.length };
  return { meta, summary, messages, deadLines, badLines, tornAt };
}

function parseRecord(line: string): ChatRecord | 'not-json' | null {
  let r: unknown;
  try {
    r = JSON.parse(line);
  } catch {
    return 'not-json';
  }
  if (typeof r !== 'object' || r === null) return null;
  const rec = r as Record<string, unknown>;
  switch (rec.type) {
    case 'meta':
      return typeof rec.title === 'string' && typeof rec.createdAt === 'string' && (rec.model === null || typeof rec.model === 'string') && isObject(rec.params)
        ? (rec as ChatRecord)
        : null;
    case 'message': {
      const m = rec.message as Record<string, unknown> | undefined;
      return isObject(m) && typeof m.id === 'string' && (m.role === 'user' || m.role === 'assistant') && typeof m.content === 'string' && typeof m.at === 'string'
        ? (rec as ChatRecord)
        : null;
    }
    case 'patch':
      return typeof rec.at === 'string' ? (rec as ChatRecord) : null;
    case 'truncate':
      return typeof rec.at === 'string' && typeof rec.keep === 'number' && Number.isInteger(rec.keep) && rec.keep >= 0 ? (rec as ChatRecord) : null;
    default:
      return null;
  }
}

function isObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v);
}

interface Entry {
  summary: ConversationSummary;
  file: string;
  /** Bytes in the file (where the next line goes; a failed append is cut back to it). */
  size: number;
  /** The file ends without '\n' (a valid last line cut before its newline). */
  needsNewline: boolean;
  deadLines: number;
  createdAt: string;
}

export interface ChatStoreOptions {
  dir: string;
  /** A problem worth telling the user (a repaired or skipped file). */
  notice: (text: string) => void;
  now?: () => number;
  /** Full conversations kept in memory (least recently used go first). */
  cacheSize?: number;
  /** Rewrite a file when this many of its lines are dead (and more than its live messages). */
  compactAfter?: number;
  /** The writes (tests pass a disk that fills up). */
  fs?: ChatFs;
}

export type ChatFs = AtomicFs & Pick<typeof nodeFs, 'appendFileSync' | 'statSync' | 'truncateSync'>;

export class ChatStore {
  private readonly entries = new Map<string, Entry>();
  /** id -> messages; Map order = least recently used first. */
  private readonly cache = new Map<string, ChatMessage[]>();
  private readonly now: () => number;
  private readonly fs: ChatFs;

  constructor(private readonly o: ChatStoreOptions) {
    this.now = o.now ?? Date.now;
    this.fs = o.fs ?? nodeFs;
  }

  /** Reads every conversation's summary; repairs torn last lines; never deletes a user's file. */
  open(): void {
    let names: string[];
    try {
      mkdirSync(this.o.dir, { recursive: true });
      names = readdirSync(this.o.dir);
    } catch (e) {
      this.o.notice(`chats: ${this.o.dir} could not be read (${(e as Error).message}); no conversations are listed.`);
      return;
    }
    for (const name of names) {
      const m = /^(.+)\.jsonl$/.exec(name);
      if (!m || !ID_PATTERN.test(m[1])) continue;
      const id = m[1];
      const file = join(this.o.dir, name);
      try {
        const buf = readFileSync(file);
        const parsed = parseChatFile(buf, id);
        let size = buf.length;
        if (parsed.tornAt !== null) {
          truncateSync(file, parsed.tornAt);
          size = parsed.tornAt;
          this.o.notice(`chats: the last line of ${name} was cut off (Loadout stopped while writing it); it was dropped and the file repaired. Earlier messages are intact.`);
        }
        if (parsed.badLines.length > 0) {
          this.o.notice(`chats: ${name} has ${parsed.badLines.length} damaged line(s) (line ${parsed.badLines.slice(0, 5).join(', ')}); they were skipped.`);
        }
        this.entries.set(id, {
          summary: parsed.summary,
          file,
          size,
          needsNewline: size > 0 && buf[size - 1] !== 0x0a,
          deadLines: parsed.deadLines,
          createdAt: parsed.meta.createdAt,
        });
      } catch (e) {
        this.o.notice(`chats: ${name} could not be read (${(e as Error).message}); it is left as it is and not listed.`);
      }
    }
  }

  /** Newest activity first. */
  list(): ConversationSummary[] {
    return [...this.entries.values()]
      .map((e) => e.summary)
      .sort((a, b) => (a.updatedAt === b.updatedAt ? (a.id < b.id ? 1 : -1) : a.updatedAt < b.updatedAt ? 1 : -1));
  }

  summary(id: string): ConversationSummary {
    return this.entry(id).summary;
  }

  has(id: string): boolean {
    return this.entries.has(id);
  }

  /** The full message list (cached; callers must not modify it). */
  messages(id: string): readonly ChatMessage[] {
    const entry = this.entry(id);
    const cached = this.cache.get(id);
    if (cached) {
      this.cache.delete(id);
      this.cache.set(id, cached);
      return cached;
    }
    const messages = this.read(id, entry);
    this.cache.set(id, messages);
    const max = this.o.cacheSize ?? 8;
    while (this.cache.size > max) this.cache.delete(this.cache.keys().next().value as string);
    return messages;
  }

  /** Messages without caching them (search walks every conversation). */
  peekMessages(id: string): readonly ChatMessage[] {
    return this.cache.get(id) ?? this.read(id, this.entry(id));
  }

  conversation(id: string): Conversation {
    const summary = this.summary(id);
    return { ...summary, params: { ...summary.params }, messages: [...this.messages(id)] };
  }

  create(init: { title: string; model: string | null; params: ChatParams }): ConversationSummary {
    const at = this.now();
    let id = newId(at);
    while (this.entries.has(id)) id = newId(at);
    const createdAt = new Date(at).toISOString();
    const meta: ChatRecord = { type: 'meta', v: 1, id, title: init.title, model: init.model, params: { ...init.params }, createdAt };
    const file = join(this.o.dir, `${id}.jsonl`);
    const line = `${JSON.stringify(meta)}\n`;
    try {
      // Whole or not at all: a full disk must not leave an empty file to be reported at every start.
      writeFileAtomicSync(file, line, { fs: this.fs });
    } catch (e) {
      throw saveError(e, this.o.dir);
    }
    const summary: ConversationSummary = { id, title: init.title, model: init.model, params: { ...init.params }, createdAt, updatedAt: createdAt, messageCount: 0 };
    this.entries.set(id, { summary, file, size: Buffer.byteLength(line), needsNewline: false, deadLines: 0, createdAt });
    this.cache.set(id, []);
    return summary;
  }

  append(id: string, message: ChatMessage): ConversationSummary {
    const entry = this.entry(id);
    const cached = this.cache.get(id);
    this.write(entry, { type: 'message', message });
    cached?.push(message);
    entry.summary = { ...entry.summary, updatedAt: message.at, messageCount: entry.summary.messageCount + 1 };
    return entry.summary;
  }

  patch(id: string, p: { title?: string; model?: string | null; params?: ChatParams }): ConversationSummary {
    const entry = this.entry(id);
    const at = new Date(this.now()).toISOString();
    this.write(entry, { type: 'patch', at, ...p });
    entry.deadLines++;
    entry.summary = {
      ...entry.summary,
      ...(p.title !== undefined ? { title: p.title } : {}),
      ...(p.model !== undefined ? { model: p.model } : {}),
      ...(p.params !== undefined ? { params: { ...p.params } } : {}),
      updatedAt: at,
    };
    return entry.summary;
  }

  /** Drops the messages from index `keep` on. */
  truncate(id: string, keep: number): ConversationSummary {
    const entry = this.entry(id);
    const messages = this.messages(id) as ChatMessage[];
    const at = new Date(this.now()).toISOString();
    this.write(entry, { type: 'truncate', at, keep });
    const dropped = Math.max(0, messages.length - keep);
    messages.length = Math.min(messages.length, keep);
    entry.deadLines += dropped + 1;
    entry.summary = { ...entry.summary, updatedAt: at, messageCount: messages.length };
    this.maybeCompact(id, entry, messages);
    return entry.summary;
  }

  /** Removes the conversation's file. */
  remove(id: string): void {
    const entry = this.entry(id);
    try {
      unlinkSync(entry.file);
    } catch (e) {
      if ((e as NodeJS.ErrnoException).code !== 'ENOENT') throw new LoadoutError('invalid', `Could not delete ${entry.file}: ${(e as Error).message}.`);
    }
    this.entries.delete(id);
    this.cache.delete(id);
  }

  private entry(id: string): Entry {
    checkId(id);
    const entry = this.entries.get(id);
    if (!entry) throw new LoadoutError('not_found', `There is no conversation ${id}; it may have been deleted.`);
    return entry;
  }

  private read(id: string, entry: Entry): ChatMessage[] {
    let text: Buffer;
    try {
      text = readFileSync(entry.file);
    } catch (e) {
      throw new LoadoutError('not_found', `The conversation file ${entry.file} could not be read (${(e as Error).message}).`);
    }
    try {
      return parseChatFile(text, id).messages;
    } catch (e) {
      throw new LoadoutError('invalid', `The conversation file ${entry.file} is damaged (${(e as Error).message}).`);
    }
  }

  /** One record, one write. A failed write is cut back, so the file never keeps half a line. */
  private write(entry: Entry, record: ChatRecord): void {
    const line = `${entry.needsNewline ? '\n' : ''}${JSON.stringify(record)}\n`;
    try {
      this.fs.appendFileSync(entry.file, line);
    } catch (e) {
      try {
        if (this.fs.statSync(entry.file).size > entry.size) this.fs.truncateSync(entry.file, entry.size);
      } catch {
        // Nothing more to do: the next load drops a torn line anyway.
      }
      throw saveError(e, this.o.dir);
    }
    entry.size += Buffer.byteLength(line);
    entry.needsNewline = false;
  }

  /** Truncations leave dead lines behind; when they outweigh the live ones, rewrite the file (tmp + rename). */
  private maybeCompact(id: string, entry: Entry, messages: readonly ChatMessage[]): void {
    const threshold = this.o.compactAfter ?? 200;
    if (entry.deadLines < threshold || entry.deadLines <= messages.length) return;
    const s = entry.summary;
    const meta: ChatRecord = { type: 'meta', v: 1, id, title: s.title, model: s.model, params: s.params, createdAt: entry.createdAt, updatedAt: s.updatedAt };
    const text = [meta, ...messages.map((message): ChatRecord => ({ type: 'message', message }))].map((r) => `${JSON.stringify(r)}\n`).join('');
    try {
      writeFileAtomicSync(entry.file, text, { fs: this.fs });
      entry.size = Buffer.byteLength(text);
      entry.deadLines = 0;
    } catch {
      // The appended file is still complete; compaction is only tidying.
    }
  }
}

function saveError(e: unknown, dir: string): LoadoutError {
  return storageError(e, 'Could not save the conversation', dir);
}
