import { describe, expect, it } from 'vitest';
import type { PolicyModel, PolicyTarget } from './policy';
import { decideAdmission, settingsSurplus } from './policy';

const m = (name: string, over: Partial<PolicyModel> = {}): PolicyModel => ({
  name,
  state: 'ready',
  groups: [],
  pinned: false,
  inFlight: 0,
  lastUsed: 0,
  remote: false,
  address: null,
  memoryBytes: 0,
  ...over,
});
const target = (name: string, over: Partial<PolicyTarget> = {}): PolicyTarget => ({ name, groups: [], remote: false, address: null, needBytes: 0, ...over });
const limits = (over: Partial<{ max_active_models: number; memory_budget: number; eviction_wait: number }> = {}) => ({
  max_active_models: 0,
  memory_budget: 0,
  eviction_wait: 30,
  ...over,
});

describe('admission policy', () => {
  it('admits when nothing stands in the way (no groups, no cap)', () => {
    expect(decideAdmission([m('a'), m('b')], target('x'), limits())).toEqual({ kind: 'admit' });
  });

  it('L4: unloads every idle model sharing a group, oldest first, even with no other limit', () => {
    const d = decideAdmission(
      [m('a', { groups: ['gpu'], lastUsed: 20 }), m('b', { groups: ['gpu', 'x'], lastUsed: 10 }), m('c', { groups: ['other'] })],
      target('x1', { groups: ['gpu'] }),
      limits(),
    );
    expect(d.kind).toBe('make_room');
    if (d.kind !== 'make_room') return;
    expect(d.unloads.map((u) => [u.name, u.reason])).toEqual([['b', 'group'], ['a', 'group']]);
    expect(d.unloads[0].sentence).toBe('unloaded b: shares group gpu with x1');
  });

  it('L4: a busy conflicting model is waited for, with conflict_busy naming it on timeout', () => {
    const d = decideAdmission([m('a', { groups: ['gpu'], state: 'busy', inFlight: 1 })], target('x', { groups: ['gpu'] }), limits());
    expect(d.kind).toBe('make_room');
    if (d.kind !== 'make_room') return;
    expect(d.unloads).toEqual([]);
    expect(d.waitIdle.map((u) => u.name)).toEqual(['a']);
    expect(d.timeout?.code).toBe('conflict_busy');
    expect(d.timeout?.message).toContain('a');
  });

  it('L4: a conflicting model that is already stopping is waited for until it exits', () => {
    const d = decideAdmission([m('a', { groups: ['gpu'], state: 'stopping' })], target('x', { groups: ['gpu'] }), limits());
    expect(d).toMatchObject({ kind: 'make_room', unloads: [], waitExit: ['a'], waitIdle: [] });
  });

  it('L5: a pinned conflict fails at once naming the model and the group', () => {
    const d = decideAdmission([m('p', { groups: ['gpu'], pinned: true })], target('x', { groups: ['gpu'] }), limits());
    expect(d.kind).toBe('fail');
    if (d.kind !== 'fail') return;
    expect(d.code).toBe('pinned_conflict');
    expect(d.message).toContain('p');
    expect(d.message).toContain('gpu');
  });

  it('L6: over the cap, unloads least recently used idle models, skipping pinned and busy', () => {
    const d = decideAdmission(
      [
        m('old-pinned', { lastUsed: 1, pinned: true }),
        m('old-busy', { lastUsed: 2, state: 'busy', inFlight: 1 }),
        m('older', { lastUsed: 3 }),
        m('newer', { lastUsed: 4 }),
      ],
      target('x'),
      limits({ max_active_models: 3 }),
    );
    expect(d.kind).toBe('make_room');
    if (d.kind !== 'make_room') return;
    expect(d.unloads.map((u) => u.name)).toEqual(['older', 'newer']);
    expect(d.unloads[0].sentence).toBe('unloaded older: least recently used, to make room for x (max 3 models)');
  });

  it('L6: only busy models could make room: wait, then slots_busy', () => {
    const d = decideAdmission([m('a', { state: 'busy', inFlight: 2 }), m('b', { pinned: true })], target('x'), limits({ max_active_models: 2 }));
    expect(d.kind).toBe('make_room');
    if (d.kind !== 'make_room') return;
    expect(d.waitIdle.map((u) => u.name)).toEqual(['a']);
    expect(d.timeout?.code).toBe('slots_busy');
  });

  it('L6: every occupying model pinned: slots_pinned at once', () => {
    const d = decideAdmission([m('a', { pinned: true }), m('b', { pinned: true })], target('x'), limits({ max_active_models: 2 }));
    expect(d).toMatchObject({ kind: 'fail', code: 'slots_pinned' });
  });

  it('L6: a group unload also frees the slot it held (no double eviction)', () => {
    const d = decideAdmission([m('a', { groups: ['g'], lastUsed: 5 }), m('b', { lastUsed: 1 })], target('x', { groups: ['g'] }), limits({ max_active_models: 2 }));
    expect(d.kind).toBe('make_room');
    if (d.kind !== 'make_room') return;
    expect(d.unloads.map((u) => u.name)).toEqual(['a']);
  });

  it('L6: models stopping or starting count toward the cap (I1)', () => {
    const d = decideAdmission([m('a', { state: 'starting' }), m('b', { state: 'stopping' })], target('x'), limits({ max_active_models: 2 }));
    expect(d.kind).toBe('make_room');
    if (d.kind !== 'make_room') return;
    expect(d.waitExit).toContain('b');
    expect(d.unloads).toEqual([]);
  });

  it('U6: remote models do not count toward the cap, but two on one address conflict', () => {
    expect(decideAdmission([m('r', { remote: true, address: 'h:1' })], target('x'), limits({ max_active_models: 1 }))).toEqual({ kind: 'admit' });
    const d = decideAdmission([m('r', { remote: true, address: 'h:1' })], target('r2', { remote: true, address: 'h:1' }), limits());
    expect(d.kind).toBe('make_room');
    if (d.kind !== 'make_room') return;
    expect(d.unloads[0].name).toBe('r');
    expect(d.unloads[0].sentence).toContain('same remote backend');
  });

  it('L7: memory budget unloads LRU idle models until the need fits, else fails with the numbers', () => {
    const GiB = 1024 ** 3;
    const models = [m('a', { lastUsed: 1, memoryBytes: 2 * GiB }), m('b', { lastUsed: 2, memoryBytes: 2 * GiB })];
    const d = decideAdmission(models, target('x', { needBytes: 3 * GiB }), limits({ memory_budget: 6 * GiB }));
    expect(d.kind).toBe('make_room');
    if (d.kind !== 'make_room') return;
    expect(d.unloads.map((u) => [u.name, u.reason])).toEqual([['a', 'memory']]);
    const tooBig = decideAdmission(models, target('x', { needBytes: 7 * GiB }), limits({ memory_budget: 6 * GiB }));
    expect(tooBig).toMatchObject({ kind: 'fail', code: 'memory' });
    if (tooBig.kind === 'fail') expect(tooBig.message).toMatch(/needs 7\.0 GiB, budget 6\.0 GiB, in use 4\.0 GiB/);
    const pinned = decideAdmission(models.map((x) => ({ ...x, pinned: true })), target('x', { needBytes: 3 * GiB }), limits({ memory_budget: 6 * GiB }));
    expect(pinned).toMatchObject({ kind: 'fail', code: 'memory' });
  });

  it('L7 (Trust 5): models already stopping free their memory: the load waits for them instead of refusing', () => {
    const GiB = 1024 ** 3;
    const stopping = [m('a', { state: 'stopping', memoryBytes: 2 * GiB }), m('b', { state: 'stopping', memoryBytes: 2 * GiB })];
    const d = decideAdmission(stopping, target('x', { needBytes: 3 * GiB }), limits({ memory_budget: 4 * GiB }));
    expect(d).toMatchObject({ kind: 'make_room', unloads: [], waitExit: ['a', 'b'] });
  });

  it('W4: a lowered cap names the least recently used surplus; a new group conflict drops the older one', () => {
    const models = [m('a', { lastUsed: 1 }), m('b', { lastUsed: 2, pinned: true }), m('c', { lastUsed: 3 }), m('d', { lastUsed: 4 })];
    expect(settingsSurplus(models, { max_active_models: 2 }).map((x) => x.name)).toEqual(['a', 'c']);
    const grouped = [m('a', { lastUsed: 1, groups: ['g'] }), m('b', { lastUsed: 2, groups: ['g'] })];
    const out = settingsSurplus(grouped, { max_active_models: 0 });
    expect(out.map((x) => x.name)).toEqual(['a']);
    expect(out[0].sentence).toContain('shares group g with b');
  });

  it('W4: a model already stopping frees its slot: the next check (the watchdog runs one a second) takes no other', () => {
    // The cap went from 2 to 1 and "a" is on its way out; "b" stays.
    const models = [m('a', { lastUsed: 1, state: 'stopping' }), m('b', { lastUsed: 2 })];
    expect(settingsSurplus(models, { max_active_models: 1 })).toEqual([]);
    // One still loading does count: it will hold a slot.
    const loading = [m('a', { lastUsed: 1 }), m('c', { lastUsed: 3, state: 'loading' })];
    expect(settingsSurplus(loading, { max_active_models: 1 }).map((x) => x.name)).toEqual(['a']);
  });

  it('W4/U6: remote models never count toward the cap, also while they are still starting', () => {
    const models = [m('a', { lastUsed: 1 }), m('r', { lastUsed: 2, state: 'starting', remote: true, address: 'h:1' })];
    expect(settingsSurplus(models, { max_active_models: 1 })).toEqual([]);
  });
});
