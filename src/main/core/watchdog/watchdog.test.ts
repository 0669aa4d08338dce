import { describe, expect, it } from 'vitest';
import { defaultSettings } from '../../../shared/settings';
import type { Settings } from '../../../shared/model';
import { FakeClock } from '../clock';
import type { WatchModel } from '../loader/loader';
import { Watchdog, findings } from './watchdog';
import type { Finding } from './watchdog';

const settings = (over: Partial<Settings> = {}): Settings => ({ ...defaultSettings(), ...over });
const w = (name: string, over: Partial<WatchModel> = {}): WatchModel => ({
  name,
  state: 'ready',
  pinned: false,
  ttl: null,
  inFlight: 0,
  lastUsed: 0,
  oldestRequestProgressAt: null,
  loadProgressAt: null,
  remote: false,
  ...over,
});

describe('watchdog', () => {
  it('W1: unloads a model idle for idle_timeout; ttl overrides; pinned and busy are exempt', () => {
    const now = 1_000_000;
    const s = settings({ idle_timeout: 600 });
    const models = [
      w('stale', { lastUsed: now - 600_000 }),
      w('fresh', { lastUsed: now - 599_000 }),
      w('short-ttl', { lastUsed: now - 61_000, ttl: 60 }),
      w('pinned', { lastUsed: 0, pinned: true }),
      w('busy', { lastUsed: 0, state: 'busy', inFlight: 1, oldestRequestProgressAt: now }),
    ];
    expect(findings(models, now, s, null).map((f) => [f.kind, f.name])).toEqual([
      ['idle', 'stale'],
      ['idle', 'short-ttl'],
    ]);
    expect(findings(models, now, settings({ idle_timeout: 0 }), null).map((f) => f.name)).toEqual(['short-ttl']);
  });

  it('W2: silence, not wall time: a request producing tokens for an hour is never stuck', () => {
    const now = 10_000_000;
    const s = settings({ stall_timeout: 300 });
    const longAnswer = w('long', { state: 'busy', inFlight: 1, lastUsed: now - 3_600_000, oldestRequestProgressAt: now - 1_000 });
    const silent = w('silent', { state: 'busy', inFlight: 1, lastUsed: now - 301_000, oldestRequestProgressAt: now - 300_000 });
    const f = findings([longAnswer, silent], now, s, null);
    expect(f).toEqual([{ kind: 'stalled', name: 'silent', text: 'no output from a request for 300 s' }]);
  });

  it('W2: a load whose progress stopped is stuck; one that never reported progress is left to load_timeout', () => {
    const now = 10_000_000;
    const s = settings({ stall_timeout: 300 });
    const f = findings([w('stalled-load', { state: 'loading', loadProgressAt: now - 301_000 }), w('silent-load', { state: 'loading', loadProgressAt: null })], now, s, null);
    expect(f.map((x) => [x.kind, x.name])).toEqual([['stalled', 'stalled-load']]);
  });

  it('W3: above the threshold, unloads one idle non-pinned model per tick, LRU first', () => {
    const s = settings({ memory_reclaimer: true, memory_threshold: 0.9 });
    const models = [w('p', { lastUsed: 1, pinned: true }), w('b', { lastUsed: 3 }), w('a', { lastUsed: 2 }), w('busy', { lastUsed: 0, state: 'busy', inFlight: 1, oldestRequestProgressAt: 0 })];
    expect(findings(models, 100, s, 0.95).map((f) => [f.kind, f.name])).toEqual([['reclaim', 'a']]);
    expect(findings(models, 100, s, 0.85)).toEqual([]);
    expect(findings(models, 100, settings({ memory_reclaimer: false }), 0.99)).toEqual([]);
  });

  it('W1: the periodic check runs on the injected clock, with fake time and no sleeps', () => {
    const clock = new FakeClock(0);
    const acted: Finding[] = [];
    let lastUsed = 0;
    const dog = new Watchdog({
      clock,
      intervalMs: 1000,
      settings: () => settings({ idle_timeout: 60 }),
      models: () => [w('m', { lastUsed })],
      memoryUsedFraction: () => null,
      act: (f) => acted.push(f),
    });
    dog.start();
    clock.advance(59_000);
    expect(acted).toEqual([]);
    clock.advance(1_000);
    expect(acted.map((f) => f.name)).toEqual(['m']);
    lastUsed = clock.now();
    acted.length = 0;
    clock.advance(30_000);
    expect(acted).toEqual([]);
    dog.dispose();
    clock.advance(120_000);
    expect(acted).toEqual([]);
  });
});
