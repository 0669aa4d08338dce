/**
 * Cluster workers against a real nats-server (distributed-spec.md): joining and heartbeats (D1),
 * names (D2), protocol versions (D5), join failures (D6), requests over NATS.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION, encode, inventoryKey, nodeKey, nodeSubject, parseNodeHeartbeat } from '../../src/main/core/cluster/protocol';
import { cleanupCluster, clusterClient, readRecord, relay, spawnWorker, startNats, startWorker, waitUntil } from './harness';
import { faultModel } from '../harness';
import { freePort } from '../../src/wire';

afterEach(cleanupCluster);

async function request(client: Awaited<ReturnType<typeof clusterClient>>, node: string, verb: 'load' | 'unload' | 'ping' | 'drain', body: unknown): Promise<Record<string, unknown>> {
  const msg = await client.nc.request(nodeSubject(node, verb), typeof body === 'string' ? new TextEncoder().encode(body) : encode(body), { timeout: 5000 });
  return JSON.parse(new TextDecoder().decode(msg.data)) as Record<string, unknown>;
}

describe('cluster worker (D1, D2, D5, D6)', () => {
  it('D1: a worker registers; its heartbeat is rewritten every heartbeat, its inventory only when it changes', async () => {
    const nats = await startNats();
    const w = await startWorker(nats.url, { name: 'w1', configs: { 'a.yaml': faultModel('a') }, args: ['--labels', 'gpu=none,zone=lab'] });
    expect(w.record).toMatchObject({ v: 1, name: 'w1', protocol: PROTOCOL_VERSION, heartbeatMs: 250, labels: { gpu: 'none', zone: 'lab' }, draining: false });
    expect(w.record.gateway).toMatch(/^127\.0\.0\.1:\d+$/);
    expect(w.record.tlsSha256).toMatch(/^[0-9a-f]{64}$/);
    expect(w.record.token.length).toBeGreaterThan(30);
    expect(w.record.files).toEqual([]);
    const client = await clusterClient(nats.url);
    // Watch: a new heartbeat arrives within one heartbeat (plus slack for a busy machine).
    const heartbeats: number[] = [];
    const inventories: number[] = [];
    const stop = client.watchNodes((e) => {
      if (e.kind === 'heartbeat') heartbeats.push(e.value.seq);
      if (e.kind === 'inventory') inventories.push(e.value.seq);
    });
    const first = await waitUntil(() => heartbeats[0], 'the current heartbeat');
    const t0 = Date.now();
    await waitUntil(() => heartbeats.some((s) => s > first), 'the next heartbeat', { timeoutMs: 2000 });
    expect(Date.now() - t0).toBeLessThan(250 + 400);
    // Idle, the inventory (catalog, files, models, certificate) is not written again: 4 heartbeats
    // go by with the one inventory the watch found, carrying only the small heartbeat.
    await waitUntil(() => heartbeats.filter((s) => s > first).length >= 4, '4 more heartbeats', { timeoutMs: 3000 });
    expect(inventories).toEqual([inventories[0]]);
    const sizes = await Promise.all([nodeKey('w1'), inventoryKey('w1')].map(async (k) => (await client.bucket('nodes').get(k))!.length));
    expect(sizes[0]).toBeLessThan(600);
    expect(sizes[1]).toBeGreaterThan(sizes[0]);
    // A model that loads shows in the record at once, not a heartbeat later.
    const ack = await request(client, 'w1', 'load', { v: 1, requestId: 'r1', frontend: 'fe1', spec: { name: 'a', backend: 'fault', file: null, config: {}, needBytes: 0 }, protect: [], origin: 'api' });
    expect(ack).toMatchObject({ v: 1, ok: true, requestId: 'r1', row: { name: 'a' } });
    const rec = await waitUntil(async () => (await readRecord(client, 'w1'))?.models.find((m) => m.name === 'a' && m.state === 'ready'), 'a ready in the record');
    expect(rec).toMatchObject({ backend: 'fault', inFlight: 0 });
    // An unload answers once the process has exited; the record drops the model at once.
    const unloaded = await request(client, 'w1', 'unload', { v: 1, requestId: 'u1', model: 'a', force: false, reason: 'user', by: null });
    expect(unloaded).toMatchObject({ ok: true, requestId: 'u1', row: { name: 'a', state: 'unloaded' } });
    await waitUntil(async () => (await readRecord(client, 'w1'))?.models.length === 0, 'a gone from the record', { timeoutMs: 2000 });
    // The load and the unload were changes: each wrote the inventory again.
    expect(inventories.length).toBeGreaterThanOrEqual(3);
    stop();
  });

  it('D2: a second live worker with the same name is refused; a restarted one retakes its name', async () => {
    const nats = await startNats();
    const w1 = await startWorker(nats.url, { name: 'dup' });
    const second = spawnWorker(nats.url, { name: 'dup' });
    expect(await second.exited).toBe(1);
    expect(second.out.stderr).toMatch(/Another live worker holds the name "dup".*another --name/);
    // kill -9 leaves the record; a new incarnation takes it over after 2 heartbeats without a write.
    await w1.kill('SIGKILL');
    const t0 = Date.now();
    const w2 = await startWorker(nats.url, { name: 'dup' });
    expect(w2.record.incarnation).not.toBe(w1.record.incarnation);
    expect(Date.now() - t0).toBeLessThan(15_000);
    // A clean stop removes the record, so the next start takes the name at once.
    await w2.kill('SIGTERM');
    const client = await clusterClient(nats.url);
    expect(await readRecord(client, 'dup')).toBeNull();
  });

  it('D2: a worker paused past its lease whose name was taken stops when it wakes, leaving the new one\'s record alone', async () => {
    const nats = await startNats();
    const old = await startWorker(nats.url, { name: 'dup' });
    old.child.kill('SIGSTOP');
    const taker = await startWorker(nats.url, { name: 'dup' });
    old.child.kill('SIGCONT');
    expect(await old.exited).toBe(1);
    expect(old.stderr() + old.stdout()).toMatch(/another worker took over the name "dup"/);
    const client = await clusterClient(nats.url);
    const record = await readRecord(client, 'dup');
    expect(record?.incarnation).toBe(taker.record.incarnation);
    expect(record?.gateway).toBe(taker.record.gateway);
  });

  it('D5: heartbeats carry the protocol; another protocol reads as incompatible', async () => {
    const nats = await startNats();
    const client = await clusterClient(nats.url);
    await client.bucket('nodes').put(nodeKey('future'), JSON.stringify({ v: 1, name: 'future', protocol: PROTOCOL_VERSION + 1 }));
    const e = await client.bucket('nodes').get(nodeKey('future'));
    const parsed = parseNodeHeartbeat(e!.value);
    expect(parsed.ok).toBe(false);
    expect(parsed).toMatchObject({ incompatible: { name: 'future', protocol: PROTOCOL_VERSION + 1 } });
  });

  it('D6: no JetStream, bad credentials or no server: the join fails saying what to fix', async () => {
    const [plain, secured] = await Promise.all([startNats({ jetstream: false }), startNats({ user: 'loadout', pass: 'right' })]);
    const nobody = `nats://loadout:right@127.0.0.1:${await freePort()}`;
    const [a, b, c] = [spawnWorker(plain.url, { name: 'x' }), spawnWorker(secured.url.replace('right', 'wrong'), { name: 'y' }), spawnWorker(nobody, { name: 'z' })];
    expect(await Promise.all([a.exited, b.exited, c.exited])).toEqual([1, 1, 1]);
    expect(a.out.stderr).toMatch(/JetStream off.*nats-server -js/);
    expect(b.out.stderr).toMatch(/refused the credentials/);
    expect(c.out.stderr).toMatch(/Cannot reach NATS at nats:\/\/\*\*\*@127\.0\.0\.1/);
    // Credentials never reach a message (clarifications 6).
    for (const w of [b, c]) expect(w.out.stderr).not.toMatch(/right|wrong/);
  }, 120_000);

  it('malformed requests get an error reply and the worker keeps serving', async () => {
    const nats = await startNats();
    await startWorker(nats.url, { name: 'w1', configs: { 'a.yaml': faultModel('a') } });
    const client = await clusterClient(nats.url);
    expect(await request(client, 'w1', 'load', 'not json')).toMatchObject({ ok: false, error: { code: 'invalid', message: 'load: not JSON' } });
    expect(await request(client, 'w1', 'load', { v: 2, requestId: 'x' })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/unsupported message version/) } });
    expect(await request(client, 'w1', 'load', { v: 1, requestId: 'x', frontend: 'f', spec: { name: 'a', backend: '/bin/sh' } })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/runs on backend "fault"/) } });
    expect(await request(client, 'w1', 'load', { v: 1, requestId: 'x', frontend: 'f', spec: { name: 'a', backend: 'fault', file: { name: '../../etc/passwd', sizeBytes: 1 } } })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/relative inside/) } });
    expect(await request(client, 'w1', 'load', { v: 1, requestId: 'x', frontend: 'f', spec: { name: 'nope', backend: 'fault' } })).toMatchObject({ ok: false, error: { code: 'not_found' } });
    expect(await request(client, 'w1', 'ping', { v: 1, requestId: 'p' })).toMatchObject({ ok: true, name: 'w1' });
    const drained = await request(client, 'w1', 'drain', { v: 1, requestId: 'd' });
    expect(drained).toMatchObject({ ok: true, draining: true });
    expect((await readRecord(client, 'w1'))?.draining).toBe(true);
    expect(await request(client, 'w1', 'load', { v: 1, requestId: 'x', frontend: 'f', spec: { name: 'a', backend: 'fault' } })).toMatchObject({ ok: false, error: { message: expect.stringMatching(/draining/) } });
  });

  it('after a NATS restart, and after a cut link heals, the worker rewrites its record and answers again', async () => {
    const nats = await startNats();
    const link = await relay({ host: '127.0.0.1', port: nats.port });
    const w = await startWorker(nats.url.replace(`:${nats.port}`, `:${link.port}`), { name: 'w1', configs: { 'a.yaml': faultModel('a') } });
    const client = await clusterClient(nats.url);
    const seqNow = async () => (await readRecord(client, 'w1'))?.seq ?? 0;

    await nats.restart();
    const before = await waitUntil(seqNow, 'the record readable after the restart', { timeoutMs: 10_000 });
    await waitUntil(async () => (await seqNow()) > before + 1, 'heartbeats after the restart', { timeoutMs: 5000 });
    expect((await request(client, 'w1', 'ping', { v: 1, requestId: 'p1' })).incarnation).toBe(w.record.incarnation);

    link.cut();
    const cutAt = await seqNow();
    await new Promise((r) => setTimeout(r, 1000));
    expect(await seqNow()).toBeLessThanOrEqual(cutAt + 1);
    link.heal();
    await waitUntil(async () => (await seqNow()) > cutAt + 2, 'heartbeats after the heal', { timeoutMs: 10_000 });
    expect((await readRecord(client, 'w1'))?.incarnation).toBe(w.record.incarnation);
  }, 90_000);

  it('a model unloaded just before nats-server is SIGKILLed is gone from the record within a second of its return', async () => {
    const nats = await startNats();
    const w = await startWorker(nats.url, { name: 'w1', configs: { 'n.yaml': faultModel('n') } });
    const client = await clusterClient(nats.url);
    const load = { v: 1, requestId: 'l1', frontend: 'fe1', spec: { name: 'n', backend: 'fault', file: null, config: {}, needBytes: 0 }, protect: [], origin: 'api' };
    expect(await request(client, 'w1', 'load', load)).toMatchObject({ ok: true });
    await waitUntil(async () => (await readRecord(client, 'w1'))?.models.some((m) => m.state === 'ready'), 'n ready in the record');
    expect(await request(client, 'w1', 'unload', { v: 1, requestId: 'u1', model: 'n', force: false, reason: 'user', by: null })).toMatchObject({ ok: true });
    // The inventory write that the unload started is in flight as the server dies: its answer
    // never comes. The worker gives it up with the connection, not 5 s later.
    await nats.kill();
    await new Promise((r) => setTimeout(r, 500));
    await nats.restart();
    const back = Date.now();
    // (This test's own client reads once it has its buckets back: a read sent earlier can go unanswered too.)
    await waitUntil(() => client.connected, 'the test client reconnected', { timeoutMs: 10_000 });
    // When the unload's write landed before the kill, the record is already empty as the server
    // returns, so the worker's own return is waited for too: both within the bound.
    await waitUntil(() => /reconnected to NATS/.test(w.stderr() + w.stdout()), 'the worker reconnected', { timeoutMs: 3_000, intervalMs: 25 });
    await waitUntil(async () => (await readRecord(client, 'w1'))?.models.length === 0, 'n gone from the record', { timeoutMs: 3_000, intervalMs: 25 });
    expect(Date.now() - back).toBeLessThan(2_000);
  }, 60_000);
});
