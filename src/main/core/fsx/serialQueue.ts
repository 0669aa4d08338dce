/** Runs tasks one at a time, in the order given; a failed task does not stop the ones after it. */
export class SerialQueue {
  private tail: Promise<unknown> = Promise.resolve();

  run<T>(task: () => T | Promise<T>): Promise<T> {
    const result = this.tail.then(task);
    this.tail = result.catch(() => undefined);
    return result;
  }

  /** Settles once every task queued so far has finished (never rejects). */
  idle(): Promise<void> {
    return this.tail.then(() => undefined);
  }
}
