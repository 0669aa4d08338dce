/** The warm standby built-in backend: started ahead of time, adopted by the next load, shown. */
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
});
