/**
 * The frontend's own node and its NATS link, against a real nats-server: `cluster_share_local_node`
 * (clarifications 3: off, no other frontend can see, load onto or evict from this machine; on,
 * it is a node like a worker's, served through its own gateway) and `cluster_tls_ca` (a tls://
 * NATS server whose certificate a private CA signed: accepted with the CA, refused without it,
 * saying what to fix, D6).
 */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, encode, nodeSubject } from '../../src/main/core/cluster/protocol';
import { disposeAll, faultModel, startTestCore } from '../harness';
import { cleanupCluster, clusterClient, makeNatsTls, readRecord, startNats, startWorker, tempDir, waitUntil } from './harness';

afterEach(async () => {
  await disposeAll();
  await cleanupCluster();
});

const M = faultModel('m', { options: ['fault_token_ms:2'] });

function frontend(nats: string, name: string, settings: Record<string, unknown> = {}) {
  return startTestCore({ configs: { 'm.yaml': M }, settings: { cluster_nats_url: nats, cluster_node_name: name, eviction_wait: 2, ...settings } });
}

describe('the frontend own node (cluster_share_local_node)', () => {
  it('D1: off (the default), other frontends never see this machine, so they cannot load onto or evict from it', async () => {
    const nats = await startNats();
    const laptop = await frontend(nats.url, 'laptop');
    expect(laptop.core.commands.settings().cluster_share_local_node).toBe(false);
    // The laptop itself runs models for its own app (it is the only node yet)...
    await laptop.core.commands.load('m');
    expect(laptop.row('m').replicas?.map((r) => r.node)).toEqual(['laptop']);
    await startWorker(nats.url, { name: 'w1', configs: { 'm.yaml': M } });
    const other = await frontend(nats.url, 'fe2', { cluster_local_node: false });
    await waitUntil(() => other.core.commands.cluster()?.nodes.find((n) => n.name === 'w1' && n.state === 'live'), 'w1 live on fe2');
    // ...yet nothing of it is in NATS: fe2 places m on the worker.
    const nc = await clusterClient(nats.url);
    expect(await readRecord(nc, 'laptop')).toBeNull();
    expect(other.core.commands.cluster()?.nodes.map((n) => n.name)).toEqual(['w1']);
    await other.core.router.predict('m', { Prompt: 'hi', Tokens: 2 });
    expect(other.row('m').replicas?.map((r) => r.node)).toEqual(['w1']);
  });

  it('D1: on, this machine is a node of the cluster: another frontend loads onto it and streams through its gateway', async () => {
    const nats = await startNats();
    const laptop = await frontend(nats.url, 'laptop', { cluster_share_local_node: true });
    const nc = await clusterClient(nats.url);
    const record = await waitUntil(() => readRecord(nc, 'laptop'), "the laptop's node record");
    expect(record).toMatchObject({ name: 'laptop', protocol: PROTOCOL_VERSION, draining: false, models: [] });
    expect(record.tlsSha256).toMatch(/^[0-9a-f]{64}$/);

    const other = await frontend(nats.url, 'fe2', { cluster_local_node: false });
    await waitUntil(() => other.core.commands.cluster()?.nodes.find((n) => n.name === 'laptop' && n.state === 'live'), 'laptop live on fe2');
    const text: string[] = [];
    for await (const c of other.core.router.stream('m', { Prompt: 'hi', Tokens: 4 })) text.push(c.text);
    expect(text.join('').length).toBeGreaterThan(0);
    // The load ran in the laptop's own loader (its policy admits and evicts), and both sides show it.
    expect(laptop.core.router.rowOf('m')).toMatchObject({ state: 'ready', replicas: [expect.objectContaining({ node: 'laptop' })] });
    // (The record written mid-stream may still say busy: the next write says ready.)
    await waitUntil(() => other.row('m').replicas?.[0]?.state === 'ready', "fe2's replica of m ready");
    expect(other.row('m').replicas).toEqual([expect.objectContaining({ node: 'laptop', state: 'ready' })]);
    expect(other.row('m').pid).toBeNull();
    // The laptop's own requests stay in-process: its own node is not read back from NATS.
    expect(laptop.core.commands.cluster()?.nodes.filter((n) => n.name === 'laptop').map((n) => n.local)).toEqual([true]);

    // D33: an unload through fe2 is in both journals once: the laptop's own loader journals it,
    // and its node's event (read back from NATS by every frontend) is not added to it again.
    await other.core.router.unload('m');
    await waitUntil(() => other.core.commands.journal().some((j) => j.model === 'm'), "the unload in fe2's journal", { timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 300)); // the same event, were it read back, would arrive in a few ms
    expect(other.core.commands.journal().filter((j) => j.model === 'm').map((j) => [j.node, j.reason])).toEqual([['laptop', 'user']]);
    expect(laptop.core.commands.journal().filter((j) => j.model === 'm').map((j) => j.reason)).toEqual(['user']);
    // A worker's unload reaches the laptop's journal naming the worker, and the laptop's node does
    // not publish it again as its own: fe2 has it once, from w1.
    await startWorker(nats.url, { name: 'w1', configs: { 'm.yaml': M } });
    const ask = async (verb: 'load' | 'unload', body: Record<string, unknown>) => JSON.parse(new TextDecoder().decode((await nc.nc.request(nodeSubject('w1', verb), encode({ v: 1, requestId: `t-${verb}`, ...body }), { timeout: 5000 })).data)) as { ok: boolean };
    expect(await ask('load', { frontend: 'test', spec: { name: 'm', backend: 'fault', file: null, config: {}, needBytes: 0 }, protect: [], origin: 'api' })).toMatchObject({ ok: true });
    await waitUntil(async () => (await readRecord(nc, 'w1'))?.models.some((x) => x.name === 'm' && x.state === 'ready'), 'm ready on w1');
    expect(await ask('unload', { model: 'm', force: false, reason: 'user', by: null })).toMatchObject({ ok: true });
    await waitUntil(() => laptop.core.commands.journal().some((j) => j.node === 'w1'), "w1's unload in the laptop's journal", { timeoutMs: 5_000 });
    await waitUntil(() => other.core.commands.journal().some((j) => j.node === 'w1'), "w1's unload in fe2's journal", { timeoutMs: 5_000 });
    await new Promise((r) => setTimeout(r, 300));
    expect(laptop.core.commands.journal().filter((j) => j.model === 'm').map((j) => j.node ?? 'laptop').sort()).toEqual(['laptop', 'w1']);
    expect(other.core.commands.journal().filter((j) => j.model === 'm').map((j) => j.node).sort()).toEqual(['laptop', 'w1']);

    // A clean stop takes the record away at once.
    await laptop.dispose();
    await waitUntil(async () => (await readRecord(nc, 'laptop')) === null, "the laptop's record gone");
  });
});

describe('a tls:// NATS server (cluster_tls_ca)', () => {
  it('D1 D6: with the CA, frontend and worker join over TLS; without it, or with another CA, the join says what to fix', async () => {
    const tls = await makeNatsTls();
    const nats = await startNats({ tls });
    expect(nats.url.startsWith('tls://')).toBe(true);
    // The worker gets --cluster-tls-ca from the harness.
    await startWorker(nats.url, { name: 'w1', configs: { 'm.yaml': M } });
    const fe = await frontend(nats.url, 'fe1', { cluster_local_node: false, cluster_tls_ca: nats.caFile! });
    await waitUntil(() => fe.core.commands.cluster()?.nodes.find((n) => n.name === 'w1' && n.state === 'live'), 'w1 live over TLS');
    expect(fe.core.commands.cluster()).toMatchObject({ nats: 'connected', natsError: null });
    await fe.core.router.predict('m', { Prompt: 'hi', Tokens: 2 });
    expect(fe.row('m').replicas?.map((r) => r.node)).toEqual(['w1']);

    const without = await frontend(nats.url, 'fe2', { cluster_local_node: false });
    expect(without.core.commands.cluster()?.natsError).toMatch(/certificate was not accepted.*Set cluster_tls_ca/);

    const otherCa = join(tempDir('loadout-ca-'), 'other-ca.pem');
    writeFileSync(otherCa, (await makeNatsTls()).ca);
    const wrong = await frontend(nats.url, 'fe3', { cluster_local_node: false, cluster_tls_ca: otherCa });
    expect(wrong.core.commands.cluster()?.natsError).toMatch(new RegExp(`certificate was not accepted.*${otherCa.replace(/[.*+?^${}()|[\]\\]/g, '\\$&')} \\(cluster_tls_ca\\)`));

    const missing = await frontend(nats.url, 'fe4', { cluster_local_node: false, cluster_tls_ca: '/nonexistent/ca.pem' });
    expect(missing.core.commands.cluster()?.natsError).toMatch(/cluster_tls_ca names \/nonexistent\/ca.pem, which does not exist/);
    // Local use goes on for the ones that could not join.
    expect(missing.core.commands.snapshot().models.map((r) => r.name)).toEqual(['m']);
  });
});
