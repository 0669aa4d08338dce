/** Events, journal, snapshot and the dry run (E1-E3) as the UI and API see them. */
import { afterEach, describe, expect, it } from 'vitest';
import { disposeAll, faultModel, startTestCore } from './harness';

afterEach(disposeAll);

describe('events and snapshot', () => {
  it('E1: every state change emits an event carrying the full new row', async () => {
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a', { groups: ['g'] }) } });
    await t.core.commands.load('a');
    await t.core.commands.unload('a');
    const rows = t.events.flatMap((e) => (e.type === 'model' && e.row.name === 'a' ? [e.row] : []));
    expect(rows.map((r) => r.state).filter((s, i, all) => all[i - 1] !== s)).toEqual(['starting', 'loading', 'ready', 'stopping', 'unloaded']);
    const ready = rows.find((r) => r.state === 'ready')!;
    for (const key of ['name', 'status', 'error', 'backend', 'file', 'sizeBytes', 'groups', 'pinned', 'state', 'failure', 'pid', 'address', 'loadedAt', 'loadStartedAt', 'lastUsed', 'inFlight', 'queued', 'progress', 'memory']) {
      expect(ready).toHaveProperty(key);
    }
    expect(ready.groups).toEqual(['g']);
    expect(ready.pid).toBeGreaterThan(0);
    expect(ready.address).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(Date.parse(ready.loadedAt!)).not.toBeNaN();
  });

  it('E2: every unload is journaled with a reason code, a sentence and who caused it', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a', { groups: ['gpu-heavy'] }), 'b.yaml': faultModel('b'), 'c.yaml': faultModel('c', { groups: ['gpu-heavy'] }) },
      settings: { max_active_models: 2 },
    });
    await t.core.commands.load('a');
    await t.core.commands.load('b');
    await t.core.commands.load('c'); // group: a goes
    await t.core.commands.unload('b');
    const journal = t.core.commands.journal();
    expect(journal.map((j) => [j.model, j.reason, j.by, j.sentence])).toEqual([
      ['a', 'group', 'c', 'unloaded a: shares group gpu-heavy with c'],
      ['b', 'user', null, 'unloaded b: by the user'],
    ]);
    expect(journal.every((j) => !Number.isNaN(Date.parse(j.at)))).toBe(true);
    expect(t.events.filter((e) => e.type === 'journal')).toHaveLength(2);
  });

  it('E3: the snapshot has models, LRU order, groups, pending and settings; plan() is a dry run that changes nothing', async () => {
    const t = await startTestCore({
      configs: { 'a.yaml': faultModel('a', { groups: ['g'] }), 'b.yaml': faultModel('b'), 'c.yaml': faultModel('c', { groups: ['g'] }), 'p.yaml': faultModel('p', { pinned: true, groups: ['h'] }), 'q.yaml': faultModel('q', { groups: ['h'] }) },
      settings: { max_active_models: 3 },
    });
    await t.core.commands.load('a');
    await t.core.commands.load('b');
    await t.core.commands.load('p');
    const snap = t.core.commands.snapshot();
    expect(snap.lru).toEqual(['a', 'b', 'p']);
    expect(snap.groups).toEqual({ g: ['a', 'c'], h: ['p', 'q'] });
    expect(snap.pending).toEqual([]);
    expect(snap.settings.max_active_models).toBe(3);
    expect(snap.models.map((m) => m.name)).toEqual(['a', 'b', 'c', 'p', 'q']);

    expect(t.core.commands.plan('c')).toEqual({ model: 'c', ok: true, unloads: [{ name: 'a', reason: 'group', sentence: 'unloaded a: shares group g with c' }], failure: null });
    expect(t.core.commands.plan('q')).toMatchObject({ model: 'q', ok: false, unloads: [], failure: { code: 'pinned_conflict' } });
    expect(t.core.commands.plan('b')).toEqual({ model: 'b', ok: true, unloads: [], failure: null });
    expect(t.core.commands.plan('nope')).toMatchObject({ ok: false, failure: { code: 'not_found' } });
    // Nothing moved.
    expect(t.core.commands.snapshot().lru).toEqual(['a', 'b', 'p']);
    expect(t.core.commands.journal()).toEqual([]);
  });
});
