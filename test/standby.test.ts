/** The warm standby built-in backend: started ahead of time, adopted by the next load, shown. */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { disposeAll, pidAlive, startTestCore, waitUntil } from './harness';

afterEach(disposeAll);

describe('warm standby backend', () => {
  it('I3: a started-ahead backend is shown in the snapshot, adopted by the next load, replaced, and ends with the app', async () => {
    const t = await startTestCore({ ggufs: { tiny: 1 }, settings: { warm_standby: true } });
    const first = await waitUntil(() => t.core.commands.snapshot().standby, 'a standby backend', { timeoutMs: 15_000 });
    expect(first.backend).toBe('llama-cpp');
    expect(pidAlive(first.pid)).toBe(true);
    const row = await t.core.commands.load('tiny');
    expect(row.pid).toBe(first.pid);
    expect(t.core.commands.logs('tiny').some((l) => l.text.includes('using the warm standby backend'))).toBe(true);
    const second = await waitUntil(() => t.core.commands.snapshot().standby, 'a new standby backend', { timeoutMs: 15_000 });
    expect(second.pid).not.toBe(first.pid);
    await t.core.commands.updateSettings({ warm_standby: false });
    await waitUntil(() => !pidAlive(second.pid) && t.core.commands.snapshot().standby === null, 'the standby to stop when turned off');
    await t.core.commands.updateSettings({ warm_standby: true });
    const third = await waitUntil(() => t.core.commands.snapshot().standby, 'a standby again', { timeoutMs: 15_000 });
    // E1: every change reached the event stream (the GUI's LRU view shows the standby from it).
    const shown = t.events.flatMap((e) => (e.type === 'standby' ? [e.standby?.pid ?? null] : []));
    expect(shown).toEqual([first.pid, null, second.pid, null, third.pid]);
    await t.dispose();
    expect(pidAlive(third.pid)).toBe(false);
    expect(pidAlive(row.pid!)).toBe(false);
  });

  // Linux only: the environment of another process is read from /proc.
  it.skipIf(process.platform !== 'linux')('a one-slot model runs on a backend with one libuv worker; a parallel model starts its own backend with the default pool', async () => {
    const t = await startTestCore({
      ggufs: { tiny: 1, 'wide-weights': 2 },
      configs: { 'wide.yaml': 'name: wide\nparameters:\n  model: wide-weights.gguf\noptions:\n  - parallel:2\n' },
      settings: { warm_standby: true },
    });
    const poolOf = (pid: number): string | null => {
      const vars = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
      return vars.find((v) => v.startsWith('UV_THREADPOOL_SIZE='))?.split('=')[1] ?? null;
    };
    const standby = await waitUntil(() => t.core.commands.snapshot().standby, 'a standby backend', { timeoutMs: 15_000 });
    expect(poolOf(standby.pid)).toBe('1');
    const wide = await t.core.commands.load('wide');
    expect(wide.pid).not.toBe(standby.pid);
    expect(poolOf(wide.pid!)).toBe(process.env.UV_THREADPOOL_SIZE ?? null);
    const tiny = await t.core.commands.load('tiny');
    expect(tiny.pid).toBe(standby.pid);
    // Both answer: the pool size changes speed, never results.
    for (const name of ['tiny', 'wide']) {
      let text = '';
      for await (const chunk of t.core.commands.complete(name, { prompt: 'Once upon a time', max_tokens: 8, temperature: 0 })) text += chunk.text;
      expect(text.length).toBeGreaterThan(0);
    }
  });
});
