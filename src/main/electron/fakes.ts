/**
 * Test fakes of the few Electron objects the glue modules take. Each fake records what was done
 * to it and can fire its events; tests cast it to the `Pick<...>` type the module asks for, since
 * Electron's typings overload `on` per event name. Nothing here imports electron at run time.
 */

type Listener = (...args: any[]) => unknown;

/** An event emitter with `on`/`once`/`removeListener`, and `emit` for the test to fire events. */
export class FakeEmitter {
  private listeners = new Map<string, Listener[]>();

  on(event: string, listener: Listener): this {
    this.listeners.set(event, [...(this.listeners.get(event) ?? []), listener]);
    return this;
  }

  once(event: string, listener: Listener): this {
    const wrapped: Listener = (...args) => {
      this.removeListener(event, wrapped);
      return listener(...args);
    };
    return this.on(event, wrapped);
  }

  removeListener(event: string, listener: Listener): this {
    this.listeners.set(
      event,
      (this.listeners.get(event) ?? []).filter((l) => l !== listener),
    );
    return this;
  }

  listenerCount(event: string): number {
    return this.listeners.get(event)?.length ?? 0;
  }

  emit(event: string, ...args: unknown[]): void {
    for (const l of [...(this.listeners.get(event) ?? [])]) l(...args);
  }
}

/** An Electron-style event: `preventDefault()` is remembered. */
export function fakeEvent<T extends object>(fields: T = {} as T): T & { preventDefault(): void; defaultPrevented: boolean } {
  const event = {
    ...fields,
    defaultPrevented: false,
    preventDefault() {
      event.defaultPrevented = true;
    },
  };
  return event;
}
