/**
 * The leader's replica rules against real workers and a real nats-server: scale up while every
 * replica is saturated, never past max_replicas, and back down to min_replicas once idle for
 * 300 s, read on a frontend whose clock runs 301 s ahead (D22); after a partition heals, the
 * extra replica goes, least recently used first (D23); a pinned model lost with its node is
 * placed again elsewhere and is never the victim that makes room (D25).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { systemClock, type Clock } from '../../src/main/core/clock';
import { encode, nodeSubject } from '../../src/main/core/cluster/protocol';
import { disposeAll, faultModel, startTestCore, type TestCore } from '../harness';
import { cleanupCluster, clusterClient, journalOf, nodeEvents, readRecord, relay, startNats, startWorker, waitUntil } from './harness';

afterEach(async () => {
  await disposeAll();
  await cleanupCluster();
});

function frontend(nats: string, name: string, o: Parameters<typeof startTestCore>[0] = {}) {
  return startTestCore({ ...o, settings: { cluster_nats_url: nats, cluster_node_name: name, cluster_local_node: false, eviction_wait: 2, ...o.settings } });
}

/** The real clock, `offsetMs` ahead: no jumps, so liveness and leases read as usual. */
const aheadBy = (offsetMs: number): Clock => ({ now: () => Date.now() + offsetMs, setTimeout: systemClock.setTimeout, clearTimeout: systemClock.clearTimeout });

/** The nodes holding a resident replica (ready, or busy answering). */
const readyOn = (fe: TestCore, model: string) => (fe.row(model).replicas ?? []).filter((r) => r.state === 'ready' || r.state === 'busy').map((r) => r.node).sort();

/** Streams `model` until `stop` aborts; resolves with the chunks it got. */
function holdStream(fe: TestCore, model: string, stop: AbortController): Promise<number> {
  return (async () => {
    let n = 0;
    try {
      for await (const _c of fe.core.router.stream(model, { Prompt: 'hold', Tokens: 0 }, { signal: stop.signal })) n++;
    } catch (e) {
      if (!stop.signal.aborted) throw e;
    }
    return n;
  })();
}

describe('cluster replicas (D22, D23, D25)', () => {
  it('D22: saturated for 5 s scales up to max_replicas and no further; idle for 300 s scales down to min_replicas', async () => {
    const nats = await startNats();
    const m = faultModel('m', { options: ['fault_tokens:100000', 'fault_token_ms:20'], extra: 'cluster:\n  min_replicas: 1\n  max_replicas: 2' });
    const configs = { 'm.yaml': m };
    const names = ['w1', 'w2', 'w3'];
    await Promise.all(names.map((name) => startWorker(nats.url, { name, configs })));
    const nc = await clusterClient(nats.url);
    const events = Object.fromEntries(names.map((w) => [w, nodeEvents(nc, w)]));
    const fe1 = await frontend(nats.url, 'fe1', { configs });
    // min_replicas: one replica without any request.
    const [first] = await waitUntil(() => (readyOn(fe1, 'm').length === 1 ? readyOn(fe1, 'm') : null), 'the first replica of m', { timeoutMs: 20_000 });

    // One stream saturates it (one slot); 5 s later the leader adds a replica on another node.
    const stop = new AbortController();
    const streams = [holdStream(fe1, 'm', stop)];
    await waitUntil(async () => (await readRecord(nc, first))?.models.find((x) => x.name === 'm')?.inFlight === 1, 'the stream in flight', { timeoutMs: 10_000 });
    const saturatedAt = Date.now();
    const two = await waitUntil(() => (readyOn(fe1, 'm').length === 2 ? readyOn(fe1, 'm') : null), 'a second replica of m', { timeoutMs: 25_000 });
    expect(Date.now() - saturatedAt).toBeGreaterThanOrEqual(4_500);
    const second = two.find((n) => n !== first)!;
    // A second stream goes to the new replica (fewest in flight): both saturated, at max.
    streams.push(holdStream(fe1, 'm', stop));
    await waitUntil(async () => (await readRecord(nc, second))?.models.find((x) => x.name === 'm')?.inFlight === 1, 'the second stream on the new replica', { timeoutMs: 10_000 });
    // Saturated well past 5 s, yet max_replicas holds: no third replica anywhere.
    await new Promise((r) => setTimeout(r, 7_000));
    const third = names.find((n) => n !== first && n !== second)!;
    expect(events[third].filter((e) => e.type === 'model' && e.row?.name === 'm')).toEqual([]);
    expect(readyOn(fe1, 'm')).toEqual(two);
    stop.abort();
    expect((await Promise.all(streams)).every((n) => n > 0)).toBe(true);
    for (const w of two) await waitUntil(async () => (await readRecord(nc, w))?.models.find((x) => x.name === 'm')?.inFlight === 0, `no request left on ${w}`, { timeoutMs: 10_000 });

    // Idle: a leader whose clock reads 301 s later sees both idle that long, and unloads the least
    // recently used one (scale_down), keeping min_replicas.
    const used = await Promise.all(two.map(async (w) => ({ w, lastUsed: Date.parse((await readRecord(nc, w))?.models.find((x) => x.name === 'm')?.lastUsed ?? '') || 0 })));
    const [lru, keep] = used.sort((a, b) => a.lastUsed - b.lastUsed || a.w.localeCompare(b.w)).map((u) => u.w);
    await fe1.dispose(); // a clean stop hands the lease over at once
    const fe2 = await frontend(nats.url, 'fe2', { configs, clock: aheadBy(301_000) });
    await waitUntil(() => (fe2.row('m').replicas ?? []).map((r) => r.node).join() === keep, `only ${keep} keeps m`, { timeoutMs: 15_000 });
    await waitUntil(() => journalOf(events[lru]).some((j) => j.model === 'm' && j.reason === 'scale_down'), `the scale_down journalled on ${lru}`, { timeoutMs: 5_000 });
    expect(journalOf(events[keep])).toEqual([]);
  }, 120_000);

  it('D23: after a partition heals with the model on both sides, the least recently used replica above max_replicas goes', async () => {
    const nats = await startNats();
    // w1 and fe2 reach NATS through one link the test cuts: one side of a partition.
    const link = await relay({ host: '127.0.0.1', port: nats.port });
    const viaLink = nats.url.replace(`:${nats.port}`, `:${link.port}`);
    const m = faultModel('m', { extra: 'cluster:\n  max_replicas: 1' });
    const configs = { 'm.yaml': m };
    await Promise.all([startWorker(viaLink, { name: 'w1', configs }), startWorker(nats.url, { name: 'w2', configs })]);
    const nc = await clusterClient(nats.url);
    const events = { w1: nodeEvents(nc, 'w1'), w2: nodeEvents(nc, 'w2') };
    // fe1 joins first and leads; fe2 follows.
    const fe1 = await frontend(nats.url, 'fe1', { configs });
    await waitUntil(() => fe1.core.commands.cluster()?.leader === 'fe1', 'fe1 leading', { timeoutMs: 10_000 });
    const fe2 = await frontend(viaLink, 'fe2', { configs });
    for (const fe of [fe1, fe2]) await waitUntil(() => fe.core.commands.cluster()?.nodes.filter((n) => n.state === 'live').length === 2, 'both workers live', { timeoutMs: 10_000 });
    const reply = await nc.nc.request(nodeSubject('w1', 'load'), encode({ v: 1, requestId: 'pre', frontend: 'test', spec: { name: 'm', backend: 'fault', file: null, config: {}, needBytes: 0 }, protect: [], origin: 'api' }), { timeout: 5000 });
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ ok: true });
    for (const fe of [fe1, fe2]) await waitUntil(() => readyOn(fe, 'm').join() === 'w1', 'm ready on w1', { timeoutMs: 10_000 });

    link.cut();
    await waitUntil(() => fe1.core.commands.cluster()?.nodes.find((n) => n.name === 'w1')?.state === 'dead', 'w1 dead on fe1', { timeoutMs: 5_000 });
    await waitUntil(() => fe2.core.commands.cluster()?.nats !== 'connected', 'fe2 cut off', { timeoutMs: 5_000 });
    // fe1's side loads m again (on w2) and uses it; then fe2's side uses its replica on w1 (its
    // gateway is still reachable): w1's replica is now the more recently used one.
    expect((await fe1.core.router.predict('m', { Prompt: 'a', Tokens: 2 })).text.length).toBeGreaterThan(0);
    expect(readyOn(fe1, 'm')).toEqual(['w2']);
    await new Promise((r) => setTimeout(r, 50));
    expect((await fe2.core.router.predict('m', { Prompt: 'b', Tokens: 2 })).text.length).toBeGreaterThan(0);

    link.heal();
    // Two replicas, max 1: the leader trims the least recently used (w2's), not the one that came back.
    await waitUntil(() => journalOf(events.w2).some((j) => j.model === 'm' && j.reason === 'scale_down'), 'w2\'s replica trimmed', { timeoutMs: 15_000 });
    expect(journalOf(events.w2).find((j) => j.model === 'm')?.sentence).toMatch(/max_replicas 1/);
    for (const fe of [fe1, fe2]) await waitUntil(() => (fe.row('m').replicas ?? []).map((r) => r.node).join() === 'w1', 'only w1 keeps m', { timeoutMs: 10_000 });
    expect(journalOf(events.w1)).toEqual([]);
    expect((await readRecord(nc, 'w1'))?.models.map((x) => [x.name, x.state])).toEqual([['m', 'ready']]);
  }, 120_000);

  it('D25: a pinned model lost with its node is placed again elsewhere, and is never the victim that makes room', async () => {
    const nats = await startNats();
    const names = ['w1', 'w2', 'w3'];
    // The workers' own YAML does not pin p: only the frontend's protect keeps it.
    const workerConfigs = { 'p.yaml': faultModel('p'), 'q.yaml': faultModel('q'), 'r.yaml': faultModel('r') };
    const feConfigs = { ...workerConfigs, 'p.yaml': faultModel('p', { pinned: true }) };
    const workers = Object.fromEntries((await Promise.all(names.map((name) => startWorker(nats.url, { name, configs: workerConfigs, args: ['--max-active', '1'] })))).map((w) => [w.name, w]));
    const nc = await clusterClient(nats.url);
    const events = Object.fromEntries(names.map((w) => [w, nodeEvents(nc, w)]));
    const fe = await frontend(nats.url, 'fe1', { configs: feConfigs });
    // Pinned means one replica at least, without a request.
    const [a] = await waitUntil(() => (readyOn(fe, 'p').length === 1 ? readyOn(fe, 'p') : null), 'a replica of p', { timeoutMs: 20_000 });
    await workers[a].kill('SIGKILL');
    const killedAt = Date.now();
    const [b] = await waitUntil(() => (readyOn(fe, 'p').length === 1 && readyOn(fe, 'p')[0] !== a ? readyOn(fe, 'p') : null), 'p placed again elsewhere', { timeoutMs: 20_000 });
    expect(Date.now() - killedAt).toBeLessThan(15_000);
    const c = names.find((n) => n !== a && n !== b)!;

    // q takes the one free node; r then needs room: p (older, idle) is protected, so q goes.
    await fe.core.router.load('q');
    expect(readyOn(fe, 'q')).toEqual([c]);
    await fe.core.router.load('r');
    expect(readyOn(fe, 'r')).toEqual([c]);
    expect(readyOn(fe, 'p')).toEqual([b]);
    await waitUntil(() => journalOf(events[c]).some((j) => j.model === 'q'), `q's unload journalled on ${c}`, { timeoutMs: 5_000 });
    expect([...journalOf(events[b]), ...journalOf(events[c])].filter((j) => j.model === 'p')).toEqual([]);
    expect((await readRecord(nc, b))?.models.map((x) => [x.name, x.state])).toEqual([['p', 'ready']]);
  }, 120_000);
});
