/**
 * Quitting stops every backend first (U4, I4): the first `before-quit` is held back while `stop`
 * runs (the core's dispose and the API server's close), then the app quits for real. SIGTERM,
 * SIGINT and SIGHUP take the same path.
 */
import type { App } from 'electron';

export interface QuitOptions {
  /** If stopping takes longer, quit anyway: backends watch their parent and exit on their own. */
  timeoutMs?: number;
  onError?(message: string): void;
  /** Where termination signals arrive (the process). */
  signals?: { on(signal: 'SIGTERM' | 'SIGINT' | 'SIGHUP', listener: () => void): unknown };
}

export type QuitApp = Pick<App, 'on' | 'quit'>;

export function installQuitHandler(app: QuitApp, stop: () => Promise<void>, options: QuitOptions = {}): void {
  const timeoutMs = options.timeoutMs ?? 15_000;
  let phase: 'running' | 'stopping' | 'stopped' = 'running';
  app.on('before-quit', (event) => {
    if (phase === 'stopped') return;
    event.preventDefault();
    if (phase === 'stopping') return;
    phase = 'stopping';
    let timer: ReturnType<typeof setTimeout> | undefined;
    const deadline = new Promise<void>((resolve) => {
      timer = setTimeout(() => {
        options.onError?.(`backends took longer than ${timeoutMs / 1000} s to stop; quitting anyway`);
        resolve();
      }, timeoutMs);
    });
    const stopped = stop().catch((e: unknown) => options.onError?.(`while stopping: ${e instanceof Error ? e.message : String(e)}`));
    void Promise.race([stopped, deadline]).then(() => {
      clearTimeout(timer);
      phase = 'stopped';
      app.quit();
    });
  });
  for (const signal of ['SIGTERM', 'SIGINT', 'SIGHUP'] as const) options.signals?.on(signal, () => app.quit());
}
