/**
 * The loader's behaviour table (L1-L7, L12, U3, W1, W2) run through the `llama-server` backend kind
 * (Engine 1: "the loader's existing behaviour tests run against this backend kind too"), once per
 * row of a table of llama-server programs: the stand-in speaking its HTTP API (everywhere) and the
 * real binary (where one is built; skipped, saying so, elsewhere).
 *
 * test/loader.test.ts drives these behaviours through the fault backend's options; a llama-server
 * takes none, so the cases here make the same situations with what works on any process:
 *  - a model that answers for as long as the test needs: its process is frozen (SIGSTOP) before the
 *    request is sent, so the request is in flight and the model busy until the test thaws it;
 *  - a stuck backend: the same freeze, left alone until stall_timeout;
 *  - a crash: SIGKILL;
 *  - a slow load: models named `slow-*` are started by a wrapper that waits before it execs the
 *    program (its /health refuses connections meanwhile, as a llama-server that is still mapping a
 *    big model does).
 */
import { chmodSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { Settings } from '../src/shared/model';
import { locateLlamaServer } from '../src/main/core/backends/llamaServer/locate';
import { defaultDataDir } from '../src/main/core/paths';
import { beforeAnyIo, consume, disposeAll, pidAlive, rejection, startTestCore, waitUntil, type TestCore } from './harness';

const fake = resolve(__dirname, 'fixtures', 'fakeLlamaServer.mjs');
const where = locateLlamaServer({ configured: process.env.LOADOUT_LLAMA_SERVER ?? '', dataDir: defaultDataDir() });
const real = where.found?.path ?? null;
if (!real) console.log(`test/loaderLlamaServer.test.ts: the rows for the real llama-server are skipped: ${where.found ? '' : where.why}`);

/** How long a `slow-*` model's wrapper waits before it starts the program. */
const SLOW_START_S = 2;

const dirs: string[] = [];
const frozen = new Set<number>();
afterEach(async () => {
  // Thaw first, so nothing a test froze outlives it even if the core's SIGKILL missed it.
  for (const pid of frozen) signal(pid, 'SIGCONT');
  frozen.clear();
  await disposeAll();
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function signal(pid: number, sig: NodeJS.Signals): void {
  try {
    process.kill(pid, sig);
  } catch {
    // already gone
  }
}

/** A llama-server program for `llama_server_path`: `exec`s the target, after a wait for slow-* models. */
function program(target: string[]): string {
  const dir = mkdtempSync(join(os.tmpdir(), 'loadout-lsloader-'));
  dirs.push(dir);
  const path = join(dir, 'llama-server');
  const quoted = target.map((a) => `'${a}'`).join(' ');
  writeFileSync(
    path,
    [
      '#!/bin/sh',
      'alias=; prev=',
      'for a in "$@"; do [ "$prev" = "--alias" ] && alias="$a"; prev="$a"; done',
      `case "$alias" in slow-*) sleep ${SLOW_START_S} ;; esac`,
      `exec ${quoted} "$@"`,
      '',
    ].join('\n'),
  );
  chmodSync(path, 0o755);
  return path;
}

interface Kind {
  name: string;
  /** The program to run, or null where there is none (the row is skipped). */
  target: string[] | null;
}

const kinds: Kind[] = [
  // Pieces 50 ms apart: an answer takes a few hundred ms, like a short real one.
  { name: 'the stand-in', target: ['/usr/bin/env', 'FAKE_LS_TOKEN_MS=50', process.execPath, fake] },
  { name: 'the real binary', target: real ? [real] : null },
];

const occupying = ['starting', 'loading', 'ready', 'busy', 'stopping'];

describe.skipIf(process.platform === 'win32')('the loader\'s behaviours with backend: llama-server', () => {
  for (const kind of kinds) {
    describe.skipIf(!kind.target)(kind.name, () => {
      /** A core whose models all run on this row's llama-server. */
      async function start(models: Record<string, { groups?: string[]; pinned?: boolean; ttl?: number }>, settings: Partial<Settings> = {}): Promise<TestCore> {
        const configs: Record<string, string> = {};
        const ggufs: Record<string, number> = {};
        let seed = 1;
        for (const [name, o] of Object.entries(models)) {
          const lines = [`name: ${name}`, 'backend: llama-server', 'parameters:', `  model: ${name}.gguf`, 'context_size: 256', 'threads: 1'];
          if (o.groups) lines.push(`concurrency_groups: [${o.groups.join(', ')}]`);
          if (o.pinned) lines.push('pinned: true');
          if (o.ttl !== undefined) lines.push(`ttl: ${o.ttl}`);
          configs[`${name}.yaml`] = `${lines.join('\n')}\n`;
          ggufs[name] = seed++;
        }
        return startTestCore({ configs, ggufs, settings: { llama_server_path: program(kind.target!), ...settings } });
      }

      /** Freezes the model's llama-server: requests sent now stay in flight until thaw (or a kill). */
      function freeze(t: TestCore, name: string): number {
        const pid = t.row(name).pid!;
        expect(pidAlive(pid)).toBe(true);
        frozen.add(pid);
        signal(pid, 'SIGSTOP');
        return pid;
      }

      function thaw(pid: number): void {
        frozen.delete(pid);
        signal(pid, 'SIGCONT');
      }

      /** A request to a frozen model: it is in flight (the model busy) and nothing comes back. */
      async function busyOn(t: TestCore, name: string, maxTokens = 8) {
        const pid = freeze(t, name);
        const answer = consume(t.core.commands.complete(name, { prompt: 'Once upon a time', max_tokens: maxTokens, temperature: 0 }));
        await t.waitState(name, 'busy');
        return { pid, answer };
      }

      it('L1: loading a resident model returns at once, refreshes its LRU position and starts nothing', async () => {
        const t = await start({ a: {}, b: {} }, { max_active_models: 2 });
        await t.core.commands.load('a');
        await t.core.commands.load('b');
        expect(t.core.commands.snapshot().lru).toEqual(['a', 'b']);
        const pid = t.row('a').pid;
        expect(await beforeAnyIo(t.core.commands.load('a'))).toBe(true);
        expect(t.row('a').pid).toBe(pid);
        expect(t.core.commands.snapshot().lru).toEqual(['b', 'a']);
        expect(t.core.commands.journal()).toEqual([]);
      });

      it('L2: N concurrent loads of one model start exactly one llama-server and share the result', async () => {
        const t = await start({ 'slow-a': {} });
        const rows = await Promise.all(Array.from({ length: 8 }, () => t.core.commands.load('slow-a')));
        expect(new Set(rows.map((r) => r.pid)).size).toBe(1);
        expect(pidAlive(rows[0]!.pid!)).toBe(true);
        const spawns = t.core.commands.logs('slow-a').filter((l) => l.stream === 'loadout' && l.text.startsWith('starting backend'));
        expect(spawns).toHaveLength(1);
      });

      it('L3: loads of different, non-conflicting models run side by side', async () => {
        const t = await start({ 'slow-a': {}, 'slow-b': {} });
        let together = false;
        t.core.events.on(() => {
          if (t.core.commands.snapshot().models.filter((m) => m.state === 'loading').length === 2) together = true;
        });
        await Promise.all([t.core.commands.load('slow-a'), t.core.commands.load('slow-b')]);
        expect(together).toBe(true);
      });

      it('L4: a cold load first unloads the models sharing a group and waits for their llama-server to exit', async () => {
        const t = await start({ a: { groups: ['gpu-heavy'] }, b: { groups: ['gpu-heavy', 'x'] }, c: { groups: ['other'] } });
        const a = await t.core.commands.load('a');
        await t.core.commands.load('c');
        expect(t.core.commands.plan('b').unloads).toEqual([{ name: 'a', reason: 'group', sentence: 'unloaded a: shares group gpu-heavy with b' }]);
        await t.core.commands.load('b');
        expect(pidAlive(a.pid!)).toBe(false);
        expect(t.row('a').state).toBe('unloaded');
        expect(t.row('c').state).toBe('ready');
        expect(t.core.commands.journal()).toMatchObject([{ model: 'a', reason: 'group', by: 'b', sentence: 'unloaded a: shares group gpu-heavy with b' }]);
        const aStopped = t.events.findIndex((e) => e.type === 'model' && e.row.name === 'a' && e.row.state === 'unloaded');
        const bStarting = t.events.findIndex((e) => e.type === 'model' && e.row.name === 'b' && e.row.state === 'starting');
        expect(aStopped).toBeGreaterThanOrEqual(0);
        expect(aStopped).toBeLessThan(bStarting);
      });

      it('L4: a busy conflicting model is waited for (never killed mid-answer), then conflict_busy names it', async () => {
        const t = await start({ a: { groups: ['g'] }, b: { groups: ['g'] } }, { eviction_wait: 1 });
        await t.core.commands.load('a');
        const { pid, answer } = await busyOn(t, 'a');
        const started = Date.now();
        const err = await rejection(t.core.commands.load('b'));
        expect(err.code).toBe('conflict_busy');
        expect(err.message).toContain('a');
        expect(Date.now() - started).toBeGreaterThanOrEqual(900);
        expect(t.row('a').state).toBe('busy');
        expect(pidAlive(pid)).toBe(true);
        await t.core.commands.unload('a', { force: true });
        expect((await answer).error?.code).toBe('unloaded');
        expect(pidAlive(pid)).toBe(false);
      });

      it('L4: a busy conflicting model that finishes within eviction_wait is unloaded after its answer and the load goes on', async () => {
        const t = await start({ a: { groups: ['g'] }, b: { groups: ['g'] } }, { eviction_wait: 30 });
        await t.core.commands.load('a');
        const { pid, answer } = await busyOn(t, 'a', 6);
        const loading = t.core.commands.load('b');
        // b is waiting on a: a must not be touched while it answers.
        await new Promise((r) => setTimeout(r, 300));
        expect(t.row('a').state).toBe('busy');
        expect(t.row('b').state).not.toBe('ready');
        thaw(pid);
        await loading;
        const done = await answer;
        expect(done.error).toBeNull();
        expect(done.text.length).toBeGreaterThan(0);
        expect(t.row('a').state).toBe('unloaded');
        expect(pidAlive(pid)).toBe(false);
        expect(t.core.commands.journal('a')[0]).toMatchObject({ reason: 'group', by: 'b' });
      });

      it('L5: a pinned conflicting model fails the load at once with pinned_conflict, unloading nothing', async () => {
        const t = await start({ p: { groups: ['gpu'], pinned: true }, x: { groups: ['gpu'] } });
        const p = await t.core.commands.load('p');
        const load = t.core.commands.load('x');
        expect(await beforeAnyIo(load.catch(() => {}))).toBe(true);
        const err = await rejection(load);
        expect(err.code).toBe('pinned_conflict');
        expect(err.message).toMatch(/p is pinned and shares group gpu/);
        expect(t.row('p').state).toBe('ready');
        expect(pidAlive(p.pid!)).toBe(true);
        expect(t.row('x').state).toBe('failed');
      });

      it('L6: over max_active_models the least recently used idle model is unloaded; the cap is never exceeded', async () => {
        const t = await start({ a: {}, b: {}, c: {} }, { max_active_models: 2 });
        let maxOccupying = 0;
        t.core.events.on(() => {
          maxOccupying = Math.max(maxOccupying, t.core.commands.snapshot().models.filter((m) => occupying.includes(m.state)).length);
        });
        await t.core.commands.load('a');
        const b = await t.core.commands.load('b');
        await t.core.commands.load('a');
        expect(t.core.commands.plan('c').unloads.map((u) => u.name)).toEqual(['b']);
        await t.core.commands.load('c');
        expect(t.core.commands.snapshot().lru).toEqual(['a', 'c']);
        expect(pidAlive(b.pid!)).toBe(false);
        expect(maxOccupying).toBeLessThanOrEqual(2);
        expect(t.core.commands.journal()[0]).toMatchObject({ model: 'b', reason: 'lru', by: 'c', sentence: 'unloaded b: least recently used, to make room for c (max 2 models)' });
      });

      it('L6: when only a busy model could make room the load waits, then fails with slots_busy; all pinned fails at once', async () => {
        const t = await start({ a: {}, b: {}, p: { pinned: true } }, { max_active_models: 1, eviction_wait: 1 });
        await t.core.commands.load('a');
        const { answer } = await busyOn(t, 'a');
        expect((await rejection(t.core.commands.load('b'))).code).toBe('slots_busy');
        expect(t.row('a').state).toBe('busy');
        await t.core.commands.unload('a', { force: true });
        expect((await answer).error?.code).toBe('unloaded');
        await t.core.commands.load('p');
        const pinned = await rejection(t.core.commands.load('b'));
        expect(pinned.code).toBe('slots_pinned');
        expect(pinned.message).toContain('p');
      });

      it('L7: the memory budget unloads the least recently used idle model to fit; a model bigger than the budget fails, unloading nothing', async () => {
        const t = await start({ a: {}, b: {}, c: {} });
        await t.core.commands.load('a');
        await t.core.commands.load('b');
        await t.core.commands.load('a');
        // Loaded models count with their measured RSS: wait until both rows have one.
        await waitUntil(() => t.row('a').memory.rssBytes && t.row('b').memory.rssBytes, 'RSS on the rows');
        const held = (n: string) => t.row(n).memory.rssBytes ?? t.row(n).memory.estimateBytes ?? 0;
        const need = t.row('c').memory.estimateBytes!;
        expect(need).toBeGreaterThan(0);
        // Room for c and a, not for b as well (half of b's RSS short of it).
        await t.core.commands.updateSettings({ memory_budget: need + held('a') + Math.floor(held('b') / 2) });
        expect(t.core.commands.plan('c').unloads).toMatchObject([{ name: 'b', reason: 'memory' }]);
        const b = t.row('b').pid!;
        await t.core.commands.load('c');
        expect(t.row('b').state).toBe('unloaded');
        expect(pidAlive(b)).toBe(false);
        expect(t.row('a').state).toBe('ready');
        expect(t.core.commands.journal()[0]).toMatchObject({ model: 'b', reason: 'memory', by: 'c' });
        // A budget smaller than b alone: refused with memory before anything goes.
        await t.core.commands.updateSettings({ memory_budget: Math.floor(need / 2) });
        const err = await rejection(t.core.commands.load('b'));
        expect(err.code).toBe('memory');
        expect(t.row('a').state).toBe('ready');
        expect(t.row('c').state).toBe('ready');
      });

      it('L12: cancelling a load stops the llama-server; everyone waiting gets cancelled; the model is unloaded', async () => {
        const t = await start({ 'slow-s': {} });
        const waiting = [t.core.commands.load('slow-s'), t.core.commands.load('slow-s')];
        const row = await waitUntil(() => (t.row('slow-s').state === 'loading' && t.row('slow-s').pid ? t.row('slow-s') : null), 'the llama-server process to start');
        t.core.commands.cancelLoad('slow-s');
        const errs = await Promise.all(waiting.map(rejection));
        expect(errs.map((e) => e.code)).toEqual(['cancelled', 'cancelled']);
        expect(t.row('slow-s').state).toBe('unloaded');
        await waitUntil(() => !pidAlive(row.pid!), 'the cancelled llama-server to exit');
      });

      it('L12: a caller that gives up does not stop the load; the next one finds it further along', async () => {
        const t = await start({ 'slow-s': {} });
        const ac = new AbortController();
        const first = t.core.commands.load('slow-s', { signal: ac.signal, origin: 'api' });
        await t.waitState('slow-s', 'loading');
        ac.abort();
        expect((await rejection(first)).code).toBe('cancelled');
        expect(t.row('slow-s').state).toBe('loading');
        const row = await t.core.commands.load('slow-s');
        expect(row.state).toBe('ready');
        expect(pidAlive(row.pid!)).toBe(true);
      });

      it('L11/L13: a damaged model file fails the load with llama-server\'s cause, not its last line; on-demand loads then cool down', async () => {
        const t = await start({ bad: {} });
        writeFileSync(join(t.modelsDir, 'bad.gguf'), Buffer.from('this is not a GGUF file at all'));
        const err = await rejection(t.core.commands.load('bad', { origin: 'api' }));
        expect(err.code).toBe('backend_failed');
        expect(err.message).toContain("expected 'GGUF'");
        const row = t.row('bad');
        expect(row).toMatchObject({ state: 'failed', pid: null });
        expect(row.failure?.message).toContain("expected 'GGUF'");
        const cool = await rejection(t.core.commands.load('bad', { origin: 'api' }));
        expect(cool.code).toBe('cooldown');
        expect((await rejection(t.core.commands.load('bad', { origin: 'user' }))).code).toBe('backend_failed');
      });

      it('L14/U1: a load goes starting -> loading -> ready; a graceful unload waits for the answer in flight, then stops the process', async () => {
        const t = await start({ a: {} });
        const { pid } = await t.core.commands.load('a');
        expect(t.states('a')).toEqual(['starting', 'loading', 'ready']);
        const busy = await busyOn(t, 'a');
        const unloading = t.core.commands.unload('a');
        expect(t.row('a').state).toBe('stopping');
        await new Promise((r) => setTimeout(r, 300));
        expect(pidAlive(pid!)).toBe(true);
        thaw(busy.pid);
        const done = await busy.answer;
        await unloading;
        expect(done.error).toBeNull();
        expect(done.text.length).toBeGreaterThan(0);
        expect(pidAlive(pid!)).toBe(false);
        expect(t.states('a').slice(-3)).toEqual(['busy', 'stopping', 'unloaded']);
        expect(t.core.commands.journal('a')[0]).toMatchObject({ reason: 'user', sentence: 'unloaded a: by the user' });
      });

      it('U3: a llama-server killed mid-request is noticed at once: failed with the signal, journal crashed; the next load starts a new one', async () => {
        const t = await start({ a: {} });
        await t.core.commands.load('a');
        const { pid, answer } = await busyOn(t, 'a');
        const killedAt = Date.now();
        signal(pid, 'SIGKILL');
        const failed = await t.waitState('a', 'failed');
        expect(Date.now() - killedAt).toBeLessThan(1000);
        expect(failed.failure).toMatchObject({ code: 'backend_crashed', signal: 'SIGKILL' });
        expect((await answer).error?.code).toBe('backend_crashed');
        expect(t.core.commands.journal('a')[0]).toMatchObject({ reason: 'crashed' });
        const again = await t.core.commands.load('a');
        expect(again.state).toBe('ready');
        expect(again.pid).not.toBe(pid);
        expect(pidAlive(again.pid!)).toBe(true);
      });

      it('U3: a pinned model whose llama-server crashes is restarted automatically', async () => {
        const t = await start({ p: { pinned: true } });
        const { pid } = await t.core.commands.load('p');
        signal(pid!, 'SIGKILL');
        const back = await waitUntil(() => (t.row('p').state === 'ready' && t.row('p').pid !== pid ? t.row('p') : null), 'the pinned model to come back');
        expect(pidAlive(back.pid!)).toBe(true);
        expect(t.states('p')).toContain('failed');
        expect(t.core.commands.journal('p')[0].reason).toBe('crashed');
      });

      it('W1: a model idle for idle_timeout is unloaded gracefully with reason idle; pinned ones stay', async () => {
        const t = await start({ a: {}, p: { pinned: true } }, { idle_timeout: 1 });
        const a = await t.core.commands.load('a');
        await t.core.commands.load('p');
        await t.waitState('a', 'unloaded', 5000);
        expect(pidAlive(a.pid!)).toBe(false);
        expect(t.core.commands.journal('a')[0]).toMatchObject({ reason: 'idle' });
        expect(t.row('p').state).toBe('ready');
      });

      it('W2: a request that gets nothing for stall_timeout is stuck: the llama-server is killed, journal stalled; a working one is not', async () => {
        const t = await start({ h: {}, l: {} }, { stall_timeout: 1 });
        await t.core.commands.load('h');
        await t.core.commands.load('l');
        const { pid, answer } = await busyOn(t, 'h');
        const hung = await answer;
        expect(hung.error?.code).toBe('timeout');
        expect(hung.error?.message).toContain('stall_timeout');
        expect(t.core.commands.journal('h')[0]).toMatchObject({ reason: 'stalled' });
        await waitUntil(() => !pidAlive(pid), 'the stuck llama-server to be killed');
        const ok = await consume(t.core.commands.complete('l', { prompt: 'Once upon a time', max_tokens: 8, temperature: 0 }));
        expect(ok.error).toBeNull();
        expect(t.row('l').state).toBe('ready');
        expect(t.core.commands.journal('l')).toEqual([]);
      });
    });
  }
});
