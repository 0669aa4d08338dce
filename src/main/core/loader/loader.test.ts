/**
 * The loader's timeouts, waits and backoffs in fake time: a real Loader over the fake launcher
 * (hosts that keep the real launcher's and gRPC client's contracts) and a FakeClock. The same
 * behaviours with real processes are in test/loader.test.ts and test/supervision.test.ts.
 */
import { describe, expect, it } from 'vitest';
import { MiB, drain, loaderHarness, settle } from './loaderHarness';

describe('loader in fake time', () => {
  it('L2: concurrent loads of one model start one backend and share its row', async () => {
    const h = loaderHarness({ models: { a: {} }, behaviour: { a: { loadMs: 5_000 } } });
    const loads = Array.from({ length: 5 }, () => settle(h.loader.load('a')));
    await h.advance(5_100);
    expect(loads.every((l) => l.done() && l.value()?.state === 'ready')).toBe(true);
    expect(h.launcher.starts).toEqual(['a']);
  });

  it('L10: a backend that does not answer Health within start_timeout fails the load then, not before', async () => {
    const h = loaderHarness({ models: { a: {} }, settings: { start_timeout: 60 }, behaviour: { a: { startMs: 120_000 } } });
    const load = settle(h.loader.load('a'));
    await h.advance(59_900);
    expect(load.done()).toBe(false);
    expect(h.state('a')).toBe('starting');
    await h.advance(200);
    expect(load.error()?.code).toBe('timeout');
    expect(h.loader.rowOf('a').failure?.message).toContain('start_timeout');
    expect(h.launcher.live()).toEqual([]);
  });

  it('L11: LoadModel past load_timeout fails with timeout and stops the backend', async () => {
    const h = loaderHarness({ models: { a: {} }, settings: { load_timeout: 30 }, behaviour: { a: { loadMs: Infinity } } });
    const load = settle(h.loader.load('a'));
    await h.advance(29_000);
    expect(load.done()).toBe(false);
    expect(h.state('a')).toBe('loading');
    // The deadline, then up to 500 ms for an exit event that would explain more.
    await h.advance(1_600);
    expect(load.error()?.code).toBe('timeout');
    expect(load.error()?.message).toContain('load_timeout');
    expect(h.state('a')).toBe('failed');
    expect(h.launcher.live()).toEqual([]);
  });

  it('L6: a load that needs a busy model\'s slot waits eviction_wait, then fails slots_busy without killing it', async () => {
    const h = loaderHarness({
      models: { a: {}, b: {} },
      settings: { max_active_models: 1, eviction_wait: 30 },
      behaviour: { a: { tokens: 1_000, tokenMs: 100 } },
    });
    await settleLoad(h, 'a');
    const answer = drain(h.loader.stream('a', { Prompt: 'hi' }));
    await h.advance(100);
    expect(h.state('a')).toBe('busy');
    const load = settle(h.loader.load('b'));
    await h.advance(29_000);
    expect(load.done()).toBe(false);
    await h.advance(1_100);
    expect(load.error()?.code).toBe('slots_busy');
    expect(h.state('a')).toBe('busy');
    expect(answer.done()).toBe(false);
    expect(h.launcher.starts).toEqual(['a']);
  });

  it('L4: a busy conflicting model that finishes within eviction_wait is unloaded, then the load goes on', async () => {
    const h = loaderHarness({
      models: { a: { concurrency_groups: ['g'] }, b: { concurrency_groups: ['g'] } },
      settings: { eviction_wait: 30 },
      behaviour: { a: { tokens: 50, tokenMs: 100 } },
    });
    await settleLoad(h, 'a');
    const answer = drain(h.loader.stream('a', { Prompt: 'hi' }));
    await h.advance(100);
    expect(h.state('a')).toBe('busy');
    const load = settle(h.loader.load('b'));
    await h.advance(4_000);
    expect(load.done()).toBe(false);
    await h.advance(2_000);
    expect(answer.value()).toContain('tok49');
    expect(load.value()?.state).toBe('ready');
    expect(h.state('a')).toBe('unloaded');
    expect(h.journal.list()[0]).toMatchObject({ model: 'a', reason: 'group', by: 'b' });
  });

  it('U1: a graceful unload waits unload_grace for a running request, then ends it with unloaded', async () => {
    const h = loaderHarness({ models: { a: {} }, settings: { unload_grace: 20 }, behaviour: { a: { tokens: 1_000, tokenMs: 100 } } });
    await settleLoad(h, 'a');
    const answer = drain(h.loader.stream('a', { Prompt: 'hi' }));
    await h.advance(100);
    const unload = settle(h.loader.unload('a'));
    await h.advance(19_000);
    expect(h.state('a')).toBe('stopping');
    expect(answer.done()).toBe(false);
    await h.advance(1_200);
    expect(answer.error()?.code).toBe('unloaded');
    expect(unload.done()).toBe(true);
    expect(h.state('a')).toBe('unloaded');
    expect(h.launcher.live()).toEqual([]);
  });

  it('U1: a graceful unload of an idle model calls Free, then stops the process with a grace period', async () => {
    const h = loaderHarness({ models: { a: {} } });
    await settleLoad(h, 'a');
    const host = h.launcher.hosts[0];
    await Promise.all([h.loader.unload('a'), h.advance(100)]);
    expect(host.calls.slice(-2)).toEqual(['Free', 'stop(10000)']);
  });

  it('L13: a failed on-demand load cools down 10 s, doubling; a user load always retries', async () => {
    const h = loaderHarness({ models: { a: {} }, settings: { load_failure_cooldown: 10 }, behaviour: { a: { loadFail: 'out of memory' } } });
    const first = settle(h.loader.load('a', { origin: 'api' }));
    await h.advance(100);
    expect(first.error()?.code).toBe('backend_failed');
    const cooling = settle(h.loader.load('a', { origin: 'api' }));
    await h.flush();
    expect(cooling.error()).toMatchObject({ code: 'cooldown', retryAfter: 10 });
    expect(h.launcher.starts).toHaveLength(1);
    await h.advance(10_000);
    const second = settle(h.loader.load('a', { origin: 'api' }));
    await h.advance(100);
    expect(second.error()?.code).toBe('backend_failed');
    const doubled = settle(h.loader.load('a', { origin: 'api' }));
    await h.flush();
    expect(doubled.error()?.retryAfter).toBeGreaterThan(19);
    const user = settle(h.loader.load('a'));
    await h.advance(100);
    expect(user.error()?.code).toBe('backend_failed');
    expect(h.launcher.starts).toHaveLength(3);
  });

  it('U3: a pinned model that crashes restarts at once, then with the L13 backoff while restarts fail', async () => {
    const behaviour = { p: {} as { loadFail?: string } };
    const h = loaderHarness({ models: { p: { pinned: true } }, settings: { load_failure_cooldown: 10 }, behaviour });
    await settleLoad(h, 'p');
    behaviour.p.loadFail = 'device lost';
    h.launcher.hosts[0].crash();
    await h.advance(500);
    expect(h.launcher.starts).toHaveLength(2);
    expect(h.state('p')).toBe('failed');
    await h.advance(9_000);
    expect(h.launcher.starts).toHaveLength(2);
    await h.advance(1_000);
    expect(h.launcher.starts).toHaveLength(3);
    behaviour.p.loadFail = undefined;
    await h.advance(19_000);
    expect(h.launcher.starts).toHaveLength(3);
    await h.advance(1_500);
    expect(h.launcher.starts).toHaveLength(4);
    expect(h.state('p')).toBe('ready');
    expect(h.journal.list().map((e) => e.reason)).toEqual(['crashed']);
  });

  it('U3: a pinned model that loads and then keeps crashing backs off too; one that stayed up restarts at once', async () => {
    const h = loaderHarness({ models: { p: { pinned: true } }, settings: { load_failure_cooldown: 10 } });
    await settleLoad(h, 'p');
    const crashLatest = async () => {
      h.launcher.hosts[h.launcher.hosts.length - 1].crash();
      await h.flush();
    };
    await h.advance(120_000); // up for two minutes: a crash now is not a loop
    await crashLatest();
    await h.advance(500);
    expect(h.launcher.starts).toHaveLength(2);
    expect(h.state('p')).toBe('ready');
    await crashLatest(); // right after its restart: a loop begins
    await h.advance(9_000);
    expect(h.launcher.starts).toHaveLength(2);
    await h.advance(1_500);
    expect(h.launcher.starts).toHaveLength(3);
    await crashLatest();
    await h.advance(19_000);
    expect(h.launcher.starts).toHaveLength(3);
    await h.advance(1_500);
    expect(h.launcher.starts).toHaveLength(4);
    expect(h.state('p')).toBe('ready');
  });

  it('L12: cancelling a load stops the backend and everyone waiting gets cancelled', async () => {
    const h = loaderHarness({ models: { a: {} }, behaviour: { a: { loadMs: 60_000 } } });
    const loads = [settle(h.loader.load('a')), settle(h.loader.load('a'))];
    await h.advance(1_000);
    expect(h.loader.cancelLoad('a')).toBe(true);
    await h.advance(100);
    expect(loads.map((l) => l.error()?.code)).toEqual(['cancelled', 'cancelled']);
    expect(h.state('a')).toBe('unloaded');
    expect(h.launcher.live()).toEqual([]);
  });
});

/** Loads a model and lets fake time run until it is ready. */
async function settleLoad(h: ReturnType<typeof loaderHarness>, name: string): Promise<void> {
  const load = settle(h.loader.load(name));
  for (let i = 0; i < 100 && !load.done(); i++) await h.advance(100);
  if (load.error()) throw load.error();
}

describe('Trust 5: the plan and the act agree', () => {
  it('L7: a load that must unload two models to fit does so and loads, as its plan said', async () => {
    const h = loaderHarness({
      models: { a: { sizeBytes: 60 * MiB }, b: { sizeBytes: 60 * MiB }, c: { sizeBytes: 100 * MiB } },
      settings: { memory_budget: 150 * MiB },
      behaviour: { a: { rssBytes: 60 * MiB }, b: { rssBytes: 60 * MiB } },
    });
    await settleLoad(h, 'a');
    await settleLoad(h, 'b');
    const plan = h.loader.plan('c');
    expect(plan.ok).toBe(true);
    expect(plan.unloads.map((u) => u.name)).toEqual(['a', 'b']);
    const load = settle(h.loader.load('c'));
    await h.advance(1_000);
    expect(load.error()).toBeUndefined();
    expect(load.value()?.state).toBe('ready');
    expect(h.journal.list().map((e) => [e.model, e.reason, e.by])).toEqual([['a', 'memory', 'c'], ['b', 'memory', 'c']]);
  });

  it('a load that would still have to wait for a busy model evicts nothing until it can go, and nothing if it times out', async () => {
    const h = loaderHarness({
      models: { a: { concurrency_groups: ['g'], sizeBytes: 60 * MiB }, b: { sizeBytes: 60 * MiB }, c: { concurrency_groups: ['g'], sizeBytes: 100 * MiB } },
      settings: { memory_budget: 150 * MiB, eviction_wait: 10 },
      behaviour: { a: { tokens: 1_000, tokenMs: 100, rssBytes: 60 * MiB }, b: { rssBytes: 60 * MiB } },
    });
    await settleLoad(h, 'b');
    await settleLoad(h, 'a');
    const answer = drain(h.loader.stream('a', { Prompt: 'hi' }));
    await h.advance(100);
    // c conflicts with busy a (wait) and needs b's memory too: b must not go before a can.
    const load = settle(h.loader.load('c'));
    await h.advance(5_000);
    expect(h.state('b')).toBe('ready');
    await h.advance(6_000);
    expect(load.error()?.code).toBe('conflict_busy');
    expect(h.state('b')).toBe('ready');
    expect(h.state('a')).toBe('busy');
    expect(h.journal.list()).toEqual([]);
    expect(answer.done()).toBe(false);
  });
});

describe('Trust 6: no starvation at the cap', () => {
  it('R4/L6: with max_active 1 and two clients alternating models, requests are answered and no model is evicted the moment it is ready', async () => {
    const h = loaderHarness({
      models: { a: {}, b: {} },
      settings: { max_active_models: 1, eviction_wait: 30 },
      behaviour: { a: { loadMs: 200, tokens: 3, tokenMs: 20 }, b: { loadMs: 200, tokens: 3, tokenMs: 20 } },
    });
    const readyAt: Record<string, number> = {};
    const evictedTooSoon: string[] = [];
    const original = h.events.push.bind(h.events);
    h.events.push = (...items) => {
      for (const e of items) {
        if (e.type === 'model' && e.row.state === 'ready' && e.row.progress === null) readyAt[e.row.name] ??= h.clock.now();
        if (e.type === 'model' && e.row.state === 'loading') delete readyAt[e.row.name];
        if (e.type === 'journal' && readyAt[e.entry.model] === h.clock.now()) evictedTooSoon.push(e.entry.model);
      }
      return original(...items);
    };
    const client = (model: string) =>
      settle(
        (async () => {
          const results: string[] = [];
          for (let i = 0; i < 10; i++) {
            try {
              await h.loader.predict(model, { Prompt: 'hi' }, { origin: 'api' });
              results.push('ok');
            } catch (e) {
              results.push((e as { code: string }).code);
            }
          }
          return results;
        })(),
      );
    const clients = [client('a'), client('b')];
    for (let i = 0; i < 200 && !clients.every((c) => c.done()); i++) await h.advance(100);
    const results = clients.flatMap((c) => c.value() ?? []);
    expect(results.filter((r) => r === 'ok').length).toBeGreaterThanOrEqual(18);
    expect(results).not.toContain('unloaded');
    expect(evictedTooSoon).toEqual([]);
    // Each switch of model is an eviction; the journal says the pair thrashes.
    expect(h.journal.list().some((e) => e.sentence.includes('thrashing'))).toBe(true);
  });
});

describe('Trust 17: last uses from the previous run', () => {
  it('rows show them ("last used" is never lost to a restart); this run\'s uses order after them and are kept', async () => {
    const noted: [string, number][] = [];
    const h = loaderHarness({
      models: { a: {}, b: {}, c: {} },
      settings: { max_active_models: 2 },
      usage: { restored: () => new Map([['a', Date.UTC(2025, 11, 1)], ['b', Date.UTC(2025, 10, 1)]]), note: (n, at) => noted.push([n, at]) },
    });
    expect(h.loader.rowOf('a').lastUsed).toBe('2025-12-01T00:00:00.000Z');
    expect(h.loader.rowOf('c').lastUsed).toBeNull();
    await settleLoad(h, 'b');
    await settleLoad(h, 'a');
    expect(h.loader.snapshot().lru).toEqual(['b', 'a']);
    expect(noted.map(([n]) => n)).toEqual(['b', 'a']);
    expect(Date.parse(h.loader.rowOf('b').lastUsed!)).toBeGreaterThan(Date.UTC(2025, 11, 1));
  });
});
