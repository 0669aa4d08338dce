/**
 * R6: generation across models shares one budget of CPU threads. llama.cpp slows down 25x-500x
 * when models generating at once ask for more threads than there are cores, so a model that
 * would exceed the budget waits its turn (FIFO) instead of thrashing everyone.
 */
export class ThreadBudget {
  private used = 0;
  private waiting: { need: number; grant: () => void; cancel: (e: unknown) => void }[] = [];

  constructor(private capacity: () => number) {}

  /** Resolves once `need` threads (capped at the whole budget, so it can always run) are held. */
  acquire(need: number, signal?: AbortSignal): Promise<number> {
    const wanted = Math.max(1, Math.min(need, this.capacity()));
    if (this.waiting.length === 0 && this.used + wanted <= this.capacity()) {
      this.used += wanted;
      return Promise.resolve(wanted);
    }
    return new Promise<number>((resolve, reject) => {
      const waiter = {
        need: wanted,
        grant: () => {
          signal?.removeEventListener('abort', onAbort);
          resolve(wanted);
        },
        cancel: reject,
      };
      const onAbort = () => {
        this.waiting = this.waiting.filter((w) => w !== waiter);
        reject(signal?.reason);
        this.pump();
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiting.push(waiter);
    });
  }

  release(held: number): void {
    this.used = Math.max(0, this.used - held);
    this.pump();
  }

  /** Call after the capacity setting changes. */
  pump(): void {
    while (this.waiting.length > 0) {
      const head = this.waiting[0];
      const need = Math.min(head.need, this.capacity());
      // An idle budget always admits the head, so a lowered capacity can never deadlock.
      if (this.used > 0 && this.used + need > this.capacity()) return;
      this.waiting.shift();
      this.used += head.need;
      head.grant();
    }
  }

  get inUse(): number {
    return this.used;
  }
}
