/** Replica counts and the leader lease, on a fake clock (D22-D25, D28). */
import { describe, expect, it } from 'vitest';
import { FakeClock } from '../clock';
import { node, replica } from './planFixtures';
import {
  decideLeader,
  EMPTY_RECONCILE_STATE,
  LEADER_LEASE_MS,
  protectedReplicas,
  reconcileReplicas,
  recordPlaced,
  recordUnplaceable,
  SCALE_DOWN_IDLE_MS,
  type ReconcileState,
  type ReplicaSpec,
} from './reconcile';
import type { NodeView, ReplicaView } from './view';

const spec = (o: Partial<ReplicaSpec> = {}): ReplicaSpec => ({ name: 'm', min_replicas: 1, max_replicas: 3, pinned: false, selector: {}, ...o });
const withM = (name: string, o: Partial<ReplicaView> = {}, n: Partial<NodeView> = {}) => node(name, { ...n, models: [replica('m', o)] });

describe('reconcileReplicas', () => {
  it('D22: all replicas saturated for 5 s scale up, one at a time, up to max; idle 300 s scales down to min', () => {
    const clock = new FakeClock();
    const busy = { state: 'busy' as const, inFlight: 1, queued: 2 };
    let state: ReconcileState = EMPTY_RECONCILE_STATE;
    const round = (nodes: NodeView[]) => {
      const r = reconcileReplicas({ specs: [spec({ min_replicas: 1, max_replicas: 2 })], nodes, now: clock.now(), state });
      state = r.state;
      return r;
    };
    const saturated = [withM('w1', busy), node('w2')];
    expect(round(saturated).scaleUp).toEqual([]);
    clock.advance(4_999);
    expect(round(saturated).scaleUp).toEqual([]);
    clock.advance(1);
    expect(round(saturated).scaleUp).toEqual([{ model: 'm', reason: 'saturated', replicas: 1 }]);
    // The new replica is loading: not all replicas are saturated, so no second scale-up meanwhile.
    const growing = [withM('w1', busy), withM('w2', { state: 'loading' })];
    clock.advance(10_000);
    expect(round(growing).scaleUp).toEqual([]);
    // Both saturated at max: nothing more.
    const atMax = [withM('w1', busy), withM('w2', busy)];
    clock.advance(10_000);
    round(atMax);
    clock.advance(10_000);
    expect(round(atMax).scaleUp).toEqual([]);

    // Idle: the replica idle for 300 s goes, down to min, never below.
    const t = clock.now();
    const idle = [withM('w1', { lastUsed: t }), withM('w2', { lastUsed: t - 1_000 })];
    clock.advance(SCALE_DOWN_IDLE_MS - 1_001);
    expect(round(idle).unload).toEqual([]);
    clock.advance(1);
    expect(round(idle).unload).toEqual([{ node: 'w2', model: 'm', reason: 'scale_down', sentence: 'unloaded m on w2: idle for 300 s, above min_replicas 1' }]);
    clock.advance(SCALE_DOWN_IDLE_MS);
    expect(round(idle).unload.map((u) => u.node)).toEqual(['w2']);
    expect(round([withM('w1', { lastUsed: 0 })]).unload).toEqual([]);
  });

  it('fewer than min_replicas on live nodes (a dead node does not count) scales up', () => {
    const nodes = [withM('w1', {}, { state: 'dead' }), node('w2')];
    expect(reconcileReplicas({ specs: [spec({ min_replicas: 1 })], nodes, now: 0, state: EMPTY_RECONCILE_STATE }).scaleUp).toEqual([{ model: 'm', reason: 'min', replicas: 0 }]);
  });

  it('D23: after a heal, extras above max are trimmed least recently used first', () => {
    const nodes = [withM('w1', { lastUsed: 30 }), withM('w2', { lastUsed: 10, state: 'busy', inFlight: 1 }), withM('w3', { lastUsed: 20 }), withM('w4', { lastUsed: 40 })];
    const r = reconcileReplicas({ specs: [spec({ min_replicas: 1, max_replicas: 2 })], nodes, now: 50, state: EMPTY_RECONCILE_STATE });
    expect(r.unload.map((u) => [u.node, u.reason])).toEqual([
      ['w2', 'scale_down'],
      ['w3', 'scale_down'],
    ]);
    expect(r.unload[0].sentence).toBe('unloaded m on w2: 4 replicas, above max_replicas 2; the least recently used goes');
  });

  it('D25: pinned means min >= 1: a pinned model with min 0 is restored, and its replicas are protected', () => {
    const pinned = spec({ min_replicas: 0, max_replicas: 0, pinned: true });
    expect(reconcileReplicas({ specs: [pinned], nodes: [node('w1')], now: 0, state: EMPTY_RECONCILE_STATE }).scaleUp).toEqual([{ model: 'm', reason: 'min', replicas: 0 }]);
    // Never scaled down below one, however idle.
    expect(reconcileReplicas({ specs: [pinned], nodes: [withM('w1', { lastUsed: 0 })], now: 10 * SCALE_DOWN_IDLE_MS, state: EMPTY_RECONCILE_STATE }).unload).toEqual([]);
    const nodes = [withM('w1'), node('w2', { models: [replica('p', { pinned: true }), replica('free')] })];
    expect(protectedReplicas([spec({ min_replicas: 1 })], nodes)).toEqual({ w1: ['m'], w2: ['p'] });
    // Above min, no replica of m keeps it there: none is protected.
    expect(protectedReplicas([spec({ min_replicas: 1 })], [withM('w1'), withM('w3')])).toEqual({});
  });

  it('D28: a draining node\'s replicas leave once idle and replaced; they do not count towards min', () => {
    const s = [spec({ min_replicas: 1 })];
    const draining = (o: Partial<ReplicaView> = {}) => withM('w1', o, { state: 'draining' });
    // Not replaced yet: the replacement is placed, the draining replica stays.
    let r = reconcileReplicas({ specs: s, nodes: [draining(), node('w2')], now: 0, state: EMPTY_RECONCILE_STATE });
    expect(r.scaleUp).toEqual([{ model: 'm', reason: 'min', replicas: 0 }]);
    expect(r.unload).toEqual([]);
    // Replaced, but busy: it stays until idle.
    r = reconcileReplicas({ specs: s, nodes: [draining({ state: 'busy', inFlight: 1 }), withM('w2')], now: 0, state: EMPTY_RECONCILE_STATE });
    expect(r.unload).toEqual([]);
    r = reconcileReplicas({ specs: s, nodes: [draining(), withM('w2')], now: 0, state: EMPTY_RECONCILE_STATE });
    expect(r.unload).toEqual([{ node: 'w1', model: 'm', reason: 'drain', sentence: 'unloaded m on w1: the node is draining' }]);
    // A model with no cluster block leaves once idle.
    r = reconcileReplicas({ specs: [], nodes: [node('w1', { state: 'draining', models: [replica('plain')] })], now: 0, state: EMPTY_RECONCILE_STATE });
    expect(r.unload.map((u) => u.model)).toEqual(['plain']);
  });

  it('an unplaceable replica backs off 10 s, doubling up to 5 min, and says why', () => {
    const nodes = [node('w1')];
    let state = EMPTY_RECONCILE_STATE;
    const delays: number[] = [];
    for (let i = 0; i < 7; i++) {
      state = recordUnplaceable(state, 'm', 0, 'no_node: no node matches gpu=cuda');
      delays.push(state.backoff.m.retryAt);
    }
    expect(delays).toEqual([10_000, 20_000, 40_000, 80_000, 160_000, 300_000, 300_000]);
    const r = reconcileReplicas({ specs: [spec()], nodes, now: 299_999, state });
    expect(r.scaleUp).toEqual([]);
    expect(r.blocked).toEqual([{ model: 'm', retryAt: 300_000, reason: 'no_node: no node matches gpu=cuda' }]);
    expect(reconcileReplicas({ specs: [spec()], nodes, now: 300_000, state }).scaleUp).toHaveLength(1);
    expect(recordPlaced(state, 'm').backoff).toEqual({});
  });
});

describe('decideLeader', () => {
  it('D24: one leader; the lease moves within 15 s of its death', () => {
    const clock = new FakeClock();
    const t0 = clock.now();
    expect(decideLeader({ self: 'fe1', lease: null, connected: true, now: t0 })).toEqual({ kind: 'acquire' });
    const lease = { holder: 'fe1', revision: 3, seenAt: t0 };
    expect(decideLeader({ self: 'fe1', lease, connected: true, now: t0 })).toEqual({ kind: 'lead', renewAt: t0 + 5_000 });
    expect(decideLeader({ self: 'fe2', lease, connected: true, now: t0 })).toEqual({ kind: 'follow', holder: 'fe1', takeOverAt: t0 + LEADER_LEASE_MS });
    clock.advance(5_000);
    expect(decideLeader({ self: 'fe1', lease, connected: true, now: clock.now() })).toEqual({ kind: 'renew', revision: 3, leading: true });
    // fe1 dies: no renewal. fe2 takes over at 15 s, not before.
    clock.advance(LEADER_LEASE_MS - 5_000 - 1);
    expect(decideLeader({ self: 'fe2', lease, connected: true, now: clock.now() })).toMatchObject({ kind: 'follow' });
    clock.advance(1);
    expect(decideLeader({ self: 'fe2', lease, connected: true, now: clock.now() })).toEqual({ kind: 'take_over', revision: 3 });
    // fe1, cut off that long, stops leading until its renewal succeeds.
    expect(decideLeader({ self: 'fe1', lease, connected: true, now: clock.now() })).toEqual({ kind: 'renew', revision: 3, leading: false });
    // Without NATS nobody leads.
    expect(decideLeader({ self: 'fe1', lease, connected: false, now: t0 })).toEqual({ kind: 'offline' });
  });
});
