/** The warm path's order (D7): in flight (own + fresh reported), lastUsed, free memory, name. */
import { describe, expect, it } from 'vitest';
import { GiB, node, replica } from './planFixtures';
import { pickReplica, STATS_FRESH_MS, type PickInput } from './pickReplica';
import type { NodeView } from './view';

const NOW = 5_000_000;
const pick = (nodes: NodeView[], o: Partial<PickInput> = {}) =>
  pickReplica({ model: 'm', selector: {}, nodes, frontend: 'fe1', own: new Map(), now: NOW, ...o })?.node.name ?? null;

describe('pickReplica', () => {
  it('D7: the order is in flight, then oldest lastUsed, then most free memory, then name', () => {
    const cases: { name: string; nodes: NodeView[]; own?: [string, number][]; want: string }[] = [
      {
        name: 'fewest in flight (own exact count) beats an older lastUsed',
        nodes: [node('a', { models: [replica('m', { lastUsed: 1 })] }), node('b', { models: [replica('m', { lastUsed: 9 })] })],
        own: [['a', 2]],
        want: 'b',
      },
      {
        name: 'equal in flight: the least recently used',
        nodes: [node('a', { models: [replica('m', { lastUsed: 9 })] }), node('b', { models: [replica('m', { lastUsed: 1 })] })],
        want: 'b',
      },
      {
        name: 'equal lastUsed: most free memory',
        nodes: [node('a', { models: [replica('m')], memory: { total: 64 * GiB, available: 4 * GiB, budget: 0 } }), node('b', { models: [replica('m')], memory: { total: 64 * GiB, available: 8 * GiB, budget: 0 } })],
        want: 'b',
      },
      { name: 'all equal: the name', nodes: [node('b', { models: [replica('m')] }), node('a', { models: [replica('m')] })], want: 'a' },
      {
        name: "others' counts from fresh stats count",
        nodes: [
          node('a', { models: [replica('m', { lastUsed: 1, stats: { at: NOW - STATS_FRESH_MS, total: 3, byFrontend: { fe2: 3 } } })] }),
          node('b', { models: [replica('m', { lastUsed: 9, stats: { at: NOW, total: 1, byFrontend: { fe2: 1 } } })] }),
        ],
        want: 'b',
      },
      {
        name: 'stats older than 100 ms are ignored',
        nodes: [
          node('a', { models: [replica('m', { lastUsed: 1, stats: { at: NOW - STATS_FRESH_MS - 1, total: 3, byFrontend: { fe2: 3 } } })] }),
          node('b', { models: [replica('m', { lastUsed: 9 })] }),
        ],
        want: 'a',
      },
      {
        name: "its own entry in the stats is replaced by its exact count (no double count)",
        nodes: [
          node('a', { models: [replica('m', { lastUsed: 1, stats: { at: NOW, total: 5, byFrontend: { fe1: 5 } } })] }),
          node('b', { models: [replica('m', { lastUsed: 9 })] }),
        ],
        want: 'a',
      },
    ];
    for (const c of cases) expect(pick(c.nodes, { own: new Map(c.own ?? []) }), c.name).toBe(c.want);
  });

  it('D7: only resident, non-suspect replicas on live nodes that match the selector are candidates', () => {
    const good = node('z', { labels: { gpu: 'cuda' }, models: [replica('m', { state: 'busy', inFlight: 9, lastUsed: 99 })] });
    const excluded: NodeView[] = [
      node('a', { state: 'suspect', labels: { gpu: 'cuda' }, models: [replica('m')] }),
      node('b', { state: 'dead', labels: { gpu: 'cuda' }, models: [replica('m')] }),
      node('c', { state: 'draining', labels: { gpu: 'cuda' }, models: [replica('m')] }),
      node('d', { state: 'incompatible', labels: { gpu: 'cuda' }, models: [replica('m')] }),
      node('e', { labels: { gpu: 'none' }, models: [replica('m')] }),
      node('f', { labels: { gpu: 'cuda' }, models: [replica('m', { state: 'loading' })] }),
      node('g', { labels: { gpu: 'cuda' }, models: [replica('m', { state: 'stopping' })] }),
      node('h', { labels: { gpu: 'cuda' }, models: [replica('m', { suspect: true })] }),
      node('i', { labels: { gpu: 'cuda' }, models: [replica('other')] }),
    ];
    expect(pick([...excluded, good], { selector: { gpu: 'cuda' } })).toBe('z');
    expect(pick(excluded, { selector: { gpu: 'cuda' } })).toBeNull();
  });
});
