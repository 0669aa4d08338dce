/** Trust 7: a frozen warm standby is never adopted, and a load that reports nothing is stuck after stall_timeout. */
import { afterEach, describe, expect, it } from 'vitest';
import { killAllBackends } from './fixtures/backends';
import { disposeAll, faultModel, pidAlive, startTestCore, waitUntil } from './harness';

const frozen: number[] = [];
afterEach(async () => {
  for (const pid of frozen.splice(0)) {
    try {
      process.kill(pid, 'SIGKILL');
    } catch {
      // gone, as it should be
    }
  }
  await disposeAll();
  await killAllBackends();
});

describe('frozen backends', () => {
  it('a SIGSTOPped standby is checked, killed and replaced: the load succeeds on a fresh backend quickly', async () => {
    const t = await startTestCore({ ggufs: { tiny: 1 }, settings: { warm_standby: true } });
    const standby = await waitUntil(() => t.core.commands.snapshot().standby, 'a standby backend', { timeoutMs: 15_000 });
    process.kill(standby.pid, 'SIGSTOP');
    frozen.push(standby.pid);
    const t0 = performance.now();
    const row = await t.core.commands.load('tiny');
    const ms = performance.now() - t0;
    console.log(`load with a frozen standby took ${ms.toFixed(0)} ms`);
    expect(row.state).toBe('ready');
    expect(row.pid).not.toBe(standby.pid);
    // Before: adopted, and the load hung for load_timeout (300 s).
    expect(ms).toBeLessThan(30_000);
    expect(t.core.commands.logs('tiny').some((l) => l.text.includes(`warm standby backend llama-cpp (pid ${standby.pid}) did not answer Health`))).toBe(true);
    await waitUntil(() => !pidAlive(standby.pid), 'the frozen standby to be killed');
    let text = '';
    for await (const chunk of t.core.commands.complete('tiny', { prompt: 'Once upon a time', max_tokens: 4, temperature: 0 })) text += chunk.text;
    expect(text.length).toBeGreaterThan(0);
  });

  it('W2: a load that reports no progress for stall_timeout is stuck: it fails and its backend is stopped', async () => {
    const t = await startTestCore({
      configs: { 'h.yaml': faultModel('h', { options: ['fault_load_hang:1'] }) },
      settings: { stall_timeout: 1 },
    });
    const t0 = performance.now();
    const error = await t.core.commands.load('h').then(
      () => null,
      (e: unknown) => e as { code: string; message: string },
    );
    expect(error).not.toBeNull();
    // Before: the load waited for load_timeout (300 s), with stall_timeout never applying.
    expect(performance.now() - t0).toBeLessThan(10_000);
    expect(t.core.commands.journal('h')[0]).toMatchObject({ reason: 'stalled' });
    expect(t.row('h').state).not.toBe('ready');
    expect(t.row('h').pid ?? null).toBeNull();
  });
});
