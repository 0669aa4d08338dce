/** A typed listener set; every subscription returns its unsubscribe (convention 8). */
export class Emitter<T> {
  private listeners = new Set<(value: T) => void>();

  on(listener: (value: T) => void): () => void {
    this.listeners.add(listener);
    return () => this.listeners.delete(listener);
  }

  emit(value: T): void {
    for (const listener of this.listeners) {
      try {
        listener(value);
      } catch (e) {
        // A faulty subscriber (a closed socket, a UI bug) must never break the loader.
        console.error('[loadout] event listener failed:', e);
      }
    }
  }

  get size(): number {
    return this.listeners.size;
  }

  clear(): void {
    this.listeners.clear();
  }
}
