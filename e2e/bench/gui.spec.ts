/**
 * `npm run bench:ui`: the GUI's performance goals (issue "Performance"), in Chromium against the
 * real headless app with 1,000 catalog models (fault-backend configs) and a stream of real state
 * events. Each figure is the median of 5 runs; each run opens the page afresh:
 *   - render: from the first snapshot's arrival at the page to the first frame with model rows (goal <= 300 ms)
 *   - event to DOM: p95 from a model event's arrival to its row showing it (goal <= 16 ms), with
 *     state events from load/unload cycles of remote models and pin toggles; the same with local
 *     backend processes starting meanwhile is printed for information (they share the 2 cores)
 *   - scroll: p95 interval between animation frames during a scripted 5 s scroll (goal <= 20 ms)
 * Prints each figure with met / MISSED and writes bench-results/ui.json. Passes whenever it could
 * measure, whatever the figures (like bench:core).
 */
import { mkdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';
import { faultBackendPath, spawnBackend } from '../../test/fixtures/backends';
import { faultModel, root, startApp } from '../support/app';
import type { App } from '../support/app';

const MODELS = 1000;
const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const STREAM_MS = 5000;
/** Rows 8-10 (in view): three models on one remote backend, and 11-13 on local fault backends. */
const REMOTE = ['model-0008', 'model-0009', 'model-0010'];
const LOCAL = ['model-0011', 'model-0012', 'model-0013'];
const SCROLL_MS = 5000;

/**
 * Runs in the page before the app: timestamps every bridge message as it arrives (before the
 * app's own handler) and watches the DOM for the rows those messages should change.
 */
function instrument(): void {
  type Pending = { name: string; state: string; pinned: string; t: number };
  type Bench = { snapshotAt: number | null; renderedAt: number | null; latencies: number[]; missed: number; pending: Pending[] };
  const bench: Bench = { snapshotAt: null, renderedAt: null, latencies: [], missed: 0, pending: [] };
  (window as unknown as { __bench: Bench }).__bench = bench;
  const Native = window.WebSocket;
  class Timed extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      this.addEventListener('message', (m: MessageEvent) => {
        const t = performance.now();
        const data = String(m.data);
        if (bench.snapshotAt === null && data.includes('"lru"') && data.includes('"models"')) bench.snapshotAt = t;
        else if (data.startsWith('{"event":{"type":"model"')) {
          const row = (JSON.parse(data) as { event: { row: { name: string; state: string; pinned: boolean } } }).event.row;
          // A newer event for the same row supersedes an older one still pending.
          bench.pending = bench.pending.filter((p) => p.name !== row.name);
          bench.pending.push({ name: row.name, state: row.state, pinned: String(row.pinned), t });
        }
      });
    }
  }
  window.WebSocket = Timed as typeof WebSocket;
  const check = () => {
    const now = performance.now();
    if (bench.renderedAt === null && bench.snapshotAt !== null && document.querySelector('.model-row')) {
      // The frame that shows the rows (-1 until it comes).
      bench.renderedAt = -1;
      requestAnimationFrame(() => (bench.renderedAt = performance.now()));
    }
    bench.pending = bench.pending.filter((p) => {
      const el = document.querySelector(`.model-row[data-model="${p.name}"]`);
      if (el && el.getAttribute('data-state') === p.state && el.getAttribute('data-pinned') === p.pinned) {
        bench.latencies.push(now - p.t);
        return false;
      }
      // A row scrolled out of view is not rendered (virtual list): not counted.
      if (!el || now - p.t > 2000) {
        bench.missed += el ? 1 : 0;
        return false;
      }
      return true;
    });
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-state', 'data-pinned'] });
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const median = (xs: number[]) => percentile(xs, 50);

/**
 * Real state events from the core for rows in view: pin toggles, and load/unload cycles of
 * `cycling` models. Returns when `ms` have passed.
 */
async function eventStream(app: App, pins: string[], cycling: string[], ms: number): Promise<void> {
  const end = Date.now() + ms;
  const pinned = new Map<string, boolean>();
  const toggler = (async () => {
    for (let i = 0; Date.now() < end; i++) {
      const name = pins[i % pins.length];
      const next = !pinned.get(name);
      pinned.set(name, next);
      await app.call('pin', name, next);
      await new Promise((r) => setTimeout(r, 40));
    }
  })();
  const cycler = (async () => {
    for (let i = 0; Date.now() < end; i++) {
      const name = cycling[i % cycling.length];
      await app.call('load', name);
      await app.call('unload', name);
    }
  })();
  await Promise.all([toggler, cycler]);
  // Leave everything as it was for the next run.
  for (const [name, p] of pinned) if (p) await app.call('pin', name, false);
}

/** Event-to-DOM latencies recorded since the last call. */
async function takeLatencies(page: Page): Promise<number[]> {
  await page.waitForTimeout(300); // the last events land
  return page.evaluate(() => {
    const b = (window as unknown as { __bench: { latencies: number[] } }).__bench;
    return b.latencies.splice(0);
  });
}

interface Run {
  renderMs: number;
  eventP95: number;
  events: number;
  /** The same with local backend processes starting and stopping meanwhile (CPU contention; for information). */
  spawnEventP95: number;
  spawnEvents: number;
  frameP95: number;
  frames: number;
}

async function oneRun(page: Page, app: App, names: string[]): Promise<Run> {
  await page.goto(app.url);
  await page.waitForFunction(() => (window as unknown as { __bench: { renderedAt: number | null } }).__bench.renderedAt! > 0, null, { timeout: 30_000 });
  const renderMs = await page.evaluate(() => {
    const b = (window as unknown as { __bench: { snapshotAt: number; renderedAt: number } }).__bench;
    return b.renderedAt - b.snapshotAt;
  });
  await expect(page.locator('.model-row')).not.toHaveCount(0);

  await takeLatencies(page);
  // Remote models: real state events (loading, ready, stopping...) with no process to start.
  await eventStream(app, names.slice(0, 8), REMOTE, STREAM_MS);
  const latencies = await takeLatencies(page);
  // Local fault-backend models: each load starts a Node process on this 2-core machine.
  await eventStream(app, names.slice(0, 8), LOCAL, STREAM_MS);
  const spawnLatencies = await takeLatencies(page);

  const frames = await page.evaluate(
    (ms) =>
      new Promise<number[]>((resolve) => {
        const list = document.querySelector('.models-list') as HTMLElement;
        const stamps: number[] = [];
        const start = performance.now();
        const step = (t: number) => {
          stamps.push(t);
          list.scrollTop = list.scrollTop + 48 >= list.scrollHeight - list.clientHeight ? 0 : list.scrollTop + 48;
          if (t - start < ms) requestAnimationFrame(step);
          else resolve(stamps);
        };
        requestAnimationFrame(step);
      }),
    SCROLL_MS,
  );
  const intervals = frames.slice(1).map((t, i) => t - frames[i]);
  return {
    renderMs,
    eventP95: percentile(latencies, 95),
    events: latencies.length,
    spawnEventP95: percentile(spawnLatencies, 95),
    spawnEvents: spawnLatencies.length,
    frameP95: percentile(intervals, 95), frames: intervals.length };
}

test('GUI performance with 1,000 models', async ({ page }) => {
  test.setTimeout(10 * 60_000);
  const names = Array.from({ length: MODELS }, (_, i) => `model-${String(i).padStart(4, '0')}`);
  const configs = Object.fromEntries(names.map((n) => [`${n}.yaml`, faultModel(n, { backend: REMOTE.includes(n) ? 'gpu-box' : 'fault' })]));
  const remote = await spawnBackend(faultBackendPath());
  const app = await startApp({ configs, remoteBackends: { 'gpu-box': remote.address } });
  try {
    await page.addInitScript(instrument);
    const runs: Run[] = [];
    for (let i = 0; i < RUNS; i++) {
      const r = await oneRun(page, app, names);
      console.log(`run ${i + 1}: render ${r.renderMs.toFixed(1)} ms, event->DOM p95 ${r.eventP95.toFixed(2)} ms (${r.events} events; ${r.spawnEventP95.toFixed(2)} ms with local spawns, ${r.spawnEvents} events), frame p95 ${r.frameP95.toFixed(2)} ms (${r.frames} frames)`);
      runs.push(r);
    }
    const figures = [
      { figure: 'models view renders after the first snapshot (ms)', value: median(runs.map((r) => r.renderMs)), goal: 300 },
      { figure: 'event arrival to DOM, p95 (ms)', value: median(runs.map((r) => r.eventP95)), goal: 16 },
      { figure: 'frame interval during a 5 s scroll, p95 (ms)', value: median(runs.map((r) => r.frameP95)), goal: 20 },
    ].map((f) => ({ ...f, met: f.value <= f.goal }));
    const info = { figure: 'event to DOM p95 while backends spawn (info, ms)', value: median(runs.map((r) => r.spawnEventP95)) };
    console.log(`\nGUI, ${MODELS} models, medians of ${RUNS} runs:`);
    for (const f of figures) console.log(`  ${f.figure.padEnd(52)} ${f.value.toFixed(2).padStart(8)}  goal <= ${f.goal}  ${f.met ? 'met' : 'MISSED'}`);
    console.log(`  ${info.figure.padEnd(52)} ${info.value.toFixed(2).padStart(8)}  (2 cores shared with the backends being started)`);
    mkdirSync(join(root, 'bench-results'), { recursive: true });
    writeFileSync(join(root, 'bench-results', 'ui.json'), `${JSON.stringify({ models: MODELS, runs, figures, info }, null, 2)}\n`);
    // Measured is enough to pass; an empty measurement is not.
    for (const r of runs) {
      expect(r.events).toBeGreaterThan(20);
      expect(r.spawnEvents).toBeGreaterThan(20);
      expect(r.frames).toBeGreaterThan(50);
    }
  } finally {
    await app.stop();
    await remote.kill();
  }
});
