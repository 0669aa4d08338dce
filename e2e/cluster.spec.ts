/**
 * The GUI in a cluster (distributed-spec 4). The cluster router is not in this build, so the real
 * app runs on its own (real fault-backend models, the real bridge) and the page's WebSocket is
 * routed through Playwright: the frames pass unchanged except that a cluster is written into them
 * in the wire's own format (the snapshot's `cluster`, rows' `replicas`, `cluster` and `journal`
 * events), as a frontend with two workers would send them. `drainNode` is answered here as the
 * router would; `unloadReplica` goes to the real core, which refuses it (not in a cluster).
 */
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import type { Page, WebSocketRoute } from '@playwright/test';
import { parse } from 'yaml';
import type { ClusterNode, ClusterSnapshot, ModelReplica } from '../src/shared/cluster';
import type { JournalEntry, ModelRow, Snapshot } from '../src/shared/model';
import { expect, faultModel, keepScreenshot, openView, row, test } from './support/app';

const GB = 1024 ** 3;
const ago = (ms: number) => new Date(Date.now() - ms).toISOString();

function worker(name: string, over: Partial<ClusterNode> = {}): ClusterNode {
  return {
    name,
    state: 'live',
    reason: null,
    heartbeatAgeMs: 1200,
    version: '0.9.0',
    protocol: 1,
    labels: { zone: 'lab' },
    memory: { total: 64 * GB, available: 40 * GB, budget: 48 * GB, models: 16 * GB },
    gpus: [],
    inFlight: 0,
    local: false,
    replicas: [],
    ...over,
  };
}

const W1 = worker('w1', {
  labels: { zone: 'lab', gpu: 'rtx4090' },
  inFlight: 2,
  gpus: [{ type: 'cuda', names: ['NVIDIA GeForce RTX 4090'], totalBytes: 24 * GB, freeBytes: 9 * GB, usedByLoadoutBytes: 13 * GB, unified: false }],
  replicas: [{ model: 'chat', state: 'busy', inFlight: 2, queued: 1, lastUsed: ago(2000) }],
});
const W2 = worker('w2', {
  memory: { total: 32 * GB, available: 12 * GB, budget: 24 * GB, models: 14 * GB },
  replicas: [
    { model: 'chat', state: 'ready', inFlight: 0, queued: 0, lastUsed: ago(95_000) },
    { model: 'embed', state: 'ready', inFlight: 0, queued: 0, lastUsed: ago(30_000) },
  ],
});
const W3 = worker('w3', { heartbeatAgeMs: 800, replicas: [{ model: 'embed', state: 'ready', inFlight: 0, queued: 0, lastUsed: ago(600_000) }] });

const CLUSTER: ClusterSnapshot = {
  frontend: 'front-a',
  nats: 'connected',
  natsError: null,
  leader: 'front-a',
  nodes: [W2, W3, W1],
  lru: [
    { model: 'embed', node: 'w3' },
    { model: 'chat', node: 'w2' },
    { model: 'embed', node: 'w2' },
    { model: 'chat', node: 'w1' },
  ],
};

/** What the fake cluster says about each model row: its replicas. */
const REPLICAS: Record<string, ModelReplica[]> = {
  chat: [
    { node: 'w2', state: 'ready', inFlight: 0, lastUsed: ago(95_000) },
    { node: 'w1', state: 'busy', inFlight: 2, lastUsed: ago(2000) },
  ],
  embed: [
    { node: 'w2', state: 'ready', inFlight: 0, lastUsed: ago(30_000) },
    { node: 'w3', state: 'ready', inFlight: 0, lastUsed: ago(600_000) },
  ],
};

/** The row shows its best replica's state, as the router reports it. */
const ROW_STATE: Record<string, Pick<ModelRow, 'state' | 'inFlight' | 'lastUsed'>> = { chat: { state: 'busy', inFlight: 2, lastUsed: ago(2000) }, embed: { state: 'ready', inFlight: 0, lastUsed: ago(30_000) } };

const withReplicas = (r: ModelRow): ModelRow => (REPLICAS[r.name] ? { ...r, ...ROW_STATE[r.name], replicas: REPLICAS[r.name] } : r);

/** Routes the page's bridge through the test; returns a way to push events and the commands the page sent. */
async function fakeCluster(page: Page, cluster: ClusterSnapshot): Promise<{ push(event: unknown): void; calls: { name: string; args: unknown[] }[] }> {
  let socket: WebSocketRoute | null = null;
  const calls: { name: string; args: unknown[] }[] = [];
  await page.routeWebSocket(/\/ws\?token=/, (ws) => {
    socket = ws;
    const server = ws.connectToServer();
    const snapshotCalls = new Set<number>();
    ws.onMessage((frame) => {
      const call = JSON.parse(String(frame)) as { id: number; name: string; args?: unknown[] };
      calls.push({ name: call.name, args: call.args ?? [] });
      if (call.name === 'snapshot') snapshotCalls.add(call.id);
      // The router's answer to a drain: accepted (the node's new state comes as a cluster event).
      if (call.name === 'drainNode') ws.send(JSON.stringify({ id: call.id, outcome: { ok: true, value: null } }));
      else server.send(frame);
    });
    server.onMessage((frame) => {
      const msg = JSON.parse(String(frame)) as { id?: number; outcome?: { ok: boolean; value?: Snapshot }; event?: { type: string; row?: ModelRow } };
      if (msg.id !== undefined && msg.id !== null && snapshotCalls.has(msg.id) && msg.outcome?.ok && msg.outcome.value) {
        const snap = msg.outcome.value;
        ws.send(JSON.stringify({ ...msg, outcome: { ok: true, value: { ...snap, cluster, models: snap.models.map(withReplicas) } } }));
      } else if (msg.event?.type === 'model' && msg.event.row) {
        ws.send(JSON.stringify({ event: { ...msg.event, row: withReplicas(msg.event.row) } }));
      } else ws.send(frame);
    });
  });
  await page.reload();
  return {
    calls,
    push(event) {
      if (!socket) throw new Error('the page has not connected yet');
      socket.send(JSON.stringify({ event }));
    },
  };
}

test.use({ appOptions: { configs: { 'chat.yaml': faultModel('chat'), 'embed.yaml': faultModel('embed'), 'solo.yaml': faultModel('solo') } } });

test('on its own, the app has no Nodes view', async ({ page }) => {
  await expect(row(page, 'chat')).toBeVisible();
  await expect(page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Nodes' })).toHaveCount(0);
  await expect(row(page, 'chat').getByTestId('replicas')).toHaveCount(0);
});

test('the Nodes view: two live workers and one killed, drain and unload; replicas on the rows, the cluster LRU, nodes in Activity', async ({ page }) => {
  const cluster = await fakeCluster(page, CLUSTER);

  // The models list: each row names its replicas' nodes, serving ones first, in the replica's state colour.
  const chat = row(page, 'chat').getByTestId('replicas');
  await expect(chat.locator('.badge')).toHaveText(['w1 (2)', 'w2']);
  await expect(chat.locator('[data-node="w1"]')).toHaveClass(/state-busy/);
  await expect(chat.locator('[data-node="w1"]')).toHaveAttribute('title', 'w1: busy, 2 in flight');
  await expect(row(page, 'solo').getByTestId('replicas')).toHaveCount(0);
  await keepScreenshot(page, 'cluster-models');
  await row(page, 'chat').getByRole('link', { name: 'chat', exact: true }).click();
  const details = page.getByRole('complementary', { name: 'Details of chat' });
  await expect(details.getByTestId('replicas').locator('.badge')).toHaveText(['w1 (2)', 'w2']);
  await keepScreenshot(page, 'cluster-model-details');
  await page.getByRole('button', { name: 'Close details' }).click();

  await openView(page, 'Nodes');
  await expect(page.getByTestId('cluster-banner')).toContainText('NATS connected');
  await expect(page.getByTestId('leader')).toHaveText('Leader: front-a (this frontend)');
  const cards = page.locator('.node-card');
  await expect(cards).toHaveCount(3);
  await expect(cards.locator('h2')).toHaveText(['w1', 'w2', 'w3']);
  const w1 = page.locator('.node-card[data-node="w1"]');
  await expect(w1.getByTestId('node-state')).toHaveText('Live');
  await expect(w1.getByTestId('in-flight')).toHaveText('2 in flight');
  await expect(w1.locator('.chip')).toHaveText(['gpu=rtx4090', 'zone=lab']);
  await expect(w1).toContainText('version 0.9.0');
  await expect(w1.getByTestId('vram-bar')).toHaveAttribute('aria-label', /NVIDIA|VRAM/);
  await expect(w1).toContainText('NVIDIA GeForce RTX 4090');
  const w2 = page.locator('.node-card[data-node="w2"]');
  await expect(w2.getByTestId('memory-bar')).toHaveAttribute('aria-label', 'Memory: models 14.0 GB, other programs 6.00 GB, free 12.0 GB of 32.0 GB; budget 24.0 GB for models');
  await expect(w2.locator('.replicas tbody tr')).toHaveCount(2);
  await expect(w2.locator('tr[data-model="chat"]')).toContainText('1 min ago');
  await expect(w1.locator('tr[data-model="chat"]')).toContainText('+1 waiting');

  // w3 is killed: no heartbeat, the router declares it dead. Its age keeps counting on the page.
  cluster.push({ type: 'cluster', cluster: { ...CLUSTER, nodes: [W1, W2, { ...W3, state: 'dead', reason: 'no heartbeat for 6.2 s', heartbeatAgeMs: 6200, replicas: [] }], lru: CLUSTER.lru.slice(1) } });
  const w3 = page.locator('.node-card[data-node="w3"]');
  await expect(w3.getByTestId('node-state')).toHaveText('Dead');
  await expect(w3.getByTestId('node-reason')).toHaveText('no heartbeat for 6.2 s');
  await expect(w3).toContainText('No models loaded on this node.');
  await expect(w3.getByRole('button', { name: 'Drain…' })).toBeDisabled();
  await expect(w3.getByTestId('heartbeat')).toHaveText(/heartbeat [67] s ago/);
  await expect(w3.getByTestId('heartbeat')).toHaveText(/heartbeat (8|9|10) s ago/, { timeout: 5000 });
  await expect(page.getByTestId('node-counts')).toContainText('2 live · 1 dead');
  await keepScreenshot(page, 'cluster-nodes');
  await page.emulateMedia({ colorScheme: 'dark' });
  await keepScreenshot(page, 'cluster-nodes-dark');
  await page.emulateMedia({ colorScheme: 'light' });

  // Unload one replica: the command names the node and the model; this core is not in a cluster and says so.
  await w2.locator('tr[data-model="chat"]').getByRole('button', { name: 'Unload' }).click();
  await expect(page.getByRole('alert').filter({ hasText: 'Could not unload chat on w2' })).toContainText('not part of a cluster');
  expect(cluster.calls).toContainEqual({ name: 'unloadReplica', args: ['w2', 'chat'] });

  // Drain asks first; Cancel sends nothing.
  await w2.getByRole('button', { name: 'Drain…' }).click();
  const dialog = page.getByRole('dialog', { name: 'Drain w2?' });
  await expect(dialog).toContainText('Its 2 models finish their running requests');
  await dialog.getByRole('button', { name: 'Cancel' }).click();
  expect(cluster.calls.some((c) => c.name === 'drainNode')).toBe(false);
  await w2.getByRole('button', { name: 'Drain…' }).click();
  await page.getByRole('dialog', { name: 'Drain w2?' }).getByRole('button', { name: 'Drain w2' }).click();
  await expect(page.getByRole('dialog')).toHaveCount(0);
  expect(cluster.calls).toContainEqual({ name: 'drainNode', args: ['w2'] });
  const drained: ClusterSnapshot = { ...CLUSTER, nodes: [W1, { ...W2, state: 'draining', reason: 'drained by front-a' }, { ...W3, state: 'dead', reason: 'no heartbeat for 9 s', heartbeatAgeMs: 9000, replicas: [] }], lru: CLUSTER.lru.slice(1) };
  cluster.push({ type: 'cluster', cluster: drained });
  await expect(w2.getByTestId('node-state')).toHaveText('Draining');
  await expect(w2.getByRole('button', { name: 'Drain…' })).toBeDisabled();

  // NATS lost: the banner says so and what to check.
  cluster.push({ type: 'cluster', cluster: { ...drained, nats: 'disconnected', leader: null } });
  await expect(page.getByTestId('nats')).toContainText('NATS disconnected: check that nats-server runs');
  await expect(page.getByTestId('leader')).toContainText('No leader');

  // The LRU is the cluster's, each entry with its node.
  await openView(page, 'LRU');
  await expect(page.getByRole('heading', { name: 'Loaded in the cluster, least recently used first' })).toBeVisible();
  const items = page.getByTestId('lru-list').locator('.lru-item');
  await expect(items.locator('.model-name')).toHaveText(['chat', 'embed', 'chat']);
  await expect(items.getByTestId('node')).toHaveText(['w2', 'w2', 'w1']);
  await keepScreenshot(page, 'cluster-lru');

  // Activity names the node an unload happened on and the frontend that decided it.
  const entry: JournalEntry = { at: new Date().toISOString(), model: 'embed', reason: 'node_lost', sentence: 'embed is gone from w3: the node stopped answering', by: null, node: 'w3', frontend: 'front-a' };
  cluster.push({ type: 'journal', entry });
  await openView(page, 'Activity');
  const line = page.getByTestId('journal').locator('tr[data-reason="node_lost"]');
  await expect(line).toContainText('node lost');
  await expect(line.getByTestId('node')).toHaveText('w3');
  await expect(line.getByTestId('frontend')).toHaveText('· decided by front-a');
  await keepScreenshot(page, 'cluster-activity');
});

test('D35: the replica policy is edited in the model form, written to its YAML, shown on the row, and refused in words when wrong', async ({ page, app }) => {
  const file = join(app.modelsDir, 'solo.yaml');
  await row(page, 'solo').getByRole('link', { name: 'solo', exact: true }).click();
  const form = page.getByRole('form', { name: 'Settings of solo' });
  // On its own the app keeps the section folded: it only matters in a cluster.
  await form.getByText('Cluster replicas').click();
  await form.getByLabel('Minimum replicas').fill('1');
  await form.getByLabel('Maximum replicas').fill('3');
  await form.getByLabel('Node selector').fill('gpu=cuda, zone = lab');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByRole('status')).toContainText('Saved to');
  expect(parse(readFileSync(file, 'utf8')).cluster).toEqual({ min_replicas: 1, max_replicas: 3, node_selector: { gpu: 'cuda', zone: 'lab' } });
  await expect(row(page, 'solo').getByTestId('cluster-policy')).toHaveText('replicas 1-3 · on gpu=cuda, zone=lab');
  await expect(page.getByRole('complementary', { name: 'Details of solo' })).toContainText('replicas 1-3 · on gpu=cuda, zone=lab');
  await keepScreenshot(page, 'cluster-edit-form');

  // The form says what is wrong and writes nothing.
  const before = readFileSync(file, 'utf8');
  await form.getByLabel('Minimum replicas').fill('4');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByRole('alert')).toHaveText('Minimum replicas (4) cannot be more than maximum replicas (3).');
  await form.getByLabel('Minimum replicas').fill('1');
  await form.getByLabel('Node selector').fill('gpu');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByRole('alert')).toContainText('Node selector: "gpu" is not a label=value pair');
  await form.getByLabel('Node selector').fill('gpu=cuda');
  await form.getByLabel('Maximum replicas').fill('-2');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByRole('alert')).toContainText('Maximum replicas must be a whole number of at least 0');
  expect(readFileSync(file, 'utf8')).toBe(before);
  // The core checks too (a client other than this form).
  const refused = await app.call('updateModel', 'solo', { cluster: { min_replicas: 5, max_replicas: 1 } });
  expect(refused).toMatchObject({ ok: false, error: { code: 'invalid', message: expect.stringContaining('min_replicas (5) cannot be more than max_replicas (1)') } });

  // Emptied, the block leaves the YAML and the row.
  await form.getByRole('button', { name: 'Revert' }).click();
  await form.getByLabel('Minimum replicas').fill('');
  await form.getByLabel('Maximum replicas').fill('');
  await form.getByLabel('Node selector').fill('');
  await form.getByRole('button', { name: 'Save' }).click();
  await expect(form.getByRole('status')).toContainText('Saved to');
  expect(parse(readFileSync(file, 'utf8'))).not.toHaveProperty('cluster');
  await expect(row(page, 'solo').getByTestId('cluster-policy')).toHaveCount(0);
});

test('D34: a model only a worker has shows as a row naming its node, its settings left to that node', async ({ page }) => {
  const cluster = await fakeCluster(page, CLUSTER);
  await expect(row(page, 'chat')).toBeVisible();
  // The router's row for it, as it sends it when w2's record lists the model.
  const remote: ModelRow = {
    name: 'big', status: 'ok', error: null, backend: 'llama-cpp', file: 'big.Q4_K_M.gguf', sizeBytes: 4 * GB, groups: [], pinned: false, state: 'ready', failure: null, pid: null, address: null,
    loadedAt: ago(60_000), loadStartedAt: null, lastUsed: ago(5000), inFlight: 0, queued: 0, progress: null, memory: { estimateBytes: 5 * GB, rssBytes: null, vramBytes: null, vramEstimateBytes: null },
    ttl: null, contextSize: 4096, parallel: 1, configPath: null, gguf: null, reloadPending: false, templateWarning: null, warnings: [], remote: false,
    sampling: { temperature: 0.7, top_p: 0.95, max_tokens: null, seed: null }, placement: null, cluster: null, onNodes: ['w2'], replicas: [{ node: 'w2', state: 'ready', inFlight: 0, lastUsed: ago(5000) }],
  };
  cluster.push({ type: 'model', row: remote });
  await expect(row(page, 'big').getByTestId('on-nodes')).toHaveText('on w2');
  await expect(row(page, 'big').getByTestId('replicas').locator('.badge')).toHaveText(['w2']);
  await expect(row(page, 'big').getByRole('button', { name: 'Pin' })).toBeDisabled();
  await row(page, 'big').getByRole('link', { name: 'big', exact: true }).click();
  const details = page.getByRole('complementary', { name: 'Details of big' });
  await expect(details.getByTestId('on-nodes-note')).toHaveText('Only w2 has this model: its settings are edited in its YAML there.');
  await expect(page.getByRole('form', { name: 'Settings of big' })).toHaveCount(0);
  // Gone from every node: the row goes.
  cluster.push({ type: 'removed', name: 'big' });
  await expect(row(page, 'big')).toHaveCount(0);
});
