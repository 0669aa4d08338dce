/**
 * A fixed set of generation slots (one context sequence each) handed out first come, first
 * served. The core limits concurrency per model too; this queue is the backend's safety net so
 * an extra request waits its turn instead of failing.
 */
export class SlotPool<T> {
  private readonly idle: T[];
  private readonly waiters: Array<{ resolve: (slot: T) => void; reject: (err: unknown) => void; dispose: () => void }> = [];
  private closedWith: Error | undefined;

  constructor(private readonly slots: readonly T[]) {
    this.idle = [...slots];
  }

  /** Slots in use. */
  get busy(): number {
    return this.slots.length - this.idle.length;
  }

  /** Requests waiting for a slot. */
  get queued(): number {
    return this.waiters.length;
  }

  /** Resolves with a slot; rejects with `signal.reason` if aborted while waiting, or when the pool closes. */
  acquire(signal?: AbortSignal): Promise<T> {
    if (this.closedWith) return Promise.reject(this.closedWith);
    if (signal?.aborted) return Promise.reject(signal.reason);
    const slot = this.idle.shift();
    if (slot !== undefined) return Promise.resolve(slot);
    return new Promise<T>((resolve, reject) => {
      const onAbort = (): void => {
        const i = this.waiters.indexOf(waiter);
        if (i >= 0) this.waiters.splice(i, 1);
        reject(signal?.reason);
      };
      const waiter = {
        resolve,
        reject,
        dispose: () => signal?.removeEventListener('abort', onAbort),
      };
      signal?.addEventListener('abort', onAbort, { once: true });
      this.waiters.push(waiter);
    });
  }

  release(slot: T): void {
    const next = this.waiters.shift();
    if (next) {
      next.dispose();
      next.resolve(slot);
    } else {
      this.idle.push(slot);
    }
  }

  /** Fails every waiter and every later `acquire` with `reason` (the model is being unloaded). */
  close(reason: Error): void {
    this.closedWith = reason;
    for (const waiter of this.waiters.splice(0)) {
      waiter.dispose();
      waiter.reject(reason);
    }
  }
}
