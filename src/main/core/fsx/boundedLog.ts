/**
 * A history that survives a restart, bounded: the last `limit` entries in memory, and a JSON-lines
 * file in the data dir that each new entry is appended to. The file may grow to twice the limit;
 * then it is rewritten (atomically) with the last `limit` entries. A line that cannot be read
 * (torn by a crash, edited by hand) is skipped. Writing is best effort: a full disk or a
 * read-only data dir loses history, never breaks the work being recorded.
 */
import * as nodeFs from 'node:fs';
import { writeFileAtomicSync, type AtomicFs } from './writeFileAtomic';

export interface BoundedLogOptions<T> {
  /** null keeps the history in memory only. */
  file: string | null;
  limit: number;
  /** Whether a parsed line is an entry (files are user-editable). */
  isEntry: (value: unknown) => value is T;
  fs?: AtomicFs & Pick<typeof nodeFs, 'appendFileSync' | 'readFileSync'>;
}

export class BoundedLog<T> {
  private entries: T[] = [];
  /** Lines in the file now (entries and unreadable lines alike). */
  private fileLines = 0;
  private readonly fs: NonNullable<BoundedLogOptions<T>['fs']>;

  constructor(private readonly o: BoundedLogOptions<T>) {
    this.fs = o.fs ?? nodeFs;
    if (o.file) this.read(o.file);
  }

  add(entry: T): void {
    this.entries.push(entry);
    if (this.entries.length > this.o.limit) this.entries.splice(0, this.entries.length - this.o.limit);
    const file = this.o.file;
    if (!file) return;
    try {
      if (this.fileLines + 1 > 2 * this.o.limit) {
        writeFileAtomicSync(file, this.entries.map((e) => `${JSON.stringify(e)}\n`).join(''), { fs: this.fs });
        this.fileLines = this.entries.length;
      } else {
        this.fs.appendFileSync(file, `${JSON.stringify(entry)}\n`);
        this.fileLines++;
      }
    } catch {
      // History is a convenience: the next add tries again.
    }
  }

  /** Oldest first (a copy). */
  list(): T[] {
    return [...this.entries];
  }

  private read(file: string): void {
    let text: string;
    try {
      text = this.fs.readFileSync(file, 'utf8');
    } catch {
      return; // none yet, or unreadable: start empty, the next add writes a new one
    }
    const lines = text.split('\n');
    if (lines.at(-1) === '') lines.pop();
    this.fileLines = lines.length;
    for (const line of lines.slice(-this.o.limit)) {
      try {
        const value: unknown = JSON.parse(line);
        if (this.o.isEntry(value)) this.entries.push(value);
      } catch {
        // torn or edited line: skipped
      }
    }
    // A torn last line would glue the next entry to it: start the next one on a fresh line.
    if (text !== '' && !text.endsWith('\n')) {
      try {
        this.fs.appendFileSync(file, '\n');
      } catch {
        // best effort
      }
    }
  }
}
