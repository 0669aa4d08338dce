/**
 * A worker's own loader keeps its node's policy (D26) and its backends die with it (D27): what
 * LocalAI's workers lack. Real worker processes, real fault backends, loads over NATS.
 */
import { mkdirSync, readdirSync, readFileSync, truncateSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { encode, nodeSubject, type NodeEvent } from '../../src/main/core/cluster/protocol';
import { cleanupCluster, clusterClient, pidAlive, readRecord, startNats, startWorker, tempDir, waitUntil } from './harness';
import { faultModel } from '../harness';

afterEach(cleanupCluster);

type Client = Awaited<ReturnType<typeof clusterClient>>;

async function load(client: Client, node: string, model: string): Promise<void> {
  const reply = await client.nc.request(nodeSubject(node, 'load'), encode({ v: 1, requestId: `r-${model}`, frontend: 'test', spec: { name: model, backend: 'fault', file: null, config: {}, needBytes: 0 }, protect: [], origin: 'api' }), { timeout: 5000 });
  expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ ok: true });
}

async function residents(client: Client, node: string, want: string[]): Promise<void> {
  let last = '';
  try {
    await waitUntil(async () => {
      const r = await readRecord(client, node);
      last = JSON.stringify(r?.models.map((m) => [m.name, m.state]));
      const ready = r?.models.filter((m) => m.state === 'ready').map((m) => m.name).sort();
      return JSON.stringify(ready) === JSON.stringify([...want].sort()) && r!.models.length === want.length;
    }, `${node} to hold exactly ${want.join(', ')}`, { timeoutMs: 15_000, intervalMs: 50 });
  } catch (e) {
    throw new Error(`${(e as Error).message}; it holds ${last}`);
  }
}

/** Pids whose parent is `pid`. */
function childrenOf(pid: number): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const stat = readFileSync(`/proc/${name}/stat`, 'utf8');
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

describe('worker policy (D26, D27)', () => {
  it('D26: the worker\'s cap and groups evict on its own; the unloads reach NATS naming the node', async () => {
    const nats = await startNats();
    await startWorker(nats.url, {
      name: 'w1',
      configs: { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b', { groups: ['heavy'] }), 'c.yaml': faultModel('c', { groups: ['heavy'] }), 'd.yaml': faultModel('d') },
      args: ['--max-active', '2'],
    });
    const client = await clusterClient(nats.url);
    const events: NodeEvent[] = [];
    client.nc.subscribe(nodeSubject('w1', 'events'), { callback: (_e, m) => void events.push(JSON.parse(new TextDecoder().decode(m.data)) as NodeEvent) });
    await load(client, 'w1', 'a');
    await residents(client, 'w1', ['a']);
    await load(client, 'w1', 'b');
    await residents(client, 'w1', ['a', 'b']);
    // c shares b's group: the worker evicts b (group), not the least recently used a.
    await load(client, 'w1', 'c');
    await residents(client, 'w1', ['a', 'c']);
    // b back: c goes (group again). Then d, with no group, meets the cap: the LRU one (a) goes.
    await load(client, 'w1', 'b');
    await residents(client, 'w1', ['a', 'b']);
    await load(client, 'w1', 'd');
    await residents(client, 'w1', ['b', 'd']);
    const journal = events.filter((e) => e.type === 'journal').map((e) => e.entry as unknown as { model: string; reason: string; node: string });
    expect(journal).toEqual(expect.arrayContaining([expect.objectContaining({ model: 'b', reason: 'group', node: 'w1' }), expect.objectContaining({ model: 'c', reason: 'group', node: 'w1' }), expect.objectContaining({ model: 'a', reason: 'lru', node: 'w1' })]));
    // Events carry increasing sequence numbers, so a frontend can spot a gap.
    const seqs = events.map((e) => e.seq);
    expect(seqs).toEqual([...seqs].sort((x, y) => x - y));
  });

  it('D26: a frontend\'s scale_down and drain unloads keep their reason in the worker\'s journal', async () => {
    const nats = await startNats();
    await startWorker(nats.url, { name: 'w1', configs: { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b') } });
    const client = await clusterClient(nats.url);
    const events: NodeEvent[] = [];
    client.nc.subscribe(nodeSubject('w1', 'events'), { callback: (_e, m) => void events.push(JSON.parse(new TextDecoder().decode(m.data)) as NodeEvent) });
    await load(client, 'w1', 'a');
    await load(client, 'w1', 'b');
    await residents(client, 'w1', ['a', 'b']);
    for (const [model, reason] of [['a', 'scale_down'], ['b', 'drain']]) {
      const reply = await client.nc.request(nodeSubject('w1', 'unload'), encode({ v: 1, requestId: `u-${model}`, model, force: false, reason, by: 'f1' }), { timeout: 5000 });
      expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ ok: true });
    }
    await waitUntil(() => events.filter((e) => e.type === 'journal').length >= 2, 'both unloads in the journal', { timeoutMs: 5000 });
    const journal = events.filter((e) => e.type === 'journal').map((e) => e.entry as unknown as { model: string; reason: string; node: string });
    expect(journal).toEqual(expect.arrayContaining([expect.objectContaining({ model: 'a', reason: 'scale_down', node: 'w1' }), expect.objectContaining({ model: 'b', reason: 'drain', node: 'w1' })]));
  });

  it('D26: the memory budget evicts least recently used on the worker', async () => {
    const nats = await startNats();
    // A load needs its estimate (a 200 MiB sparse file plus 85 MB for its process, 295 MB); a loaded
    // fault backend holds its RSS (~65 MB). 380 MiB (398 MB) fits a + b (360 MB), not a + b + c (425 MB).
    const modelsDir = join(tempDir('loadout-budget-'), 'models');
    mkdirSync(modelsDir);
    for (const m of ['a', 'b', 'c']) {
      writeFileSync(join(modelsDir, `${m}.bin`), '');
      truncateSync(join(modelsDir, `${m}.bin`), 200 * 1024 * 1024);
    }
    const configs = Object.fromEntries(['a', 'b', 'c'].map((m) => [`${m}.yaml`, faultModel(m, { extra: `parameters:\n  model: ${m}.bin` })]));
    await startWorker(nats.url, { name: 'w1', modelsDir, configs, args: ['--memory-budget', '380MB'] });
    const client = await clusterClient(nats.url);
    const events: NodeEvent[] = [];
    client.nc.subscribe(nodeSubject('w1', 'events'), { callback: (_e, m) => void events.push(JSON.parse(new TextDecoder().decode(m.data)) as NodeEvent) });
    await load(client, 'w1', 'a');
    await residents(client, 'w1', ['a']);
    await load(client, 'w1', 'b');
    await residents(client, 'w1', ['a', 'b']);
    await load(client, 'w1', 'c');
    await residents(client, 'w1', ['b', 'c']);
    expect(events.some((e) => e.type === 'journal' && (e.entry as { model: string; reason: string }).model === 'a' && (e.entry as { reason: string }).reason === 'memory')).toBe(true);
  });

  it('D27: a SIGKILLed worker leaves no backend process', async () => {
    const nats = await startNats();
    const w = await startWorker(nats.url, { name: 'w1', configs: { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b') } });
    const client = await clusterClient(nats.url);
    await load(client, 'w1', 'a');
    await load(client, 'w1', 'b');
    await residents(client, 'w1', ['a', 'b']);
    const backends = childrenOf(w.child.pid!);
    expect(backends.length).toBeGreaterThanOrEqual(2);
    await w.kill('SIGKILL');
    await waitUntil(() => backends.every((p) => !pidAlive(p)), 'every backend to exit with its worker', { timeoutMs: 5000 });
  });
});
