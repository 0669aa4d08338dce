/** Loading on demand (L12) on fake time: a request waits api_load_wait for its load, not a moment longer or shorter. */
import { describe, expect, it } from 'vitest';
import { LoadoutError } from '../../../../shared/errors';
import type { ModelRow } from '../../../../shared/model';
import { FakeClock } from '../../clock';
import type { Core } from '../../createCore';
import { ensureLoaded } from './onDemand';

function coreLoading(clock: FakeClock, waitS: number) {
  let finish!: (row: ModelRow) => void;
  const row = { name: 'm', state: 'loading', progress: 0.5, loadStartedAt: new Date(clock.now()).toISOString() } as ModelRow;
  const core = {
    clock,
    commands: {
      settings: () => ({ api_load_wait: waitS }),
      load: () => new Promise<ModelRow>((r) => (finish = r)),
      row: () => row,
    },
  } as unknown as Core;
  return { core, row, finish: (r: ModelRow) => finish(r) };
}

describe('ensureLoaded', () => {
  it('L12: answers 503 loading once api_load_wait has passed, with the elapsed time; not before', async () => {
    const clock = new FakeClock();
    const { core, row } = coreLoading(clock, 2);
    const outcome = ensureLoaded(core, { ...row, state: 'unloaded' }, new AbortController().signal).then(
      () => 'loaded',
      (e: LoadoutError) => e,
    );
    clock.advance(1999);
    await Promise.resolve();
    expect(await Promise.race([outcome, Promise.resolve('still waiting')])).toBe('still waiting');
    clock.advance(1);
    const e = (await outcome) as LoadoutError;
    expect(e.code).toBe('loading');
    expect(e.loading).toMatchObject({ model: 'm', state: 'loading', progress: 0.5, elapsedMs: 2000 });
    expect(e.retryAfter).toBe(2);
  });

  it('L12: a load that finishes within the wait answers with the ready row', async () => {
    const clock = new FakeClock();
    const { core, row, finish } = coreLoading(clock, 2);
    const outcome = ensureLoaded(core, { ...row, state: 'unloaded' }, new AbortController().signal);
    clock.advance(500);
    finish({ ...row, state: 'ready' });
    expect(await outcome).toMatchObject({ state: 'ready' });
    clock.advance(5000); // the wait's timer was cleared: nothing fires
  });
});
