/**
 * The frontend's read side: `cluster_nats_url` joins, `GET /api/cluster` lists the nodes with
 * their heartbeat age (D1), the URL's credentials are never shown (clarifications 6), and an
 * empty URL changes nothing.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { PROTOCOL_VERSION } from '../../src/main/core/cluster/protocol';
import { startHttpServer, type HttpServerHandle } from '../../src/main/core/server/httpServer';
import { disposeAll, faultModel, startTestCore } from '../harness';
import { cleanupCluster, startNats, startWorker, waitUntil } from './harness';

const servers: HttpServerHandle[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
  await cleanupCluster();
});

async function api(settings: Record<string, unknown> = {}) {
  const t = await startTestCore({ settings });
  const server = await startHttpServer(t.core, { port: 0, ui: false });
  servers.push(server);
  const get = async (path: string) => (await fetch(`http://127.0.0.1:${server.port}${path}`)).json() as Promise<any>;
  return { t, get };
}

describe('cluster frontend view (D1)', () => {
  it('D1: an empty cluster_nats_url changes nothing: no cluster, models as before', async () => {
    const { t, get } = await api();
    expect(t.core.commands.settings().cluster_nats_url).toBe('');
    expect(t.core.commands.cluster()).toBeNull();
    expect(await get('/api/cluster')).toEqual({ frontend: null, nats: 'disconnected', natsError: null, leader: null, nodes: [], lru: [] });
    expect((await get('/api/state')).models).toEqual([]);
  });

  it('D1: a worker shows on the frontend within a heartbeat; a killed one is dead after 3; credentials stay hidden', async () => {
    const nats = await startNats({ user: 'loadout', pass: 's3cret' });
    const { t, get } = await api({ cluster_nats_url: nats.url, cluster_node_name: 'laptop' });
    const w = await startWorker(nats.url, { name: 'w1', configs: { 'a.yaml': faultModel('a') }, args: ['--labels', 'gpu=none'] });
    const node = await waitUntil(async () => (await get('/api/cluster')).nodes.find((n: any) => n.name === 'w1'), 'w1 on the frontend', { timeoutMs: 5000 });
    expect(node).toMatchObject({ state: 'live', reason: null, protocol: PROTOCOL_VERSION, labels: { gpu: 'none' }, local: false, replicas: [] });
    expect(node.heartbeatAgeMs).toBeLessThan(250 + 300);
    const status = await get('/api/cluster');
    expect(status).toMatchObject({ frontend: 'laptop', nats: 'connected', natsError: null });
    expect(JSON.stringify(status)).not.toContain('s3cret');
    expect(t.core.commands.settings().cluster_nats_url).toBe('set');
    expect(JSON.stringify(await get('/api/settings'))).not.toContain('s3cret');
    // The GUI gets it too: in the snapshot, and as a cluster event.
    expect(t.core.commands.snapshot().cluster?.nodes.filter((n) => !n.local).map((n) => n.name)).toEqual(['w1']);
    await waitUntil(() => t.events.some((e) => e.type === 'cluster' && e.cluster?.nodes.some((n) => n.name === 'w1')), 'a cluster event naming w1');

    await w.kill('SIGKILL');
    const killedAt = Date.now();
    const dead = await waitUntil(async () => (await get('/api/cluster')).nodes.find((n: any) => n.name === 'w1' && n.state === 'dead'), 'w1 dead', { timeoutMs: 5000 });
    expect(dead.reason).toMatch(/no heartbeat for \d/);
    await waitUntil(() => t.events.some((e) => e.type === 'cluster' && e.cluster?.nodes.some((n) => n.name === 'w1' && n.state === 'dead')), 'a cluster event with w1 dead');
    expect(Date.now() - killedAt).toBeGreaterThanOrEqual(500);
  });

  it('a join that fails is reported in /api/cluster and local use goes on (D6)', async () => {
    const nats = await startNats({ jetstream: false });
    const { t, get } = await api({ cluster_nats_url: nats.url });
    const status = await waitUntil(async () => {
      const s = await get('/api/cluster');
      return s.natsError ? s : null;
    }, 'the join error', { timeoutMs: 15_000 });
    expect(status).toMatchObject({ nats: 'disconnected', nodes: [] });
    expect(status.natsError).toMatch(/JetStream off/);
    expect(t.core.commands.snapshot().models).toEqual([]);
    expect(t.core.commands.cluster()?.natsError).toMatch(/JetStream off/);
  });
});
