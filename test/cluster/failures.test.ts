/**
 * Workers that fail under a stream, against real processes: a SIGSTOPped worker is dead after W
 * and its stream ends then, not at a keepalive; after SIGCONT it rejoins with its real `tiny`
 * model still loaded (D32). A worker SIGKILLed after output: the caller gets `backend_crashed`
 * with the text so far, and no in-flight count or claim is left behind; killed before any
 * output, the request goes once more to a replica elsewhere, also leaving nothing (D10). Two frontends
 * show the same nodes, replicas and journal (D33).
 */
import { afterEach, describe, expect, it } from 'vitest';
import { LoadoutError } from '../../src/shared/errors';
import { encode, nodeSubject } from '../../src/main/core/cluster/protocol';
import { disposeAll, faultModel, startTestCore, type TestCore } from '../harness';
import { claimHeld, cleanupCluster, clusterClient, journalOf, nodeEvents, readRecord, startNats, startWorker, waitUntil } from './harness';

afterEach(async () => {
  await disposeAll();
  await cleanupCluster();
});

const TINY = 'name: tiny\nparameters:\n  model: tiny.gguf\ncontext_size: 4096\nthreads: 1\n';

function frontend(nats: string, name: string, o: Parameters<typeof startTestCore>[0] = {}) {
  return startTestCore({ ...o, settings: { cluster_nats_url: nats, cluster_node_name: name, cluster_local_node: false, eviction_wait: 2, ...o.settings } });
}

/** Streams `model` through the frontend's router, calling `onChunk` after each piece; returns the text and the error it ended with. */
async function streamOf(fe: TestCore, model: string, tokens: number, onChunk: (n: number) => void = () => {}): Promise<{ chunks: string[]; error: LoadoutError | null; endedAt: number }> {
  const chunks: string[] = [];
  try {
    for await (const c of fe.core.router.stream(model, { Prompt: 'Tell me a long story about a lighthouse', Tokens: tokens, Temperature: 0.8 })) {
      chunks.push(c.text);
      onChunk(chunks.length);
    }
    return { chunks, error: null, endedAt: Date.now() };
  } catch (e) {
    return { chunks, error: e as LoadoutError, endedAt: Date.now() };
  }
}

const nodeState = (fe: TestCore, node: string) => fe.core.commands.cluster()?.nodes.find((n) => n.name === node)?.state;

describe('cluster failures under a stream (D10, D32, D33)', () => {
  it('D32: a SIGSTOPped worker is dead after W and its stream ends then; after SIGCONT it rejoins with tiny still loaded', async () => {
    const nats = await startNats();
    const w1 = await startWorker(nats.url, { name: 'w1', ggufs: { tiny: 3 }, configs: { 'tiny.yaml': TINY } });
    const nc = await clusterClient(nats.url);
    const events = nodeEvents(nc, 'w1');
    const fe = await frontend(nats.url, 'fe1', { ggufs: { tiny: 3 }, configs: { 'tiny.yaml': TINY } });
    await waitUntil(() => nodeState(fe, 'w1') === 'live', 'w1 live', { timeoutMs: 10_000 });
    await fe.core.router.load('tiny');

    let stoppedAt = 0;
    const result = await streamOf(fe, 'tiny', 3000, (n) => {
      if (n === 2) {
        w1.child.kill('SIGSTOP');
        stoppedAt = Date.now();
      }
    });
    expect(stoppedAt).toBeGreaterThan(0);
    // Dead after W (3 x 250 ms) by the frontend's clock; the stream ends then, with the text kept
    // by the caller, long before gRPC's keepalive (10 + 5 s) would notice.
    expect(result.error).toMatchObject({ code: 'backend_crashed' });
    expect(result.error?.message).toMatch(/w1/);
    expect(result.chunks.length).toBeGreaterThanOrEqual(2);
    expect(result.endedAt - stoppedAt).toBeGreaterThanOrEqual(500);
    expect(result.endedAt - stoppedAt).toBeLessThan(5_000);
    expect(nodeState(fe, 'w1')).toBe('dead');

    const before = events.length;
    w1.child.kill('SIGCONT');
    await waitUntil(() => nodeState(fe, 'w1') === 'live' && fe.row('tiny').replicas?.some((r) => r.node === 'w1' && r.state === 'ready'), 'w1 back with tiny ready', { timeoutMs: 20_000 });
    // It kept its model (no unload, no new load), and it answers again.
    expect(events.slice(before).filter((e) => e.type === 'model' && e.row?.name === 'tiny' && e.row.state !== 'ready' && e.row.state !== 'busy')).toEqual([]);
    const again = await streamOf(fe, 'tiny', 8);
    expect(again.error).toBeNull();
    expect(again.chunks.length).toBeGreaterThan(0);
    await waitUntil(async () => (await readRecord(nc, 'w1'))?.models.find((m) => m.name === 'tiny')?.inFlight === 0, 'nothing in flight on w1', { timeoutMs: 10_000 });
    expect(fe.core.router.isQuiet()).toBe(true);
  }, 120_000);

  it('D10: a worker killed after output: backend_crashed with the partial text, and nothing leaks', async () => {
    const nats = await startNats();
    const m = faultModel('m', { options: ['fault_tokens:2000', 'fault_token_ms:20'] });
    const [w1] = await Promise.all([startWorker(nats.url, { name: 'w1', configs: { 'm.yaml': m } }), startWorker(nats.url, { name: 'w2', configs: { 'm.yaml': m } })]);
    const nc = await clusterClient(nats.url);
    const fe = await frontend(nats.url, 'fe1', { configs: { 'm.yaml': m } });
    await waitUntil(() => fe.core.commands.cluster()?.nodes.filter((n) => n.state === 'live').length === 2, 'both workers live', { timeoutMs: 10_000 });
    const reply = await nc.nc.request(nodeSubject('w1', 'load'), encode({ v: 1, requestId: 'pre', frontend: 'test', spec: { name: 'm', backend: 'fault', file: null, config: {}, needBytes: 0 }, protect: [], origin: 'api' }), { timeout: 5000 });
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ ok: true });
    await waitUntil(() => fe.row('m').replicas?.some((r) => r.node === 'w1' && r.state === 'ready'), 'm ready on w1', { timeoutMs: 10_000 });

    let killedAt = 0;
    const result = await streamOf(fe, 'm', 0, (n) => {
      if (n === 5) {
        killedAt = Date.now();
        void w1.kill('SIGKILL');
      }
    });
    expect(result.error).toBeInstanceOf(LoadoutError);
    expect(result.error).toMatchObject({ code: 'backend_crashed' });
    expect(result.error?.message).toMatch(/text so far is kept/);
    // The text already sent stays with the caller, and was not sent again from another replica.
    expect(result.chunks.length).toBeGreaterThanOrEqual(5);
    expect(result.chunks.length).toBeLessThan(2000);
    expect(result.endedAt - killedAt).toBeLessThan(3_000);
    await w1.exited;
    // "No responders" to the ping that the lost connection sent marks w1 dead at once (D4).
    await waitUntil(() => nodeState(fe, 'w1') === 'dead', 'w1 dead on the frontend', { timeoutMs: 1_000 });

    // Nothing leaks: this frontend counts nothing in flight, holds no claim, and a new request
    // goes to a replica loaded on w2, whose count is back to 0 after.
    expect(fe.core.router.isQuiet()).toBe(true);
    expect(fe.row('m').inFlight).toBe(0);
    const again = await streamOf(fe, 'm', 4);
    expect(again.error).toBeNull();
    expect(fe.row('m').replicas?.map((r) => r.node)).toEqual(['w2']);
    expect(fe.core.router.isQuiet()).toBe(true);
    await waitUntil(async () => (await readRecord(nc, 'w2'))?.models.find((x) => x.name === 'm')?.inFlight === 0, 'nothing in flight on w2', { timeoutMs: 5_000 });
    await waitUntil(async () => !(await claimHeld(nc, 'm')), 'no load claim left', { timeoutMs: 5_000 });
  }, 120_000);

  it('D10: a worker killed mid-request before any output: the request goes once more, elsewhere, and nothing leaks', async () => {
    const nats = await startNats();
    // The first token takes 1.5 s: the kill lands while the request runs on w1 and nothing was sent.
    const m = faultModel('m', { options: ['fault_token_ms:1500'] });
    const [w1] = await Promise.all([startWorker(nats.url, { name: 'w1', configs: { 'm.yaml': m } }), startWorker(nats.url, { name: 'w2', configs: { 'm.yaml': m } })]);
    const nc = await clusterClient(nats.url);
    const events = nodeEvents(nc, 'w2');
    const fe = await frontend(nats.url, 'fe1', { configs: { 'm.yaml': m } });
    await waitUntil(() => fe.core.commands.cluster()?.nodes.filter((n) => n.state === 'live').length === 2, 'both workers live', { timeoutMs: 10_000 });
    const reply = await nc.nc.request(nodeSubject('w1', 'load'), encode({ v: 1, requestId: 'pre', frontend: 'test', spec: { name: 'm', backend: 'fault', file: null, config: {}, needBytes: 0 }, protect: [], origin: 'api' }), { timeout: 5000 });
    expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ ok: true });
    await waitUntil(() => fe.row('m').replicas?.some((r) => r.node === 'w1' && r.state === 'ready'), 'm ready on w1', { timeoutMs: 10_000 });

    const pending = streamOf(fe, 'm', 2);
    await waitUntil(async () => (await readRecord(nc, 'w1'))?.models.find((x) => x.name === 'm')?.inFlight === 1, 'the request running on w1', { timeoutMs: 1_200 });
    await w1.kill('SIGKILL');
    const result = await pending;
    // The whole answer, once, from w2's replica (loaded cold for it): nothing from w1 was sent.
    expect(result.error).toBeNull();
    expect(result.chunks.join('')).toBe('tok0 tok1');
    expect(events.filter((e) => e.type === 'model' && e.row?.name === 'm' && e.row.state === 'ready').length).toBeGreaterThanOrEqual(1);
    expect(fe.row('m').replicas?.map((r) => r.node)).toEqual(['w2']);

    // Nothing leaks: no own count, no cold load, no claim; w2's count back to 0.
    expect(fe.core.router.isQuiet()).toBe(true);
    await waitUntil(async () => (await readRecord(nc, 'w2'))?.models.find((x) => x.name === 'm')?.inFlight === 0, 'nothing in flight on w2', { timeoutMs: 5_000 });
    await waitUntil(() => fe.row('m').inFlight === 0, 'the row at 0 in flight', { timeoutMs: 5_000 });
    expect(await claimHeld(nc, 'm')).toBe(false);
  }, 60_000);

  it('D33: two frontends show the same nodes, replicas and journal', async () => {
    const nats = await startNats();
    const configs = { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b'), 'c.yaml': faultModel('c') };
    await Promise.all([startWorker(nats.url, { name: 'w1', configs, args: ['--max-active', '1'] }), startWorker(nats.url, { name: 'w2', configs, args: ['--max-active', '2'] })]);
    const nc = await clusterClient(nats.url);
    const events = { w1: nodeEvents(nc, 'w1'), w2: nodeEvents(nc, 'w2') };
    const fes = await Promise.all([frontend(nats.url, 'fe1', { configs }), frontend(nats.url, 'fe2', { configs })]);
    for (const fe of fes) await waitUntil(() => fe.core.commands.cluster()?.nodes.filter((n) => n.state === 'live').length === 2, 'both workers live', { timeoutMs: 10_000 });
    // Loads through either frontend, and an unload through one: every worker's journal entry
    // reaches both frontends' journals, naming its node.
    await fes[0].core.router.load('a');
    await fes[1].core.router.load('b');
    await fes[1].core.router.load('c');
    await fes[0].core.router.unload('a');
    const expected = [...journalOf(events.w1), ...journalOf(events.w2)];
    await waitUntil(() => journalOf(events.w1).length + journalOf(events.w2).length >= 1, 'an unload journalled by a worker', { timeoutMs: 5_000 });

    const view = (fe: TestCore) => {
      const c = fe.core.commands.cluster()!;
      return {
        nodes: c.nodes.map((n) => ({ name: n.name, state: n.state, replicas: n.replicas.map((r) => `${r.model}:${r.state}`).sort() })).sort((x, y) => x.name.localeCompare(y.name)),
        rows: ['a', 'b', 'c'].map((m) => ({ m, state: fe.row(m).state, replicas: (fe.row(m).replicas ?? []).map((r) => `${r.node}:${r.state}`).sort() })),
        journal: fe.core.commands.journal().map((j) => `${j.node}:${j.model}:${j.reason}`).sort(),
      };
    };
    const settled = await waitUntil(() => {
      const [v1, v2] = fes.map(view);
      const want = [...journalOf(events.w1), ...journalOf(events.w2)].map((j) => `${j.node}:${j.model}:${j.reason}`).sort();
      // Settled: the unloaded replica gone from both (its journal entry may arrive before the record drops it).
      const aGone = v1.rows.find((r) => r.m === 'a')?.replicas.length === 0;
      return aGone && JSON.stringify(v1) === JSON.stringify(v2) && JSON.stringify(v1.journal) === JSON.stringify(want) ? v1 : null;
    }, 'both frontends to show the same view', { timeoutMs: 10_000 }).catch((e: Error) => {
      throw new Error(`${e.message}: fe1 ${JSON.stringify(view(fes[0]))} fe2 ${JSON.stringify(view(fes[1]))} workers ${JSON.stringify(expected)}`);
    });
    expect(settled.journal.length).toBeGreaterThanOrEqual(1);
    expect(settled.journal.filter((j) => j.endsWith(':a:user'))).toHaveLength(1);
    expect(settled.rows.find((r) => r.m === 'a')?.replicas).toEqual([]);
    expect(settled.rows.filter((r) => r.m !== 'a').every((r) => r.replicas.length === 1)).toBe(true);
  }, 120_000);
});
