import type { RequestLogEntry } from '../../../shared/model';

/** The HTTP API's most recent requests, oldest first, for the GUI's request log. */
export class RequestLog {
  private readonly entries: RequestLogEntry[] = [];

  constructor(private readonly capacity = 500) {}

  list(): RequestLogEntry[] {
    return [...this.entries];
  }

  record(entry: RequestLogEntry): void {
    this.entries.push(entry);
    if (this.entries.length > this.capacity) this.entries.splice(0, this.entries.length - this.capacity);
  }
}
