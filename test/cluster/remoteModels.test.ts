/**
 * D34: a model that only a worker's catalog has gets a row on the frontend (the models list,
 * `/api/state`, `/v1/models`), with its backend and file from the worker's record; its load goes
 * only to a node that has it, its requests and unload go there, and the row leaves with the node.
 * Real nats-server, real worker processes, the frontend's real HTTP API.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { nodeSubject } from '../../src/main/core/cluster/protocol';
import { startHttpServer, type HttpServerHandle } from '../../src/main/core/server/httpServer';
import { disposeAll, faultModel, startTestCore } from '../harness';
import { cleanupCluster, clusterClient, readRecord, startNats, startWorker, waitUntil } from './harness';

const servers: HttpServerHandle[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
  await cleanupCluster();
});

describe('models only workers have (D34)', () => {
  it('D34: a worker-only model has a row, loads only on a node that has it, answers, unloads there, and leaves with its node', async () => {
    const nats = await startNats();
    // w1 sorts first and has more room, so only the catalog filter keeps the load off it.
    await startWorker(nats.url, { name: 'w1', configs: { 'other.yaml': faultModel('other') } });
    const w2 = await startWorker(nats.url, { name: 'w2', configs: { 'only.yaml': faultModel('only', { groups: ['g'] }) }, args: ['--memory-budget', '1GB'] });
    const fe = await startTestCore({ settings: { cluster_nats_url: nats.url, cluster_node_name: 'fe1', cluster_local_node: false, eviction_wait: 2 } });
    const server = await startHttpServer(fe.core, { port: 0, ui: false });
    servers.push(server);
    const base = `http://127.0.0.1:${server.port}`;
    // Every load request sent to w1 (a plain subscriber sees them as the worker does).
    const nc = await clusterClient(nats.url);
    const toW1: string[] = [];
    nc.nc.subscribe(nodeSubject('w1', 'load'), { callback: (_e, m) => void toW1.push(new TextDecoder().decode(m.data)) });

    await waitUntil(() => fe.core.commands.snapshot().models.some((m) => m.name === 'only'), 'the row of only', { timeoutMs: 5000, intervalMs: 20 });
    const row = fe.row('only');
    expect(row).toMatchObject({ name: 'only', status: 'ok', backend: 'fault', groups: ['g'], state: 'unloaded', onNodes: ['w2'], replicas: [] });
    // The renderer learns of it by event, as of any row.
    await waitUntil(() => fe.events.some((e) => e.type === 'model' && e.row.name === 'only' && e.row.onNodes?.[0] === 'w2'), 'a model event for only', { timeoutMs: 2000, intervalMs: 20 });
    const state = (await (await fetch(`${base}/api/state`)).json()) as { models: { name: string; onNodes?: string[] }[] };
    expect(state.models.map((m) => m.name)).toEqual(['only', 'other']);
    expect(state.models.find((m) => m.name === 'only')?.onNodes).toEqual(['w2']);
    const listed = (await (await fetch(`${base}/v1/models`)).json()) as { data: { id: string }[] };
    expect(listed.data.map((m) => m.id)).toEqual(['only', 'other']);

    // The dry run is the placement's: w2, nothing to unload.
    expect(fe.core.commands.plan('only')).toMatchObject({ ok: true, unloads: [] });

    const answer = await fetch(`${base}/v1/chat/completions`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify({ model: 'only', messages: [{ role: 'user', content: 'hi' }], max_tokens: 4 }) });
    expect(answer.status).toBe(200);
    expect(((await answer.json()) as { choices: { message: { content: string } }[] }).choices[0].message.content.length).toBeGreaterThan(0);
    // The replica's state comes from w2's record over NATS, which says ready again a moment after
    // the answer has gone out (a CI run saw it still busy when the client had the whole answer).
    await waitUntil(() => fe.row('only').replicas?.[0]?.state === 'ready', 'the replica on w2 ready again', { timeoutMs: 5000, intervalMs: 20 });
    expect(fe.row('only').replicas).toEqual([expect.objectContaining({ node: 'w2', state: 'ready' })]);
    // Placed only where the model is: w1 was never even asked.
    expect(toW1).toEqual([]);
    expect((await readRecord(nc, 'w1'))?.models).toEqual([]);

    // A model neither this frontend nor any node has is still not found.
    expect((await fetch(`${base}/v1/models/nowhere`)).status).toBe(404);

    await fe.core.commands.unload('only');
    await waitUntil(async () => (await readRecord(nc, 'w2'))?.models.length === 0, 'only unloaded on w2');
    await waitUntil(() => fe.row('only').replicas?.length === 0, 'the row without replicas');

    // The node dies with the model loaded: the row goes (once judged dead), and no later row brings it back.
    await fe.core.commands.load('only');
    await waitUntil(() => fe.row('only').replicas?.some((r) => r.state === 'ready'), 'only loaded again');
    await w2.kill('SIGKILL');
    await waitUntil(() => !fe.core.commands.snapshot().models.some((m) => m.name === 'only'), 'the row gone with w2', { timeoutMs: 5000, intervalMs: 20 });
    const removedAt = await waitUntil(() => { const i = fe.events.findIndex((e) => e.type === 'removed' && e.name === 'only'); return i >= 0 ? i + 1 : null; }, 'a removed event', { timeoutMs: 2000, intervalMs: 20 });
    await new Promise((r) => setTimeout(r, 600));
    expect(fe.events.slice(removedAt).filter((e) => e.type === 'model' && e.row.name === 'only')).toEqual([]);
    expect(() => fe.row('only')).toThrow(/no model named/);
  });
});
