/** The eviction journal (E2): every unload with its reason, kept across restarts (bounded). */
import type { JournalEntry } from '../../shared/model';
import { BoundedLog } from './fsx/boundedLog';

export interface JournalOptions {
  /** `<data dir>/journal.jsonl`; null keeps the journal for this run only. */
  file?: string | null;
  limit?: number;
}

export class Journal {
  private readonly log: BoundedLog<JournalEntry>;

  constructor(options: JournalOptions = {}) {
    this.log = new BoundedLog({ file: options.file ?? null, limit: options.limit ?? 1000, isEntry: isJournalEntry });
  }

  add(entry: JournalEntry): void {
    this.log.add(entry);
  }

  list(model?: string): JournalEntry[] {
    const all = this.log.list();
    return model ? all.filter((e) => e.model === model) : all;
  }
}

function isJournalEntry(v: unknown): v is JournalEntry {
  const e = v as Partial<JournalEntry> | null;
  return typeof e === 'object' && e !== null && typeof e.at === 'string' && typeof e.model === 'string' && typeof e.reason === 'string' && typeof e.sentence === 'string';
}
