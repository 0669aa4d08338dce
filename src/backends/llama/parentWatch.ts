import { fstatSync } from 'node:fs';

/**
 * Calls `onGone` once when the process that started us is gone (U4), so a backend never
 * outlives an app that was SIGKILLed or crashed. Two signals, because launchers differ:
 * - stdin: the app spawns us with stdin as a pipe and never writes or closes it; the OS closes
 *   it when the app dies. Only watched when stdin really is a pipe or socket: an ignored stdin
 *   is /dev/null, which "ends" at once.
 * - the parent pid: when the parent dies we are re-parented (to init or a subreaper), so
 *   `process.ppid` changes. Polled every `pollMs`.
 * Returns a function that stops watching.
 */
export function watchParent(onGone: (reason: string) => void, pollMs = 1000): () => void {
  let done = false;
  const fire = (reason: string): void => {
    if (done) return;
    done = true;
    stop();
    onGone(reason);
  };

  const parentPid = process.ppid;
  const timer = setInterval(() => {
    if (process.ppid !== parentPid) fire(`parent process ${parentPid} is gone`);
  }, pollMs);
  timer.unref();

  const onEnd = (): void => fire('stdin closed (the parent process is gone)');
  const stdinIsPipe = (() => {
    try {
      const st = fstatSync(0);
      return st.isFIFO() || st.isSocket();
    } catch {
      return false;
    }
  })();
  if (stdinIsPipe) {
    process.stdin.on('end', onEnd);
    process.stdin.on('close', onEnd);
    process.stdin.on('error', onEnd);
    // Read and drop whatever arrives: 'end' only fires on a flowing stream.
    process.stdin.on('data', () => {});
    process.stdin.resume();
  }

  function stop(): void {
    clearInterval(timer);
    if (stdinIsPipe) {
      process.stdin.off('end', onEnd);
      process.stdin.off('close', onEnd);
      process.stdin.off('error', onEnd);
      process.stdin.pause();
    }
  }
  return () => {
    done = true;
    stop();
  };
}
