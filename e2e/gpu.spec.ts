/**
 * V12: the GUI with a GPU. These machines have none, so the real app runs (real fault-backend
 * models, real loads, the real bridge) and the page's WebSocket is routed through Playwright: the
 * frames pass unchanged except that GPU figures are written into them, as a core on a machine
 * with an NVIDIA card would send them (the snapshot's `gpus`, rows' VRAM and placement, `gpus`
 * and journal events in the wire's own format).
 */
import type { Page, WebSocketRoute } from '@playwright/test';
import type { GpuDevice, JournalEntry, ModelRow, Snapshot } from '../src/shared/model';
import { join } from 'node:path';
import { expect, faultModel, keepScreenshot, openView, row, screenshotDir, test } from './support/app';

const GB = 1024 ** 3;
const CUDA: GpuDevice = { type: 'cuda', names: ['NVIDIA GeForce RTX 4070'], totalBytes: 12 * GB, freeBytes: 10 * GB, usedByLoadoutBytes: 0, unified: false };

/** What the fake GPU machine says about each model: its estimate, and where it runs once loaded. */
const GPU_MODELS: Record<string, { estimate: number; layers: [number, number] }> = {
  big: { estimate: 6.4 * GB, layers: [20, 32] },
  small: { estimate: 2 * GB, layers: [33, 33] },
};

function withGpu(r: ModelRow): ModelRow {
  const m = GPU_MODELS[r.name];
  if (!m) return r;
  const loaded = r.state === 'ready' || r.state === 'busy';
  return {
    ...r,
    memory: { ...r.memory, vramEstimateBytes: m.estimate, vramBytes: loaded ? m.estimate * 0.97 : null },
    placement: loaded ? { device: 'cuda', gpuLayers: m.layers[0], totalLayers: m.layers[1] } : null,
  };
}

/** Routes the page's bridge through the test; returns a way to push events to the page. */
async function fakeGpuMachine(page: Page, gpus: GpuDevice[]): Promise<{ push(event: unknown): void }> {
  let socket: WebSocketRoute | null = null;
  await page.routeWebSocket(/\/ws\?token=/, (ws) => {
    socket = ws;
    const server = ws.connectToServer();
    const snapshotCalls = new Set<number>();
    ws.onMessage((frame) => {
      const call = JSON.parse(String(frame)) as { id: number; name: string };
      if (call.name === 'snapshot') snapshotCalls.add(call.id);
      server.send(frame);
    });
    server.onMessage((frame) => {
      const msg = JSON.parse(String(frame)) as { id?: number; outcome?: { ok: boolean; value?: Snapshot }; event?: { type: string; row?: ModelRow } };
      if (msg.id !== undefined && msg.id !== null && snapshotCalls.has(msg.id) && msg.outcome?.ok && msg.outcome.value) {
        const snap = msg.outcome.value;
        ws.send(JSON.stringify({ ...msg, outcome: { ok: true, value: { ...snap, gpus, models: snap.models.map(withGpu) } } }));
      } else if (msg.event?.type === 'model' && msg.event.row) {
        ws.send(JSON.stringify({ event: { ...msg.event, row: withGpu(msg.event.row) } }));
      } else ws.send(frame);
    });
  });
  // The page opened before the route: open it again through it.
  await page.reload();
  return {
    push(event) {
      if (!socket) throw new Error('the page has not connected yet');
      socket.send(JSON.stringify({ event }));
    },
  };
}

test.describe('with a GPU', () => {
  test.use({ appOptions: { configs: { 'big.yaml': faultModel('big'), 'small.yaml': faultModel('small') }, args: ['--max-active', '1'] } });

  test('V12: the VRAM bar, the VRAM column with "GPU 20/32", VRAM in the plan, in Settings and in Activity', async ({ page }) => {
    const gpu = await fakeGpuMachine(page, [CUDA]);
    const panel = page.getByTestId('gpu-panel');
    await expect(panel).toContainText('CUDA');
    await expect(panel).toContainText('NVIDIA GeForce RTX 4070');
    // 12 GB, 10 free, nothing of Loadout's: 2 GB are other programs.
    await expect(panel.getByTestId('vram-bar')).toHaveAttribute('aria-label', "VRAM: Loadout's models 0 MB, other programs 2.0 GB, free 10.0 GB of 12.0 GB");

    // Not loaded: the estimate, marked as one, and no placement yet.
    const big = row(page, 'big');
    await expect(big.getByTestId('vram')).toHaveText('~6.4 GB est.');
    await expect(big.getByTestId('placement')).toHaveCount(0);
    await expect(page.locator('.list-head .col-vram')).toBeVisible();

    // Loaded (a real load on the fault backend): measured VRAM, and a partial offload shown as such.
    await big.getByRole('button', { name: 'Load' }).click();
    await expect(big).toHaveAttribute('data-state', 'ready', { timeout: 30_000 });
    await expect(big.getByTestId('placement')).toHaveText('GPU 20/32');
    await expect(big.getByTestId('placement')).toHaveClass(/partial/);
    await expect(big.getByTestId('placement')).toHaveAttribute('title', /20 of 32 layers; the rest on the CPU/);
    await expect(big.getByTestId('vram')).toContainText('6.2 GB');
    await expect(big.getByTestId('vram')).not.toContainText('est.');

    // The core's next VRAM reading moves the bar.
    gpu.push({ type: 'gpus', gpus: [{ ...CUDA, freeBytes: 3.6 * GB, usedByLoadoutBytes: 6.2 * GB }] });
    const bar = panel.getByTestId('vram-bar');
    await expect(bar).toHaveAttribute('aria-label', "VRAM: Loadout's models 6.2 GB, other programs 2.2 GB, free 3.6 GB of 12.0 GB");
    const width = (part: string) => bar.locator(`.vram-${part}`).evaluate((el) => (el as HTMLElement).style.width);
    expect(parseFloat(await width('loadout'))).toBeCloseTo((6.2 / 12) * 100, 1);
    expect(parseFloat(await width('free'))).toBeCloseTo((3.6 / 12) * 100, 1);
    await keepScreenshot(page, 'gpu-models');
    await page.emulateMedia({ colorScheme: 'dark' });
    await keepScreenshot(page, 'gpu-models-dark');
    await page.emulateMedia({ colorScheme: 'light' });
    // A narrower window: memory and last used make way, the VRAM column stays.
    await page.setViewportSize({ width: 1024, height: 700 });
    await expect(big.getByTestId('placement')).toBeVisible();
    await keepScreenshot(page, 'gpu-models-narrow');
    await page.setViewportSize({ width: 1360, height: 820 });

    // The LRU page shows the same bar and where each loaded model runs.
    await openView(page, 'LRU');
    await expect(page.getByTestId('gpu-panel')).toContainText('6.2 GB');
    await expect(page.locator('.lru-item[data-model="big"]')).toContainText('6.2 GB VRAM · GPU 20/32');
    await keepScreenshot(page, 'gpu-lru');
    await openView(page, 'Models');

    // One slot: loading small unloads big. The plan says what that frees on the GPU and what small needs.
    await row(page, 'small').getByRole('button', { name: 'Load' }).click();
    const dialog = page.getByRole('dialog', { name: 'Load small?' });
    await expect(dialog.locator('[data-unload="big"]')).toContainText('frees 6.2 GB of VRAM');
    await expect(dialog.getByTestId('plan-vram')).toHaveText('small needs about 2.0 GB of VRAM (estimate).');
    await keepScreenshot(page, 'gpu-plan');
    await dialog.getByRole('button', { name: 'Cancel' }).click();

    // Another program took the VRAM: the reclaimer's unload reads as GPU memory in Activity.
    const entry: JournalEntry = { at: new Date().toISOString(), model: 'big', reason: 'vram_pressure', sentence: 'unloaded big: another program needs the VRAM (free VRAM fell to 3% of 12.0 GB)', by: null };
    gpu.push({ type: 'journal', entry });
    await openView(page, 'Activity');
    const line = page.getByTestId('journal').locator('tr[data-reason="vram_pressure"]');
    await expect(line).toContainText('GPU memory');
    await expect(line).toContainText('another program needs the VRAM');

    // Settings: the GPU settings under readable labels, the gpu setting as a choice, sizes in GB.
    await openView(page, 'Settings');
    await expect(page.getByLabel('GPU', { exact: true })).toHaveValue('auto');
    await expect(page.getByLabel('GPU', { exact: true }).locator('option')).toHaveText(['auto', 'cpu', 'metal', 'cuda', 'vulkan']);
    await expect(page.locator('#setting-vram_budget-help')).toContainText('(now 11.0 GB on CUDA)');
    await expect(page.getByLabel('VRAM reserve')).toHaveValue('1GB');
    await page.getByLabel('VRAM budget').fill('8589934592');
    await expect(page.locator('#setting-vram_budget-help')).toContainText('= 8.00 GB');
    await expect(page.locator('#setting-vram_threshold-help')).toContainText('= 95%');
    await expect(page.getByLabel('VRAM reclaimer')).not.toBeChecked();
    await page.locator('fieldset', { has: page.locator('legend', { hasText: /^GPU$/ }) }).screenshot({ path: join(screenshotDir, 'gpu-settings.png') });
  });
});

test.describe('without a GPU', () => {
  test.use({ appOptions: { configs: { 'big.yaml': faultModel('big') } } });

  test('V12: one quiet line says models run on the CPU, and the list has no VRAM column', async ({ page }) => {
    const gpu = await fakeGpuMachine(page, []);
    await expect(page.getByTestId('no-gpu')).toHaveText('No GPU found: models run on the CPU.');
    await expect(page.getByTestId('gpu-panel')).toHaveCount(0);
    await expect(row(page, 'big').getByTestId('vram')).toBeHidden();
    await expect(page.locator('.list-head .col-vram')).toBeHidden();
    // V14: the CUDA pack's progress, and why it could not be fetched, on the same line's place.
    gpu.push({ type: 'gpus', gpus: [], notice: 'Fetching the CUDA pack for the NVIDIA GPU (package 1 of 2): 45% of 160 MB. Models run on the CPU until it is installed.' });
    await expect(page.getByTestId('gpu-notice')).toHaveText(/45% of 160 MB\. Models run on the CPU until it is installed\.$/);
    gpu.push({ type: 'gpus', gpus: [], notice: 'The CUDA pack could not be fetched (the registry answered 404). Models run on the CPU; Loadout tries again on its next start.' });
    await expect(page.getByTestId('gpu-notice')).toHaveText(/^The CUDA pack could not be fetched/);
  });
});
