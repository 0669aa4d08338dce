/**
 * The cold path across frontends with real processes: two frontends whose views are stale load
 * at once onto the node they both think is free, and the worker's own admission refuses the
 * second, which re-plans (D17); a frontend killed while its load runs leaves a claim that another
 * frontend takes over after the lease, adopting the load still running on the worker (D19).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { isOccupying, type ModelState } from '../../src/shared/model';
import { loadClaimKey, nodeSubject, type NodeEvent } from '../../src/main/core/cluster/protocol';
import type { ClaimRecord } from '../../src/main/core/cluster/claims';
import { disposeAll, faultModel, startTestCore } from '../harness';
import { cleanupCluster, clusterClient, journalOf, nodeEvents, readRecord, relay, startFrontendProcess, startNats, startWorker, waitUntil } from './harness';

afterEach(async () => {
  await disposeAll();
  await cleanupCluster();
});

function frontend(nats: string, name: string, o: Parameters<typeof startTestCore>[0] = {}) {
  return startTestCore({ ...o, settings: { cluster_nats_url: nats, cluster_node_name: name, cluster_local_node: false, eviction_wait: 2, ...o.settings } });
}

/** The models a node holds (occupying states) after each of its model events, and the most at once. */
function occupancy(events: readonly NodeEvent[]): number {
  const states = new Map<string, ModelState>();
  let most = 0;
  for (const e of events) {
    if (e.type !== 'model' || !e.row) continue;
    states.set(e.row.name, e.row.state);
    most = Math.max(most, [...states.values()].filter((s) => isOccupying(s)).length);
  }
  return most;
}

describe('cluster cold path with two frontends (D17, D19)', () => {
  it('D17: two frontends with stale views load at once onto one node: it admits one and refuses the other, which re-plans; no node is overcommitted', async () => {
    const nats = await startNats();
    // The frontends reach NATS over a slow link, so each sees the workers' records 400 ms late:
    // both place on the same node before either sees the other's load there.
    const slow = await relay({ host: '127.0.0.1', port: nats.port }, { delayMs: 400 });
    const slowUrl = nats.url.replace(`:${nats.port}`, `:${slow.port}`);
    const configs = { 'a.yaml': faultModel('a', { options: ['fault_load_ms:1500'] }), 'b.yaml': faultModel('b', { options: ['fault_load_ms:1500'] }) };
    // One model per node; w1 has the larger budget, so an empty w1 is every planner's first choice.
    const [w1, w2] = await Promise.all([
      startWorker(nats.url, { name: 'w1', configs, args: ['--max-active', '1', '--memory-budget', '2GB'] }),
      startWorker(nats.url, { name: 'w2', configs, args: ['--max-active', '1', '--memory-budget', '1GB'] }),
    ]);
    const nc = await clusterClient(nats.url);
    const events = { w1: nodeEvents(nc, w1.name), w2: nodeEvents(nc, w2.name) };
    // A plain subscriber gets a copy of every load request a node is sent.
    const loadsSent: Record<string, string[]> = { w1: [], w2: [] };
    for (const w of ['w1', 'w2'])
      nc.nc.subscribe(nodeSubject(w, 'load'), { callback: (_e, m) => void loadsSent[w].push((JSON.parse(new TextDecoder().decode(m.data)) as { spec: { name: string } }).spec.name) });
    const fes = await Promise.all([frontend(slowUrl, 'fe1', { configs }), frontend(slowUrl, 'fe2', { configs })]);
    for (const fe of fes) await waitUntil(() => fe.core.commands.cluster()?.nodes.filter((n) => n.state === 'live').length === 2, 'both workers live on each frontend', { timeoutMs: 15_000 });

    const rows = await Promise.all([fes[0].core.router.load('a'), fes[1].core.router.load('b')]);
    expect(rows.map((r) => r.replicas?.map((x) => x.state))).toEqual([['ready'], ['ready']]);
    // Both planned on w1; it took the first and refused the second, which went to w2.
    expect(loadsSent.w1.sort()).toEqual(['a', 'b']);
    expect(loadsSent.w2).toHaveLength(1);
    const onW2 = loadsSent.w2[0];
    const onW1 = onW2 === 'a' ? 'b' : 'a';
    const fe = fes[0];
    await waitUntil(() => fe.row(onW1).replicas?.some((r) => r.node === 'w1' && r.state === 'ready') && fe.row(onW2).replicas?.some((r) => r.node === 'w2' && r.state === 'ready'), `${onW1} on w1 and ${onW2} on w2`, { timeoutMs: 10_000 });
    // Nothing was evicted to make room, and no node ever held two models.
    expect(occupancy(events.w1)).toBe(1);
    expect(occupancy(events.w2)).toBe(1);
    expect([...journalOf(events.w1), ...journalOf(events.w2)]).toEqual([]);
    expect((await readRecord(nc, 'w1'))?.models.map((m) => [m.name, m.state])).toEqual([[onW1, 'ready']]);
    expect((await readRecord(nc, 'w2'))?.models.map((m) => [m.name, m.state])).toEqual([[onW2, 'ready']]);
  }, 90_000);

  it('D19: a frontend killed while its load runs: another takes its claim over after the lease and adopts the running load', async () => {
    const nats = await startNats();
    // The load outlasts the 15 s lease, so the one who ends it can only be the new holder.
    const m = faultModel('m', { options: ['fault_load_ms:24000'] });
    await Promise.all([startWorker(nats.url, { name: 'w1', configs: { 'm.yaml': m } }), startWorker(nats.url, { name: 'w2', configs: { 'm.yaml': m } })]);
    const nc = await clusterClient(nats.url);
    const events = { w1: nodeEvents(nc, 'w1'), w2: nodeEvents(nc, 'w2') };
    const claims: ClaimRecord[] = [];
    const watch = await nc.bucket('claims').watch({ key: loadClaimKey('m') });
    void (async () => {
      for await (const e of watch) if (e.operation === 'PUT') claims.push(JSON.parse(new TextDecoder().decode(e.value)) as ClaimRecord);
    })();

    // fe1 is `npm run serve` in its own process, so it can really die holding the claim.
    const [{ child, base }, fe2] = await Promise.all([startFrontendProcess(nats.url, 'fe1', { 'm.yaml': m }, { api_load_wait: 1 }), frontend(nats.url, 'fe2', { configs: { 'm.yaml': m } })]);
    await waitUntil(async () => ((await (await fetch(`${base}/api/cluster`)).json()) as { nodes: { state: string }[] }).nodes.filter((n) => n.state === 'live').length === 2, 'both workers live on fe1', { timeoutMs: 15_000 });

    // fe1 claims m and sends its load; it answers 503 loading after api_load_wait, the load goes on.
    const first = await fetch(`${base}/v1/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'm', prompt: 'hi', max_tokens: 2 }) });
    expect(first.status).toBe(503);
    const held = await waitUntil(() => claims.find((c) => c.frontend === 'fe1' && c.node !== null), 'fe1 holding the claim with its node', { timeoutMs: 10_000 });
    const node = held.node!;
    await waitUntil(async () => (await readRecord(nc, node))?.models.some((x) => x.name === 'm' && (x.state === 'starting' || x.state === 'loading')), `m loading on ${node}`, { timeoutMs: 10_000 });
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));

    // fe2 asks for m: it waits on the dead holder's claim, takes it over after the lease, and
    // adopts the load still running on that node instead of loading m again.
    const t0 = Date.now();
    const row = await fe2.core.router.load('m');
    expect(row.replicas).toEqual([expect.objectContaining({ node, state: 'ready' })]);
    expect(Date.now() - t0).toBeGreaterThanOrEqual(10_000);
    expect(claims.map((c) => c.frontend)).toContain('fe2');
    expect(claims.find((c) => c.frontend === 'fe2')?.node).toBe(node);
    await waitUntil(() => claims.at(-1)?.state === 'ready', 'the claim ended ready', { timeoutMs: 5000 });
    expect(claims.at(-1)).toMatchObject({ frontend: 'fe2', node, state: 'ready' });
    // One LoadModel in the whole cluster: the worker's only start of m was fe1's.
    const starts = (['w1', 'w2'] as const).flatMap((w) => {
      const states = events[w].filter((e) => e.type === 'model' && e.row?.name === 'm').map((e) => e.row!.state);
      return states.filter((s, i) => s === 'starting' && states[i - 1] !== 'starting').map(() => w);
    });
    expect(starts).toEqual([node]);
    await waitUntil(async () => !(await nc.bucket('claims').get(loadClaimKey('m')))?.value.length, 'the claim deleted', { timeoutMs: 5000 });
    watch.stop();
  }, 120_000);
});
