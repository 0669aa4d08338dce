import { afterEach, describe, expect, it, vi } from 'vitest';
import { FakeEmitter, fakeEvent } from './fakes';
import { installQuitHandler } from './quit';
import type { QuitApp } from './quit';

/** Like Electron's app: quit() emits 'before-quit' and really quits only if nobody prevented it. */
class FakeApp extends FakeEmitter {
  quitRequests = 0;
  quitted = false;
  quit() {
    this.quitRequests++;
    const event = fakeEvent();
    this.emit('before-quit', event);
    if (!event.defaultPrevented) this.quitted = true;
  }
}

function deferred() {
  let resolve!: () => void;
  let reject!: (e: Error) => void;
  const promise = new Promise<void>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

afterEach(() => {
  vi.useRealTimers();
});

describe('quit stops every backend first (U4, I4)', () => {
  it('the first quit is held until stop() resolves, then the app quits for real', async () => {
    const app = new FakeApp();
    const stopping = deferred();
    let stops = 0;
    installQuitHandler(app as unknown as QuitApp, () => (stops++, stopping.promise));
    app.quit();
    expect(stops).toBe(1);
    expect(app.quitted).toBe(false);
    // Quitting again meanwhile (Cmd+Q twice, a signal) neither quits nor stops twice.
    app.quit();
    await flush();
    expect(stops).toBe(1);
    expect(app.quitted).toBe(false);
    stopping.resolve();
    await flush();
    expect(app.quitted).toBe(true);
    expect(stops).toBe(1);
  });

  it('a failing stop is reported and the app still quits', async () => {
    const app = new FakeApp();
    const errors: string[] = [];
    installQuitHandler(app as unknown as QuitApp, () => Promise.reject(new Error('disk gone')), { onError: (m) => errors.push(m) });
    app.quit();
    await flush();
    expect(app.quitted).toBe(true);
    expect(errors).toEqual(['while stopping: disk gone']);
  });

  it('a stop that hangs is given up after the timeout (backends exit on their own when we do)', async () => {
    vi.useFakeTimers();
    const app = new FakeApp();
    const errors: string[] = [];
    installQuitHandler(app as unknown as QuitApp, () => new Promise<void>(() => {}), { timeoutMs: 5000, onError: (m) => errors.push(m) });
    app.quit();
    await vi.advanceTimersByTimeAsync(4999);
    expect(app.quitted).toBe(false);
    await vi.advanceTimersByTimeAsync(1);
    expect(app.quitted).toBe(true);
    expect(errors).toEqual(['backends took longer than 5 s to stop; quitting anyway']);
  });

  it('SIGTERM, SIGINT and SIGHUP take the same path', async () => {
    for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP']) {
      const app = new FakeApp();
      const signals = new FakeEmitter();
      let stops = 0;
      installQuitHandler(app as unknown as QuitApp, async () => void stops++, { signals });
      signals.emit(signal);
      await flush();
      expect({ signal, stops, quitted: app.quitted }).toEqual({ signal, stops: 1, quitted: true });
    }
  });
});
