/**
 * `npm run bench:ui`: the chat's performance goals (issue 4 "Performance"), in Chromium against the
 * real headless app. Each figure is the median of 5 runs; each run opens the page afresh.
 *   - delta to DOM: p95 from a chat-delta's arrival at the page (its WebSocket message) to the
 *     streaming answer in the DOM holding its text (goal <= 16 ms), streaming from the `tiny`
 *     model on the built-in llama backend (real tokens, about 1,500/s on this machine's 1 thread)
 *   - frames: p95 interval between animation frames while it streams (goal <= 20 ms)
 *   - typing: p95 from a key press in the composer to the frame that shows it, typed while the
 *     answer streams (goal < 50 ms)
 *   - open: a click on a 5,000-message conversation (written to disk before the app starts, in the
 *     core's JSONL format) to the frame that shows its last message (goal <= 300 ms)
 * Prints each figure with met / MISSED and writes bench-results/chat.json. Passes whenever it
 * could measure, whatever the figures (like the other benchmarks).
 */
import { mkdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { expect, test } from '@playwright/test';
import type { Page } from '@playwright/test';
import type { ChatMessage } from '../../src/shared/chat';
import { DEFAULT_CHAT_PARAMS } from '../../src/shared/chat';
import { root, startApp, tempRoot } from '../support/app';
import type { App } from '../support/app';

const RUNS = Number(process.env.BENCH_RUNS ?? 5);
const BIG = 5000;
const BIG_ID = 'bench-5000';
const SMALL_ID = 'bench-small';
const MODEL = 'tiny';
/** Long enough to stream for a couple of seconds; temperature 0 and a seed make every run the same answer. */
const PARAMS = { temperature: 0, max_tokens: 1500, seed: 1 };
const TYPED = 'the quick brown fox jumps over the lazy dog';

interface Bench {
  /** Per answer id: the characters received so far. */
  chars: Record<string, number>;
  pending: { id: string; len: number; t: number }[];
  latencies: number[];
  deltas: number;
  frames: number[];
  framing: boolean;
  typing: number[];
  openStart: number | null;
  openWanted: string | null;
  openDone: number | null;
  /** Main-thread tasks over 50 ms while streaming (ours or the machine's): count and total ms. */
  longTasks: number;
  longTaskMs: number;
}

/** Runs in the page before the app: timestamps chat-deltas as they arrive and watches the DOM show them. */
function instrument(): void {
  const bench: Bench = { chars: {}, pending: [], latencies: [], deltas: 0, frames: [], framing: false, typing: [], openStart: null, openWanted: null, openDone: null, longTasks: 0, longTaskMs: 0 };
  (window as unknown as { __bench: Bench }).__bench = bench;
  new PerformanceObserver((list) => {
    if (!bench.framing) return;
    for (const e of list.getEntries()) {
      bench.longTasks += 1;
      bench.longTaskMs += e.duration;
    }
  }).observe({ type: 'longtask' });

  const frameLoop = (t: number) => {
    bench.frames.push(t);
    if (bench.framing) requestAnimationFrame(frameLoop);
  };

  const Native = window.WebSocket;
  class Timed extends Native {
    constructor(url: string | URL, protocols?: string | string[]) {
      super(url, protocols);
      // Registered before the app's own handler: this is the moment the delta reaches the page.
      this.addEventListener('message', (m: MessageEvent) => {
        const data = String(m.data);
        if (!data.startsWith('{"event":{"type":"chat-delta"')) return;
        const t = performance.now();
        const ev = (JSON.parse(data) as { event: { messageId: string; text: string } }).event;
        const len = (bench.chars[ev.messageId] ?? 0) + ev.text.length;
        bench.chars[ev.messageId] = len;
        bench.pending.push({ id: ev.messageId, len, t });
        bench.deltas += 1;
        if (!bench.framing) {
          bench.framing = true;
          requestAnimationFrame(frameLoop);
        }
      });
    }
  }
  window.WebSocket = Timed as typeof WebSocket;

  const check = () => {
    const now = performance.now();
    if (bench.pending.length > 0) {
      bench.pending = bench.pending.filter((p) => {
        const live = document.querySelector<HTMLElement>(`.msg-streaming[data-id="${p.id}"]`);
        const shown = live ? Number(live.dataset.chars) >= p.len : document.querySelector(`.msg[data-id="${p.id}"]`) !== null;
        if (shown) bench.latencies.push(now - p.t);
        return !shown;
      });
    }
    if (bench.openWanted && bench.openDone === null && document.querySelector(`.msg[data-id="${bench.openWanted}"]`)) {
      bench.openDone = -1;
      // The frame that shows it.
      requestAnimationFrame(() => (bench.openDone = performance.now()));
    }
  };
  new MutationObserver(check).observe(document, { subtree: true, childList: true, attributes: true, attributeFilter: ['data-chars'] });

  // Typing: key press to the frame after the composer changed (measured after that frame's paint).
  let keyAt: number | null = null;
  document.addEventListener('keydown', (e) => (keyAt = (e.target as HTMLElement).matches?.('.composer-input') ? e.timeStamp : null), true);
  document.addEventListener(
    'input',
    (e) => {
      if (keyAt === null || !(e.target as HTMLElement).matches?.('.composer-input')) return;
      const t0 = keyAt;
      keyAt = null;
      const streaming = document.querySelector('.msg-streaming') !== null;
      requestAnimationFrame(() => {
        const ch = new MessageChannel();
        ch.port1.onmessage = () => streaming && bench.typing.push(performance.now() - t0);
        ch.port2.postMessage(null);
      });
    },
    true,
  );
  // Opening a conversation: from the click on it in the list.
  document.addEventListener(
    'click',
    (e) => {
      const item = (e.target as HTMLElement).closest?.('.conv-item');
      if (item && item.getAttribute('data-conversation') === (window as unknown as { __openId?: string }).__openId) bench.openStart = e.timeStamp;
    },
    true,
  );
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b);
  return s.length === 0 ? NaN : s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)];
};
const median = (xs: number[]) => percentile(xs, 50);
const read = (page: Page) => page.evaluate(() => (window as unknown as { __bench: Bench }).__bench);

/** The 5,000 messages, in the core's file format (src/main/core/chats/chatStore.ts): a meta line, then a line per message. */
function writeConversations(dataDir: string): string {
  const dir = join(dataDir, 'chats');
  mkdirSync(dir, { recursive: true });
  const at = (i: number) => new Date(Date.UTC(2025, 0, 1) + i * 60_000).toISOString();
  const messages: ChatMessage[] = Array.from({ length: BIG }, (_, i) =>
    i % 2 === 0
      ? { id: `m${String(i).padStart(5, '0')}`, role: 'user', content: `Question ${i}: how does step ${i} work, and what comes after it?`, at: at(i) }
      : {
          id: `m${String(i).padStart(5, '0')}`,
          role: 'assistant',
          content:
            i % 10 === 1
              ? `Step ${i} in short:\n\n- **first** it reads the input\n- then it writes \`out-${i}\`\n\n\`\`\`js\nconst step = ${i};\nconsole.log(step * 2);\n\`\`\`\n\nThat is all.`
              : `Step ${i} takes the result of the one before and ${'refines it a little further, '.repeat(1 + (i % 7))}until it is done.`,
          at: at(i),
          model: MODEL,
          finish: 'stop',
          stats: { tokens: 60, promptTokens: 400, ttftMs: 120, tokensPerSecond: 1400, durationMs: 160 },
        },
  );
  const write = (id: string, title: string, list: ChatMessage[], created: string) =>
    writeFileSync(
      join(dir, `${id}.jsonl`),
      [{ type: 'meta', v: 1, id, title, model: MODEL, params: DEFAULT_CHAT_PARAMS, createdAt: created }, ...list.map((message) => ({ type: 'message', message }))].map((l) => `${JSON.stringify(l)}\n`).join(''),
    );
  write(BIG_ID, 'Five thousand messages', messages, at(0));
  write(SMALL_ID, 'A short one', [{ id: 's1', role: 'user', content: 'Hello', at: at(BIG + 10) }], at(BIG + 9));
  return messages[BIG - 1].id;
}

/** A new page load (a URL that differs only in its hash would not reload the page). */
async function fresh(page: Page, url: string): Promise<void> {
  await page.goto('about:blank');
  await page.goto(url);
}

interface StreamRun {
  deltaP95: number;
  deltas: number;
  frameP95: number;
  frames: number;
  typingP95: number;
  keys: number;
  tokensPerSecond: number | null;
  longTasks: number;
  longTaskMs: number;
  /** The machine's 1-minute load average when the run started (2 cores: above 2 means waiting for a CPU). */
  load: number;
}

async function streamRun(page: Page, app: App): Promise<StreamRun> {
  const load = os.loadavg()[0];
  const created = await app.call('createConversation', { model: MODEL, params: PARAMS });
  if (!created.ok) throw new Error(created.error.message);
  await fresh(page, `${app.url}#/chat/${created.value.id}`);
  const box = page.getByRole('textbox', { name: 'Message' });
  await box.fill('Tell me a long story.');
  await box.press('Enter');
  await page.waitForFunction(() => (window as unknown as { __bench: Bench }).__bench.deltas > 0, null, { timeout: 60_000 });
  // Typed while the answer streams (the composer stays editable).
  await box.pressSequentially(TYPED, { delay: 30 });
  const answer = page.locator('.msg-assistant:not(.msg-streaming)').last();
  await expect(answer).toHaveAttribute('data-finish', /stop|length/, { timeout: 120_000 });
  await page.evaluate(() => ((window as unknown as { __bench: Bench }).__bench.framing = false));
  const b = await read(page);
  const intervals = b.frames.slice(1).map((t, i) => t - b.frames[i]);
  const stats = await answer.getByTestId('stats').textContent();
  const tps = /([\d.]+) tokens\/s/.exec(stats ?? '');
  return {
    deltaP95: percentile(b.latencies, 95),
    deltas: b.latencies.length,
    frameP95: percentile(intervals, 95),
    frames: intervals.length,
    typingP95: percentile(b.typing, 95),
    keys: b.typing.length,
    tokensPerSecond: tps ? Number(tps[1]) : null,
    longTasks: b.longTasks,
    longTaskMs: Math.round(b.longTaskMs),
    load: Math.round(load * 100) / 100,
  };
}

async function openRun(page: Page, app: App, lastId: string): Promise<number> {
  await fresh(page, `${app.url}#/chat/${SMALL_ID}`);
  await expect(page.locator('.msg[data-id="s1"]')).toBeVisible();
  await page.evaluate(
    ([id, last]) => {
      (window as unknown as { __openId: string }).__openId = id;
      const b = (window as unknown as { __bench: Bench }).__bench;
      b.openWanted = last;
      b.openDone = null;
    },
    [BIG_ID, lastId],
  );
  await page.locator(`.conv-item[data-conversation="${BIG_ID}"] .conv-link`).click();
  await page.waitForFunction(() => ((window as unknown as { __bench: Bench }).__bench.openDone ?? 0) > 0, null, { timeout: 30_000 });
  const b = await read(page);
  await expect(page.locator(`.msg[data-id="${lastId}"]`)).toBeInViewport();
  return b.openDone! - b.openStart!;
}

test('chat performance: streaming from tiny, typing while it streams, a 5,000-message conversation', async ({ page }) => {
  test.setTimeout(15 * 60_000);
  const dir = tempRoot();
  const lastId = writeConversations(join(dir, 'data'));
  const app = await startApp({ root: dir, ggufs: { [MODEL]: 7 } });
  try {
    await page.addInitScript(instrument);
    // Load the model once: every run streams from a ready model.
    const loaded = await app.call('load', MODEL);
    if (!loaded.ok) throw new Error(loaded.error.message);

    const streams: StreamRun[] = [];
    const opens: number[] = [];
    for (let i = 0; i < RUNS; i++) {
      const s = await streamRun(page, app);
      const o = await openRun(page, app, lastId);
      console.log(
        `run ${i + 1}: delta->DOM p95 ${s.deltaP95.toFixed(2)} ms (${s.deltas} deltas, ${s.tokensPerSecond ?? '?'} tokens/s), frame p95 ${s.frameP95.toFixed(2)} ms (${s.frames} frames), typing p95 ${s.typingP95.toFixed(2)} ms (${s.keys} keys), open ${BIG} messages ${o.toFixed(1)} ms; ${s.longTasks} long tasks (${s.longTaskMs} ms), load average ${s.load}`,
      );
      streams.push(s);
      opens.push(o);
    }
    const figures = [
      { figure: 'chat-delta arrival to DOM while streaming, p95 (ms)', value: median(streams.map((r) => r.deltaP95)), goal: 16, strict: false },
      { figure: 'frame interval while streaming, p95 (ms)', value: median(streams.map((r) => r.frameP95)), goal: 20, strict: false },
      { figure: 'typing in the composer while streaming, p95 (ms)', value: median(streams.map((r) => r.typingP95)), goal: 50, strict: true },
      { figure: `open a ${BIG.toLocaleString('en')}-message conversation (ms)`, value: median(opens), goal: 300, strict: false },
    ].map((f) => ({ figure: f.figure, value: f.value, goal: `${f.strict ? '<' : '<='} ${f.goal}`, met: f.strict ? f.value < f.goal : f.value <= f.goal }));
    const tokensPerSecond = median(streams.map((r) => r.tokensPerSecond ?? NaN).filter((x) => !Number.isNaN(x)));
    console.log(`\nChat, medians of ${RUNS} runs (streaming from ${MODEL} at about ${tokensPerSecond} tokens/s):`);
    for (const f of figures) console.log(`  ${f.figure.padEnd(56)} ${f.value.toFixed(2).padStart(8)}  goal ${f.goal}  ${f.met ? 'met' : 'MISSED'}`);
    mkdirSync(join(root, 'bench-results'), { recursive: true });
    writeFileSync(join(root, 'bench-results', 'chat.json'), `${JSON.stringify({ model: MODEL, params: PARAMS, messages: BIG, tokensPerSecond, runs: streams.map((s, i) => ({ ...s, openMs: opens[i] })), figures }, null, 2)}\n`);
    // Measured is enough to pass; an empty measurement is not.
    for (const s of streams) {
      expect(s.deltas).toBeGreaterThan(100);
      expect(s.frames).toBeGreaterThan(30);
      expect(s.keys).toBeGreaterThan(10);
    }
  } finally {
    await app.stop();
    rmSync(dir, { recursive: true, force: true });
  }
});
