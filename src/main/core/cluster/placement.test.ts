/** The cold path's fixtures: filter, per-node admission, order, cluster LRU, waiting (D5, D12-D16, D25, D28). */
import { describe, expect, it } from 'vitest';
import type { ModelEstimate } from '../gpu/estimate';
import { placementLabel } from '../gpu/placement';
import { GiB, node, PROTOCOL, replica } from './planFixtures';
import { placeModel, type PlacementDecision, type PlacementInput, type PlacementTarget } from './placement';
import type { NodeView } from './view';

const NOW = 10_000_000;
const MiB = 1024 ** 2;

const target = (o: Partial<PlacementTarget> = {}): PlacementTarget => ({ name: 'X', groups: [], needBytes: 2 * GiB, file: { name: 'x.gguf', sizeBytes: 2 * GiB, sha256: null }, selector: {}, ...o });
const place = (nodes: NodeView[], o: Partial<PlacementInput> = {}): PlacementDecision =>
  placeModel({ target: target(), nodes, protocol: PROTOCOL, protect: {}, evictionWait: 30, now: NOW, waitingSince: null, ...o });
const chosen = (d: PlacementDecision) => (d.kind === 'load' ? d.node : `${d.kind}: ${d.kind === 'fail' ? d.code : d.message}`);
const mem = (available: number) => ({ total: 64 * GiB, available, budget: 0 });
const xFile = [{ name: 'x.gguf', sizeBytes: 2 * GiB }];

describe('placeModel', () => {
  it('D13: admit nodes first: no group conflict, has the file, idle, fewest in flight, most memory left, name', () => {
    const cases: { name: string; nodes: NodeView[]; want: string; groups?: string[]; sha256?: string }[] = [
      {
        name: 'a node that admits beats one with a group conflict, even one with the file and more memory',
        groups: ['gpu'],
        nodes: [
          node('a', { files: xFile, memory: mem(60 * GiB), models: [replica('Y', { groups: ['gpu'] })] }),
          node('b', { memory: mem(8 * GiB) }),
        ],
        want: 'b',
      },
      { name: 'has the file beats more memory', nodes: [node('a', { memory: mem(60 * GiB) }), node('b', { files: xFile, memory: mem(8 * GiB) })], want: 'b' },
      {
        name: 'a file matches by sha256 where both are known (a renamed copy counts, a same-named other file does not)',
        sha256: 'bb',
        nodes: [node('a', { files: [{ name: 'x.gguf', sizeBytes: 2 * GiB, sha256: 'aa' }], memory: mem(60 * GiB) }), node('b', { files: [{ name: 'copy.gguf', sizeBytes: 2 * GiB, sha256: 'bb' }] })],
        want: 'b',
      },
      {
        name: 'idle beats busy with more memory',
        nodes: [node('a', { memory: mem(60 * GiB), models: [replica('Y', { state: 'busy', inFlight: 1 })] }), node('b', { memory: mem(8 * GiB) })],
        want: 'b',
      },
      {
        name: 'fewest in flight (queued counts)',
        nodes: [node('a', { memory: mem(60 * GiB), models: [replica('Y', { state: 'busy', inFlight: 1, queued: 2 })] }), node('b', { models: [replica('Y', { state: 'busy', inFlight: 2 })] })],
        want: 'b',
      },
      { name: 'most memory left', nodes: [node('a', { memory: mem(8 * GiB) }), node('b', { memory: mem(9 * GiB) })], want: 'b' },
      {
        name: "memory left counts what is still loading, which the node's free memory does not show yet",
        nodes: [node('a', { memory: mem(12 * GiB), models: [replica('Y', { state: 'loading', needBytes: 6 * GiB })] }), node('b', { memory: mem(8 * GiB) })],
        want: 'b',
      },
      {
        name: 'a memory budget caps memory left',
        nodes: [node('a', { memory: mem(30 * GiB), limits: { memory_budget: 4 * GiB } }), node('b', { memory: mem(8 * GiB) })],
        want: 'b',
      },
      { name: 'all equal: the name', nodes: [node('b'), node('a')], want: 'a' },
    ];
    for (const c of cases) expect(chosen(placeModel({ target: target({ groups: c.groups ?? [], file: { name: 'x.gguf', sizeBytes: 2 * GiB, sha256: c.sha256 ?? null } }), nodes: c.nodes, protocol: PROTOCOL, protect: {}, evictionWait: 30, now: NOW, waitingSince: null })), c.name).toBe(c.want);
  });

  it('D13: then make_room nodes with only idle victims: the newest victim oldest wins, then fewer victims', () => {
    const full = (name: string, lastUsed: number[], max = 1) => node(name, { limits: { max_active_models: max }, models: lastUsed.map((t, i) => replica(`${name}${i}`, { lastUsed: t })) });
    expect(chosen(place([full('a', [50]), full('b', [40])]))).toBe('b');
    // a's victims are 10 and 45 (cap 1 with two resident after a heal): its newest, 45, is older than b's 50.
    expect(chosen(place([full('a', [10, 45]), full('b', [50])]))).toBe('a');
    // Same newest victim: fewer victims.
    expect(chosen(place([full('a', [10, 40]), full('b', [40])]))).toBe('b');
    const d = place([full('a', [50]), full('b', [40])]);
    expect(d).toMatchObject({ kind: 'load', node: 'b', unloads: [{ name: 'b0', reason: 'lru' }] });
    // Any admit node beats every make_room node.
    expect(chosen(place([full('a', [1]), node('z', { memory: mem(3 * GiB) })]))).toBe('z');
  });

  it('D14: a group conflict on every node: the idle conflicting model is a victim; a pinned one excludes the node', () => {
    const groups = ['gpu'];
    const nodes = [
      node('a', { models: [replica('Ya', { groups, lastUsed: 300 })] }),
      node('b', { models: [replica('Yb', { groups, lastUsed: 100 })] }),
      node('c', { models: [replica('Yc', { groups, lastUsed: 1, pinned: true })] }),
    ];
    const d = placeModel({ target: target({ groups }), nodes, protocol: PROTOCOL, protect: {}, evictionWait: 30, now: NOW, waitingSince: null });
    expect(d).toMatchObject({ kind: 'load', node: 'b', unloads: [{ name: 'Yb', reason: 'group', sentence: 'unloaded Yb: shares group gpu with X' }] });
    const pinnedOnly = placeModel({ target: target({ groups }), nodes: [nodes[2]], protocol: PROTOCOL, protect: {}, evictionWait: 30, now: NOW, waitingSince: null });
    expect(pinnedOnly).toMatchObject({ kind: 'fail', code: 'pinned_conflict', message: expect.stringMatching(/^on c: X cannot load: Yc is pinned and shares group gpu/) });
  });

  it('D15: the cluster LRU victim is the oldest idle replica, never pinned, protected or busy', () => {
    const one = (name: string, o: Parameters<typeof replica>[1]) => node(name, { limits: { max_active_models: 1 }, models: [replica(`${name}0`, o)] });
    const nodes = [
      one('a', { lastUsed: 1, pinned: true }),
      one('b', { lastUsed: 2 }),
      one('c', { lastUsed: 3, state: 'busy', inFlight: 1 }),
      one('d', { lastUsed: 100 }),
      one('e', { lastUsed: 200 }),
    ];
    // b0 is protected (it keeps its model at min_replicas): d0 is the oldest that may go.
    const d = place(nodes, { protect: { b: ['b0'] } });
    expect(d).toMatchObject({ kind: 'load', node: 'd', unloads: [{ name: 'd0', reason: 'lru' }] });
    expect(place(nodes)).toMatchObject({ kind: 'load', node: 'b' });
  });

  it('D16: all busy: wait until eviction_wait runs out (the caller keeps the clock), then slots_busy', () => {
    const busy = (name: string) => node(name, { limits: { max_active_models: 1 }, models: [replica(`${name}0`, { state: 'busy', inFlight: 1 })] });
    const nodes = [busy('a'), busy('b')];
    const first = place(nodes, { evictionWait: 2 });
    expect(first).toEqual({ kind: 'wait', since: NOW, until: NOW + 2_000, nodes: ['a', 'b'], message: expect.stringContaining('busy') });
    // Decided again later with the first wait's start: still waiting, same deadline.
    expect(place(nodes, { evictionWait: 2, now: NOW + 1_999, waitingSince: NOW })).toMatchObject({ kind: 'wait', until: NOW + 2_000 });
    const late = place(nodes, { evictionWait: 2, now: NOW + 2_000, waitingSince: NOW });
    expect(late).toMatchObject({ kind: 'fail', code: 'slots_busy', retryAfter: 5 });
    expect(late.kind === 'fail' && late.message).toMatch(/on a: .*on b: /);
    // One node frees up meanwhile: it is taken at once.
    expect(place([busy('a'), node('b', { limits: { max_active_models: 1 }, models: [replica('b0')] })], { evictionWait: 2, now: NOW + 1_000, waitingSince: NOW })).toMatchObject({ kind: 'load', node: 'b' });
  });

  it('D12: the selector is hard: no matching node gives no_node (503, Retry-After 5) saying why', () => {
    const nodes = [node('a', { labels: { gpu: 'none' }, memory: mem(60 * GiB) }), node('b', { state: 'dead', labels: { gpu: 'cuda' } })];
    const d = placeModel({ target: target({ selector: { gpu: 'cuda' } }), nodes, protocol: PROTOCOL, protect: {}, evictionWait: 30, now: NOW, waitingSince: null });
    expect(d).toEqual({ kind: 'fail', code: 'no_node', retryAfter: 5, message: 'No node can take X (node_selector gpu=cuda): a does not match (labels gpu=none); b is dead.' });
    expect(chosen(placeModel({ target: target({ selector: { gpu: 'cuda' } }), nodes: [...nodes, node('c', { labels: { gpu: 'cuda', zone: 'x' } })], protocol: PROTOCOL, protect: {}, evictionWait: 30, now: NOW, waitingSince: null }))).toBe('c');
    expect(place([])).toMatchObject({ kind: 'fail', code: 'no_node', message: expect.stringContaining('no node has joined') });
  });

  it('D34: a model goes only to nodes whose catalog has it; a node whose catalog is unknown is not filtered', () => {
    const lacks = node('a', { memory: mem(60 * GiB), files: xFile, catalog: ['Y'] });
    expect(place([lacks])).toMatchObject({ kind: 'fail', code: 'no_node', message: expect.stringContaining('a does not have it') });
    expect(chosen(place([lacks, node('b', { memory: mem(3 * GiB), catalog: ['X', 'Y'] })]))).toBe('b');
    expect(chosen(place([lacks, node('c', { memory: mem(3 * GiB) })]))).toBe('c');
  });

  it('D5: a node on another protocol is never used, even when its record says live', () => {
    expect(place([node('a', { protocol: 2, memory: mem(60 * GiB), files: xFile })])).toMatchObject({ kind: 'fail', code: 'no_node', message: expect.stringContaining('a speaks protocol 2, not 1') });
    expect(chosen(place([node('a', { protocol: 2, memory: mem(60 * GiB), files: xFile }), node('b', { memory: mem(3 * GiB) })]))).toBe('b');
  });

  it('D28: a draining node takes no loads', () => {
    expect(chosen(place([node('a', { state: 'draining', memory: mem(60 * GiB), files: xFile }), node('b', { memory: mem(3 * GiB) })]))).toBe('b');
    expect(place([node('a', { state: 'draining' })])).toMatchObject({ kind: 'fail', code: 'no_node', message: expect.stringContaining('a is draining') });
  });

  it('D25: a pinned model is never a victim, and protect goes with the load so the worker counts it pinned', () => {
    const nodes = [node('a', { limits: { max_active_models: 1 }, models: [replica('P', { pinned: true, lastUsed: 1 })] }), node('b', { limits: { max_active_models: 2 }, models: [replica('Q', { lastUsed: 5 })] })];
    expect(place(nodes, { protect: { b: ['Q'] } })).toEqual({ kind: 'load', node: 'b', unloads: [], protect: ['Q'], layers: null });
    expect(place([nodes[0]])).toMatchObject({ kind: 'fail', code: 'slots_pinned' });
  });

  it('one replica per node; refused nodes are not tried again; each node refusing gives the commonest code and every reason', () => {
    expect(place([node('a', { models: [replica('X', { state: 'loading' })] }), node('b')])).toMatchObject({ kind: 'load', node: 'b' });
    expect(place([node('a'), node('b')], { exclude: new Set(['a']) })).toMatchObject({ kind: 'load', node: 'b' });
    const d = place([node('a', { memory: mem(1 * GiB) }), node('b', { memory: mem(1 * GiB) }), node('c', { limits: { max_active_models: 1 }, models: [replica('P', { pinned: true })] })]);
    expect(d).toMatchObject({ kind: 'fail', code: 'memory' });
    expect(d.kind === 'fail' && d.message).toMatch(/^X cannot load on any node: on a: X does not fit in the free memory: needs 2\.0 GiB, 1\.0 GiB free.*; on b: .*; on c: .*pinned/);
    expect(d.kind === 'fail' && d.retryAfter).toBeUndefined();
  });

  it('a node still stopping the replica (an unload a moment ago) is waited for, up to eviction_wait, not refused', () => {
    const nodes = [node('a', { models: [replica('X', { state: 'stopping' })] }), node('b', { state: 'dead' })];
    expect(place(nodes, { evictionWait: 2 })).toMatchObject({ kind: 'wait', until: NOW + 2_000, nodes: ['a'] });
    // Once its record drops the replica, the node takes it.
    expect(place([node('a'), node('b', { state: 'dead' })], { evictionWait: 2, now: NOW + 500, waitingSince: NOW })).toMatchObject({ kind: 'load', node: 'a' });
    expect(place(nodes, { evictionWait: 2, now: NOW + 2_000, waitingSince: NOW })).toMatchObject({ kind: 'fail', code: 'no_node', message: expect.stringContaining('still stopping on a') });
  });

  it('a node with GPUs also runs the VRAM admission: idle GPU models make room, and the layer count comes back', () => {
    const estimate: ModelEstimate = {
      totalLayers: 33,
      blockCount: 32,
      layerBytes: new Array(32).fill(100 * MiB),
      bytesPerLayer: 100 * MiB,
      outputBytes: 200 * MiB,
      fixedBytes: 250 * MiB,
      kvBytesPerLayer: 0,
      computeBytes: 0,
      contextSize: 4096,
      weightsBytes: 32 * 100 * MiB + 450 * MiB,
    };
    const gpu = { type: 'cuda' as const, names: ['RTX 4070'], totalBytes: 8 * GiB, freeBytes: 2 * GiB, usedByLoadoutBytes: 6 * GiB, unified: false };
    const a = node('a', { gpus: [gpu], limits: { vram_reserve: 1 * GiB }, models: [replica('G', { vramBytes: 6 * GiB, lastUsed: 7 })] });
    const d = placeModel({ target: target({ gpu: { estimate, gpuLayers: 33, baseBytes: 0 } }), nodes: [a], protocol: PROTOCOL, protect: {}, evictionWait: 30, now: NOW, waitingSince: null });
    expect(d).toMatchObject({ kind: 'load', node: 'a', unloads: [{ name: 'G', reason: 'memory', sentence: expect.stringContaining('VRAM') }] });
    expect(d.kind === 'load' && placementLabel(d.layers!.placement)).toBe('GPU 33/33');
    // The GPU model pinned: the explicit layer count cannot fit there.
    const pinned = node('a', { gpus: [gpu], limits: { vram_reserve: 1 * GiB }, models: [replica('G', { vramBytes: 6 * GiB, pinned: true })] });
    expect(placeModel({ target: target({ gpu: { estimate, gpuLayers: 33, baseBytes: 0 } }), nodes: [pinned], protocol: PROTOCOL, protect: {}, evictionWait: 30, now: NOW, waitingSince: null })).toMatchObject({ kind: 'fail', code: 'memory' });
  });
});
