import { describe, expect, it } from 'vitest';
import type { ClusterNode } from '../../../../shared/cluster';
import { clusterLruItems } from '../lru/ClusterLru';
import { formatHeartbeat, heartbeatAgeNow, leaderLine, memorySplit, memoryWords, natsLine, orderNodes, orderReplicas, replicaOverflow } from './words';

const GB = 1024 ** 3;
const node = (name: string, over: Partial<ClusterNode> = {}): ClusterNode => ({
  name,
  state: 'live',
  reason: null,
  heartbeatAgeMs: 1000,
  version: '1.0.0',
  protocol: 1,
  labels: {},
  memory: { total: 32 * GB, available: 20 * GB, budget: 24 * GB, models: 8 * GB },
  gpus: [],
  inFlight: 0,
  local: false,
  replicas: [],
  ...over,
});

describe('heartbeat age', () => {
  it('reads as seconds, minutes and hours ago', () => {
    expect(formatHeartbeat(null)).toBe('no heartbeat yet');
    expect(formatHeartbeat(400)).toBe('just now');
    expect(formatHeartbeat(2000)).toBe('2 s ago');
    expect(formatHeartbeat(2999)).toBe('2 s ago');
    expect(formatHeartbeat(59_999)).toBe('59 s ago');
    expect(formatHeartbeat(125_000)).toBe('2 min ago');
    expect(formatHeartbeat(2 * 3600_000 + 5)).toBe('2 h ago');
  });

  it('keeps counting from the age the snapshot carried', () => {
    expect(heartbeatAgeNow(2000, 10_000, 13_500)).toBe(5500);
    expect(heartbeatAgeNow(2000, 10_000, 9_000)).toBe(2000);
    expect(heartbeatAgeNow(null, 10_000, 13_500)).toBeNull();
  });
});

describe('ordering', () => {
  it('puts this machine first, then nodes by name, whatever their state', () => {
    const order = orderNodes([node('w2', { state: 'dead' }), node('w10'), node('front', { local: true }), node('w1', { state: 'suspect' })]).map((n) => n.name);
    expect(order).toEqual(['front', 'w1', 'w10', 'w2']);
  });

  it('lists a model row’s serving replicas first, then loading, then failed; by node within', () => {
    const r = (node: string, state: 'ready' | 'busy' | 'loading' | 'failed') => ({ node, state, inFlight: 0, lastUsed: null });
    expect(orderReplicas([r('w3', 'failed'), r('w2', 'loading'), r('w4', 'ready'), r('w1', 'busy')]).map((x) => x.node)).toEqual(['w1', 'w4', 'w2', 'w3']);
  });

  it('caps the badges a row shows and counts the rest', () => {
    expect(replicaOverflow([1, 2, 3, 4, 5], 3)).toEqual({ shown: [1, 2, 3], more: 2 });
    expect(replicaOverflow([1], 3)).toEqual({ shown: [1], more: 0 });
  });

  it('gives each cluster LRU entry its replica and node state', () => {
    const items = clusterLruItems({
      frontend: 'f1',
      nats: 'connected',
      natsError: null,
      leader: 'f1',
      nodes: [node('w1', { replicas: [{ model: 'a', state: 'ready', inFlight: 1, queued: 0, lastUsed: null }] }), node('w2', { state: 'dead' })],
      lru: [
        { model: 'a', node: 'w1' },
        { model: 'b', node: 'w2' },
        { model: 'c', node: 'gone' },
      ],
    });
    expect(items.map((i) => [i.model, i.node, i.replica?.inFlight ?? null, i.nodeState])).toEqual([
      ['a', 'w1', 1, 'live'],
      ['b', 'w2', null, 'dead'],
      ['c', 'gone', null, null],
    ]);
  });
});

describe('memory bar', () => {
  it('splits the machine into its models, other programs and free', () => {
    const s = memorySplit({ total: 32 * GB, available: 20 * GB, budget: 24 * GB, models: 8 * GB });
    expect(s).toEqual({ models: 8 * GB, other: 4 * GB, free: 20 * GB, total: 32 * GB, budget: 24 * GB });
    expect(memoryWords(s)).toBe('models 8.00 GB, other programs 4.00 GB, free 20.0 GB of 32.0 GB; budget 24.0 GB for models');
  });

  it('never shows more than the machine has, nor a negative part', () => {
    // A stale reading: models counted above what is in use.
    const s = memorySplit({ total: 16 * GB, available: 10 * GB, budget: 0, models: 9 * GB });
    expect(s.models + s.other + s.free).toBe(16 * GB);
    expect(s.other).toBe(0);
    expect(memoryWords(s)).toContain('no budget set');
  });
});

describe('banner', () => {
  it('says what to fix when NATS is not there', () => {
    expect(natsLine({ nats: 'connected', natsError: null })).toEqual({ tone: 'ok', text: 'NATS connected' });
    expect(natsLine({ nats: 'reconnecting', natsError: null }).tone).toBe('warn');
    expect(natsLine({ nats: 'disconnected', natsError: null }).text).toContain('nats-server');
    expect(natsLine({ nats: 'disconnected', natsError: 'JetStream is off: start nats-server with -js' })).toEqual({ tone: 'error', text: 'NATS: JetStream is off: start nats-server with -js' });
  });

  it('names the leader, and this frontend as such', () => {
    expect(leaderLine({ leader: 'f1', frontend: 'f1' })).toBe('Leader: f1 (this frontend)');
    expect(leaderLine({ leader: 'f2', frontend: 'f1' })).toBe('Leader: f2');
    expect(leaderLine({ leader: null, frontend: 'f1' })).toMatch(/^No leader/);
  });
});
