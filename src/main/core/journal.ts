/** The eviction journal (E2): every unload with its reason, kept for the session. */
import type { JournalEntry } from '../../shared/model';

export class Journal {
  private entries: JournalEntry[] = [];
  constructor(private readonly limit = 1000) {}

  add(entry: JournalEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.limit) this.entries.splice(0, this.entries.length - this.limit);
  }

  list(model?: string): JournalEntry[] {
    return model ? this.entries.filter((e) => e.model === model) : [...this.entries];
  }
}
