/** Loader behaviour (L1-L14) with real backend processes (the fault backend speaks the real protocol). */
import { afterEach, describe, expect, it } from 'vitest';
import { createCore } from '../src/main/core/createCore';
import { beforeAnyIo, consume, disposeAll, faultModel, pidAlive, rejection, startTestCore, waitUntil } from './harness';

afterEach(disposeAll);

describe('load', () => {
  it('L1: loading a resident model returns at once, refreshes its LRU position and evicts nothing', async () => {
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b') }, settings: { max_active_models: 2 } });
    await t.core.commands.load('a');
    await t.core.commands.load('b');
    expect(t.core.commands.snapshot().lru).toEqual(['a', 'b']);
    const pid = t.row('a').pid;
    // At once: it resolves before any I/O could happen (no wall-clock bound to flake under load).
    expect(await beforeAnyIo(t.core.commands.load('a'))).toBe(true);
    expect(t.row('a').pid).toBe(pid);
    expect(t.core.commands.snapshot().lru).toEqual(['b', 'a']);
    expect(t.core.commands.journal()).toEqual([]);
  });

  it('L2: N concurrent loads of one model start exactly one backend process and share the result', async () => {
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a', { options: ['fault_load_ms:300'] }) } });
    const rows = await Promise.all(Array.from({ length: 8 }, () => t.core.commands.load('a')));
    expect(new Set(rows.map((r) => r.pid)).size).toBe(1);
    const spawns = t.core.commands.logs('a').filter((l) => l.stream === 'loadout' && l.text.startsWith('starting backend'));
    expect(spawns).toHaveLength(1);
  });

  it('L2: concurrent loads that fail all get the same error', async () => {
    const t = await startTestCore({ configs: { 'bad.yaml': faultModel('bad', { options: ['fault_load_fail:out of memory: need 9 GB'] }) } });
    const results = await Promise.allSettled(Array.from({ length: 4 }, () => t.core.commands.load('bad')));
    const messages = results.map((r) => (r.status === 'rejected' ? (r.reason as Error).message : 'ok'));
    expect(new Set(messages).size).toBe(1);
    expect(messages[0]).toContain('out of memory: need 9 GB');
    expect(t.row('bad').state).toBe('failed');
  });

  it('L3: loads of different, non-conflicting models run concurrently', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a', { options: ['fault_load_ms:800'] }), 'b.yaml': faultModel('b', { options: ['fault_load_ms:800'] }) },
    });
    // Proven by the states, not by wall time (which a loaded machine stretches): both load at once.
    let together = false;
    t.core.events.on(() => {
      if (t.core.commands.snapshot().models.filter((m) => m.state === 'loading').length === 2) together = true;
    });
    await Promise.all([t.core.commands.load('a'), t.core.commands.load('b')]);
    expect(together).toBe(true);
  });

  it('L4: a cold load first unloads models sharing a group and waits for their processes to exit', async () => {
    const t = await startTestCore({
      configs: {
        'a.yaml': faultModel('a', { groups: ['gpu-heavy'] }),
        'b.yaml': faultModel('b', { groups: ['gpu-heavy', 'x'] }),
        'c.yaml': faultModel('c', { groups: ['other'] }),
      },
    });
    const a = await t.core.commands.load('a');
    await t.core.commands.load('c');
    expect(t.core.commands.plan('b').unloads).toEqual([{ name: 'a', reason: 'group', sentence: 'unloaded a: shares group gpu-heavy with b' }]);
    await t.core.commands.load('b');
    expect(pidAlive(a.pid!)).toBe(false);
    expect(t.row('a').state).toBe('unloaded');
    expect(t.row('c').state).toBe('ready');
    expect(t.core.commands.journal()).toMatchObject([{ model: 'a', reason: 'group', by: 'b', sentence: 'unloaded a: shares group gpu-heavy with b' }]);
    // The conflicting process was gone before the new one started (I2).
    const aStopped = t.events.findIndex((e) => e.type === 'model' && e.row.name === 'a' && e.row.state === 'unloaded');
    const bStarting = t.events.findIndex((e) => e.type === 'model' && e.row.name === 'b' && e.row.state === 'starting');
    expect(aStopped).toBeGreaterThanOrEqual(0);
    expect(aStopped).toBeLessThan(bStarting);
  });

  it('L4: a busy conflicting model is waited for (never killed mid-answer), then conflict_busy names it', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a', { groups: ['g'], options: ['fault_token_ms:50', 'fault_tokens:200'] }), 'b.yaml': faultModel('b', { groups: ['g'] }) },
      settings: { eviction_wait: 1 },
    });
    await t.core.commands.load('a');
    const answer = consume(t.core.commands.complete('a', { prompt: 'hi' }));
    await t.waitState('a', 'busy');
    const started = Date.now();
    const err = await rejection(t.core.commands.load('b'));
    expect(err.code).toBe('conflict_busy');
    expect(err.message).toContain('a');
    expect(Date.now() - started).toBeGreaterThanOrEqual(900);
    expect(t.row('a').state).toBe('busy');
    await t.core.commands.unload('a', { force: true });
    expect((await answer).error?.code).toBe('unloaded');
  });

  it('L4: a busy conflicting model that finishes within eviction_wait is unloaded and the load goes on', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a', { groups: ['g'], options: ['fault_token_ms:20', 'fault_tokens:20'] }), 'b.yaml': faultModel('b', { groups: ['g'] }) },
      settings: { eviction_wait: 10 },
    });
    await t.core.commands.load('a');
    const answer = consume(t.core.commands.complete('a', { prompt: 'hi' }));
    await t.waitState('a', 'busy');
    await t.core.commands.load('b');
    const done = await answer;
    expect(done.error).toBeNull();
    expect(done.text).toContain('tok19');
    expect(t.row('a').state).toBe('unloaded');
  });

  it('L5: a pinned conflicting model fails the load at once with pinned_conflict naming it and the group', async () => {
    const t = await startTestCore({ configs: { 'p.yaml': faultModel('p', { groups: ['gpu'], pinned: true }), 'x.yaml': faultModel('x', { groups: ['gpu'] }) } });
    await t.core.commands.load('p');
    const load = t.core.commands.load('x');
    expect(await beforeAnyIo(load.catch(() => {}))).toBe(true);
    const err = await rejection(load);
    expect(err.code).toBe('pinned_conflict');
    expect(err.message).toMatch(/p is pinned and shares group gpu/);
    expect(t.row('p').state).toBe('ready');
    expect(t.row('x').state).toBe('failed');
  });

  it('L6: over max_active_models the least recently used idle model is unloaded; the cap is never exceeded', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b'), 'c.yaml': faultModel('c') },
      settings: { max_active_models: 2 },
    });
    let maxOccupying = 0;
    t.core.events.on(() => {
      const n = t.core.commands.snapshot().models.filter((m) => ['starting', 'loading', 'ready', 'busy', 'stopping'].includes(m.state)).length;
      maxOccupying = Math.max(maxOccupying, n);
    });
    await t.core.commands.load('a');
    await t.core.commands.load('b');
    await t.core.commands.load('a'); // a is now most recently used
    expect(t.core.commands.plan('c').unloads.map((u) => u.name)).toEqual(['b']);
    await t.core.commands.load('c');
    expect(t.core.commands.snapshot().lru).toEqual(['a', 'c']);
    expect(maxOccupying).toBeLessThanOrEqual(2);
    expect(t.core.commands.journal()[0]).toMatchObject({ model: 'b', reason: 'lru', by: 'c', sentence: 'unloaded b: least recently used, to make room for c (max 2 models)' });
  });

  it('L6: when only busy models could make room the load waits, then fails with slots_busy', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:50', 'fault_tokens:100'] }), 'b.yaml': faultModel('b') },
      settings: { max_active_models: 1, eviction_wait: 1 },
    });
    await t.core.commands.load('a');
    const answer = consume(t.core.commands.complete('a', { prompt: 'x' }));
    await t.waitState('a', 'busy');
    const err = await rejection(t.core.commands.load('b'));
    expect(err.code).toBe('slots_busy');
    expect(t.row('a').state).toBe('busy');
    await t.core.commands.unload('a', { force: true });
    await answer;
  });

  it('L6: when every occupying model is pinned the load fails at once with slots_pinned', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a', { pinned: true }), 'b.yaml': faultModel('b') },
      settings: { max_active_models: 1 },
    });
    await t.core.commands.load('a');
    const err = await rejection(t.core.commands.load('b'));
    expect(err.code).toBe('slots_pinned');
    expect(err.message).toContain('a');
  });

  it('L8: an unknown backend gives a clear error on that model only', async () => {
    const t = await startTestCore({ configs: { 'u.yaml': faultModel('u', { backend: 'nope' }), 'ok.yaml': faultModel('ok') } });
    const err = await rejection(t.core.commands.load('u'));
    expect(err.message).toMatch(/unknown backend "nope"/);
    await t.core.commands.load('ok');
  });

  it('L10: a backend that prints an error and exits at start fails the load at once with its exit code and stderr line', async () => {
    const t = await startTestCore({
      configs: { 'c.yaml': faultModel('c', { backend: 'crashy' }) },
      faultBackends: { crashy: { FAULT_START: 'crash' } },
    });
    const started = Date.now();
    const err = await rejection(t.core.commands.load('c'));
    expect(Date.now() - started).toBeLessThan(2000);
    expect(err.code).toBe('backend_failed');
    expect(err.message).toContain('code 3');
    expect(err.message).toContain('fatal: cannot open device /dev/fake0');
    const row = t.row('c');
    expect(row.state).toBe('failed');
    expect(row.failure?.message).toContain('fatal: cannot open device');
  });

  it('L10: a backend that never answers Health fails after start_timeout and leaves no process', async () => {
    const t = await startTestCore({ configs: { 'h.yaml': faultModel('h', { backend: 'hang' }) }, faultBackends: { hang: { FAULT_START: 'hang' } }, settings: { start_timeout: 1 } });
    const err = await rejection(t.core.commands.load('h'));
    expect(err.code).toBe('timeout');
    expect(err.message).toMatch(/start_timeout/);
  });

  it('L11: LoadModel carries the name, absolute file, models dir and the config load parameters', async () => {
    const t = await startTestCore({
      configs: { 'm.yaml': 'name: m\nbackend: fault\nparameters:\n  model: m.gguf\n  seed: 42\ncontext_size: 1024\nthreads: 1\nmmap: false\ngpu_layers: 3\noptions: ["parallel:2", "foo:bar"]\n' },
      ggufs: { m: 1 },
    });
    await t.core.commands.load('m');
    const line = t.core.commands.logs('m').find((l) => l.text.includes('LoadModel request'));
    const req = JSON.parse(line!.text.slice(line!.text.indexOf('{')));
    expect(req).toMatchObject({ Model: 'm', ModelFile: `${t.modelsDir}/m.gguf`, ModelPath: t.modelsDir, ContextSize: 1024, Threads: 1, Seed: 42, MMap: false, NGPULayers: 3, Options: ['parallel:2', 'foo:bar'] });
  });

  it('V13: an external backend gets LocalAI\'s GPU keys in ModelOptions; no gpu_layers means all layers', async () => {
    const t = await startTestCore({
      configs: { 'g.yaml': 'name: g\nbackend: fault\nparameters:\n  model: g.gguf\nmmlock: true\nflash_attention: true\nmain_gpu: "1"\ntensor_split: "3,1"\nno_kv_offloading: true\n' },
      ggufs: { g: 1 },
    });
    await t.core.commands.load('g');
    const line = t.core.commands.logs('g').find((l) => l.text.includes('LoadModel request'));
    const req = JSON.parse(line!.text.slice(line!.text.indexOf('{')));
    expect(req).toMatchObject({ NGPULayers: 99999999, MMap: true, MLock: true, FlashAttention: 'on', MainGPU: '1', TensorSplit: '3,1', NoKVOffload: true });
  });

  it('L11: LoadModel success=false stops the process and surfaces the backend message', async () => {
    const t = await startTestCore({ configs: { 'f.yaml': faultModel('f', { options: ['fault_load_fail:unsupported quantization Q1_X'] }) } });
    const err = await rejection(t.core.commands.load('f'));
    expect(err.code).toBe('backend_failed');
    expect(err.message).toContain('unsupported quantization Q1_X');
    expect(t.row('f').pid).toBeNull();
  });

  it('L11: a backend that crashes during LoadModel is reported with its exit code and stderr', async () => {
    const t = await startTestCore({ configs: { 'f.yaml': faultModel('f', { options: ['fault_load_crash:1'] }) } });
    const err = await rejection(t.core.commands.load('f'));
    expect(err.message).toContain('exit code 4');
    expect(err.message).toContain('fatal: model load crashed');
  });

  it('L12: cancelling a load stops the process; everyone waiting gets cancelled; the model is unloaded', async () => {
    const t = await startTestCore({ configs: { 's.yaml': faultModel('s', { options: ['fault_load_ms:5000'] }) } });
    const waiting = [t.core.commands.load('s'), t.core.commands.load('s')];
    const row = await t.waitState('s', 'loading');
    const pid = row.pid;
    t.core.commands.cancelLoad('s');
    const errs = await Promise.all(waiting.map(rejection));
    expect(errs.map((e) => e.code)).toEqual(['cancelled', 'cancelled']);
    expect(t.row('s').state).toBe('unloaded');
    if (pid) await waitUntil(() => !pidAlive(pid), 'the cancelled backend to exit');
  });

  it('L12: a caller that gives up does not stop the load; the next one finds it further along', async () => {
    const t = await startTestCore({ configs: { 's.yaml': faultModel('s', { options: ['fault_load_ms:800'] }) } });
    const ac = new AbortController();
    const first = t.core.commands.load('s', { signal: ac.signal, origin: 'api' });
    await t.waitState('s', 'loading');
    ac.abort();
    expect((await rejection(first)).code).toBe('cancelled');
    expect(t.row('s').state).toBe('loading');
    const row = await t.core.commands.load('s');
    expect(row.state).toBe('ready');
  });

  it('L13: after an on-demand load fails, on-demand loads fail fast with cooldown; a user load always retries', async () => {
    const t = await startTestCore({ configs: { 'f.yaml': faultModel('f', { options: ['fault_load_fail:broken'] }) } });
    expect((await rejection(t.core.commands.load('f', { origin: 'api' }))).code).toBe('backend_failed');
    const cool = await rejection(t.core.commands.load('f', { origin: 'api' }));
    expect(cool.code).toBe('cooldown');
    expect(cool.retryAfter).toBeGreaterThan(0);
    expect(cool.retryAfter).toBeLessThanOrEqual(10);
    expect((await rejection(t.core.commands.load('f', { origin: 'user' }))).code).toBe('backend_failed');
  });

  it('L14: a load goes unloaded -> starting -> loading -> ready, with progress and elapsed time', async () => {
    const t = await startTestCore({ configs: { 'p.yaml': faultModel('p', { options: ['fault_load_ms:1200', 'fault_progress:1'] }) } });
    const loading = t.core.commands.load('p');
    const row = await waitUntil(() => {
      const r = t.row('p');
      return r.state === 'loading' && r.progress !== null && r.progress > 0 ? r : null;
    }, 'load progress');
    expect(row.loadStartedAt).not.toBeNull();
    await loading;
    expect(t.states('p')).toEqual(['starting', 'loading', 'ready']);
    const progress = t.events.flatMap((e) => (e.type === 'model' && e.row.name === 'p' && e.row.progress !== null ? [e.row.progress] : []));
    expect(progress.length).toBeGreaterThan(1);
    expect([...progress].sort((a, b) => a - b)).toEqual(progress);
    await t.core.commands.unload('p');
    expect(t.states('p').slice(-2)).toEqual(['stopping', 'unloaded']);
  });

  it('Trust 17: "last used" and the LRU order survive a restart of the app', async () => {
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b') } });
    await t.core.commands.load('b');
    await t.core.commands.load('a');
    const before = [t.row('a').lastUsed, t.row('b').lastUsed];
    await t.core.dispose();
    const again = await createCore({ dataDir: t.dataDir, overrides: { models_dir: t.modelsDir, warm_standby: false }, demoModel: false });
    try {
      expect([again.commands.row('a').lastUsed, again.commands.row('b').lastUsed]).toEqual(before);
      expect(before.every((u) => u !== null)).toBe(true);
    } finally {
      await again.dispose();
    }
  });
});
