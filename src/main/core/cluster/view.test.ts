/** Node liveness on the frontend's clock (D3, D5, D28) and the cluster LRU. */
import { describe, expect, it } from 'vitest';
import { node, replica } from './planFixtures';
import { clusterLru, deadAt, judgeNode, pruneOutages, staleMs, type NodeObservation } from './view';

const HB = 2_000;
const W = 3 * HB;
const T0 = 1_000_000;
const seen = (o: Partial<NodeObservation> = {}): NodeObservation => ({ protocol: 1, heartbeatMs: HB, draining: false, seenAt: T0, connectionErrorAt: null, noRespondersAt: null, ...o });

describe('node liveness', () => {
  it('D3: a node with no update for W = 3 of its heartbeats is dead, judged on the frontend clock', () => {
    expect(judgeNode(seen(), T0 + W - 1, 1)).toBe('live');
    expect(judgeNode(seen(), T0 + W, 1)).toBe('dead');
    // Its own heartbeat sets W: a 250 ms node is dead after 750 ms.
    expect(judgeNode(seen({ heartbeatMs: 250 }), T0 + 749, 1)).toBe('live');
    expect(judgeNode(seen({ heartbeatMs: 250 }), T0 + 750, 1)).toBe('dead');
    // A fresh update (seenAt is when it arrived here, whatever the node's own clock says) revives it.
    expect(judgeNode(seen({ seenAt: T0 + W }), T0 + W, 1)).toBe('live');
    expect(deadAt(seen(), T0 + 1_000)).toBe(T0 + W);
  });

  it('D3: staleness pauses while NATS is disconnected, plus 2 heartbeats of grace after it returns', () => {
    // NATS down from T0+1 s for 10 s: no node can be judged dead meanwhile.
    const down = [{ from: T0 + 1_000, to: null }];
    expect(judgeNode(seen(), T0 + 60_000, 1, down)).toBe('live');
    const back = [{ from: T0 + 1_000, to: T0 + 11_000 }];
    // 1 s before the outage, then 2 heartbeats of grace after it, then W - 1 s more: still live.
    const graceEnd = T0 + 11_000 + 2 * HB;
    expect(staleMs(T0, graceEnd, back, 2 * HB)).toBe(1_000);
    expect(judgeNode(seen(), graceEnd + W - 1_000 - 1, 1, back)).toBe('live');
    expect(judgeNode(seen(), graceEnd + W - 1_000, 1, back)).toBe('dead');
    // An outage before the last update pauses nothing.
    expect(staleMs(T0, T0 + 5_000, [{ from: T0 - 20_000, to: T0 - 10_000 }], 2 * HB)).toBe(5_000);
    expect(pruneOutages([{ from: 0, to: 10 }, { from: 20, to: null }, { from: 30, to: 90 }], 100, 20)).toEqual([{ from: 20, to: null }, { from: 30, to: 90 }]);
  });

  it('D3: "no responders" to a ping is dead at once, until a newer update arrives', () => {
    expect(judgeNode(seen({ noRespondersAt: T0 + 10 }), T0 + 10, 1)).toBe('dead');
    expect(judgeNode(seen({ noRespondersAt: T0 + 10, seenAt: T0 + 20 }), T0 + 20, 1)).toBe('live');
  });

  it('D3: a connection error makes the node suspect until its next update', () => {
    expect(judgeNode(seen({ connectionErrorAt: T0 + 5 }), T0 + 5, 1)).toBe('suspect');
    expect(judgeNode(seen({ connectionErrorAt: T0 + 5, seenAt: T0 + 6 }), T0 + 6, 1)).toBe('live');
  });

  it('D5: a node on another protocol version is incompatible, however fresh', () => {
    expect(judgeNode(seen({ protocol: 2 }), T0, 1)).toBe('incompatible');
  });

  it('D28: a live node that drains is draining; dead wins over draining', () => {
    expect(judgeNode(seen({ draining: true }), T0, 1)).toBe('draining');
    expect(judgeNode(seen({ draining: true }), T0 + W, 1)).toBe('dead');
  });

  it('D15: the cluster LRU lists resident replicas on reachable nodes, least recently used first', () => {
    const nodes = [
      node('w1', { models: [replica('a', { lastUsed: 30 }), replica('b', { lastUsed: 10, state: 'loading' })] }),
      node('w2', { models: [replica('a', { lastUsed: 20, state: 'busy' })] }),
      node('w3', { state: 'dead', models: [replica('c', { lastUsed: 1 })] }),
    ];
    expect(clusterLru(nodes)).toEqual([
      { node: 'w2', model: 'a', lastUsed: 20 },
      { node: 'w1', model: 'a', lastUsed: 30 },
    ]);
  });
});
