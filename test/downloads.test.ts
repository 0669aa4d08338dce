/**
 * The download engine against a fake Hugging Face on loopback (downloads-spec sections 3 and 7):
 * real HTTP, real files, the injected clock for stalls and backoff.
 */
import { spawn } from 'node:child_process';
import { existsSync } from 'node:fs';
import { mkdtemp, readFile, readdir, rm, writeFile } from 'node:fs/promises';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { FakeClock, type Clock } from '../src/main/core/clock';
import { checkpointDue, DownloadEngine, type DownloadEngineOptions, type DownloadJob, type DownloadSettings, type StatFs } from '../src/main/core/downloads/engine';
import { installLoopbackGuard, seededBlob, sha256, startFakeHub, type FakeHub } from './fixtures/fakeHub';

let hub: FakeHub;
let dir: string;
let guard: ReturnType<typeof installLoopbackGuard>;
const engines: DownloadEngine[] = [];

beforeEach(async () => {
  guard = installLoopbackGuard();
  hub = await startFakeHub();
  dir = await mkdtemp(path.join(os.tmpdir(), 'loadout-dl-'));
});

afterEach(async () => {
  for (const e of engines.splice(0)) await e.close();
  await hub.close();
  await rm(dir, { recursive: true, force: true });
  guard.uninstall();
  expect(guard.refused).toEqual([]); // G46
});

interface Made {
  engine: DownloadEngine;
  events: DownloadJob[];
  published: string[];
}

function makeEngine(o: { bootId?: string; clock?: Clock; settings?: Partial<DownloadSettings>; statfs?: () => Promise<StatFs>; writePart?: DownloadEngineOptions['writePart']; writeBatchBytes?: number } = {}): Made {
  const events: DownloadJob[] = [];
  const published: string[] = [];
  const engine = new DownloadEngine({
    modelsDir: dir,
    clock: o.clock,
    settings: () => ({ hfEndpoint: hub.endpoint, minSegmentBytes: 4096, reserveBytes: 0, stallTimeoutMs: 600_000, ...o.settings }),
    statfs: o.statfs ?? (async () => ({ bavail: 1e12, bsize: 1 })),
    bootId: () => o.bootId ?? 'boot-1',
    random: () => 0,
    onPublished: (f) => published.push(f),
    writePart: o.writePart,
    writeBatchBytes: o.writeBatchBytes,
  });
  engine.events.on((row) => events.push(row));
  engines.push(engine);
  return { engine, events, published };
}

/** Polls the job until `pred` holds; with a FakeClock, time moves `stepMs` per poll. */
async function until(engine: DownloadEngine, id: string, pred: (j: DownloadJob) => boolean, o: { clock?: FakeClock; stepMs?: number; timeoutMs?: number } = {}): Promise<DownloadJob> {
  const deadline = Date.now() + (o.timeoutMs ?? 20_000);
  for (;;) {
    const job = engine.get(id);
    if (job && pred(job)) return job;
    if (Date.now() > deadline) throw new Error(`timed out; job is ${JSON.stringify(job)}`);
    await new Promise((r) => setTimeout(r, 10));
    o.clock?.advance(o.stepMs ?? 0);
  }
}

const cdnRanges = () => hub.requests.filter((r) => r.server === 'cdn').map((r) => r.range);

describe('downloads engine against the fake hub', () => {
  it('G4 G10 G24 G29: a tiny GGUF is fetched in ranges, verified against the Hub sha256 and published', async () => {
    const file = await hub.addFile('o/r', 'tiny-Q4_K_M.gguf');
    const { engine, events, published } = makeEngine();
    const job = engine.add({ uri: file.uri, model: 'tiny' });
    const done = await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed');
    expect(done).toMatchObject({ state: 'done', totalBytes: file.data.length, receivedBytes: file.data.length, unverified: false });
    expect(done.sha256).toEqual({ expected: file.sha256, source: 'hub', actual: file.sha256 });
    expect(await readFile(path.join(dir, 'tiny-Q4_K_M.gguf'))).toEqual(file.data);
    expect((await readdir(dir)).sort()).toEqual(['tiny-Q4_K_M.gguf']); // no .part, no sidecar
    expect(published).toEqual([path.join(dir, 'tiny-Q4_K_M.gguf')]);
    // G10: download_connections ranges, split evenly. Idle connections then take halves (G11),
    // and such a request may reach the server before a slow connection's first one does.
    const size = file.data.length;
    const q = Math.ceil(size / 4);
    expect(cdnRanges()).toEqual(expect.arrayContaining([0, 1, 2, 3].map((i) => `bytes=${i * q}-${Math.min(size, (i + 1) * q) - 1}`)));
    expect(events.map((e) => e.state)).toEqual(expect.arrayContaining(['queued', 'resolving', 'downloading', 'verifying', 'done']));
  });

  it('G18 G44: the token goes to the Hub only, never to the CDN, the sidecar or events', async () => {
    const file = await hub.addFile('o/gated', 'g.gguf', { gated: true, knobs: { throttle: 64 * 1024 } });
    const { engine, events } = makeEngine({ settings: { hfToken: hub.token, connections: 1 } });
    const job = engine.add({ uri: file.uri });
    await until(engine, job.id, (j) => j.receivedBytes > 0);
    const sidecar = await readFile(path.join(dir, 'g.gguf.part.json'), 'utf8');
    expect(sidecar).not.toContain(hub.token);
    hub.knobs('o/gated', 'g.gguf').throttle = 0;
    await until(engine, job.id, (j) => j.state === 'done');
    expect(JSON.stringify(events)).not.toContain(hub.token);
    expect(hub.requests.filter((r) => r.server === 'hub').every((r) => r.authorization)).toBe(true);
    expect(hub.requests.filter((r) => r.server === 'cdn').some((r) => r.authorization)).toBe(false);
  });

  it('G5: gated without a token names hf_token; a missing file is not_found; 429 waits Retry-After', async () => {
    const gated = await hub.addFile('o/gated', 'g.gguf', { gated: true });
    const clock = new FakeClock();
    const { engine } = makeEngine({ clock });
    const g = engine.add({ uri: gated.uri });
    const failed = await until(engine, g.id, (j) => j.state === 'failed');
    expect(failed.error).toMatchObject({ code: 'upstream_auth' });
    expect(failed.error!.message).toMatch(/hf_token/);
    const missing = engine.add({ uri: 'huggingface://o/gated/nope.gguf' });
    expect((await until(engine, missing.id, (j) => j.state === 'failed')).error).toMatchObject({ code: 'not_found' });

    const file = await hub.addFile('o/r', 'm.gguf');
    hub.tooManyRequests('o/r', 'm.gguf', 1, 7);
    const limited = engine.add({ uri: file.uri });
    await until(engine, limited.id, () => hub.requests.some((r) => r.status === 429));
    await new Promise((r) => setTimeout(r, 100));
    clock.advance(6_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(engine.get(limited.id)!.state).toBe('resolving'); // still waiting out the 7 s
    clock.advance(1_000);
    expect((await until(engine, limited.id, (j) => j.state === 'done' || j.state === 'failed')).state).toBe('done');
  });

  it('G6: too little free disk fails with disk_space before any byte is fetched', async () => {
    const file = await hub.addFile('o/r', 'm.gguf');
    const { engine } = makeEngine({ settings: { reserveBytes: 1000 }, statfs: async () => ({ bavail: file.data.length, bsize: 1 }) });
    const job = engine.add({ uri: file.uri });
    const failed = await until(engine, job.id, (j) => j.state === 'failed');
    expect(failed.error).toMatchObject({ code: 'disk_space' });
    expect(failed.error!.message).toMatch(/reserve/);
    expect(cdnRanges().filter((r) => r !== 'bytes=0-0')).toEqual([]);
    expect(await readdir(dir)).toEqual([]);
  });

  it('G7: a disk that fills up part-way pauses the job with disk_space and keeps the partial', async () => {
    const data = seededBlob(256 * 1024);
    const file = await hub.addFile('o/r', 'n.gguf', { data });
    let room = 70_000; // bytes the disk still takes (written in pieces of at most 64 KiB)
    const { engine } = makeEngine({
      settings: { connections: 1 },
      writeBatchBytes: 16 * 1024,
      writePart: async (handle, chunks, position) => {
        const length = chunks.reduce((n, c) => n + c.length, 0);
        if (room < length) throw Object.assign(new Error('ENOSPC: no space left on device, write'), { code: 'ENOSPC' });
        room -= length;
        await handle.writev(chunks, position);
      },
    });
    const job = engine.add({ uri: file.uri });
    const paused = await until(engine, job.id, (j) => j.state === 'paused' || j.state === 'failed' || j.state === 'done');
    expect(paused).toMatchObject({ state: 'paused', error: { code: 'disk_space', retryable: true } });
    expect(paused.receivedBytes).toBeGreaterThan(0);
    expect(existsSync(path.join(dir, 'n.gguf.part'))).toBe(true);
    room = Infinity; // space freed
    await engine.resume(job.id);
    expect((await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed')).state).toBe('done');
    expect(await readFile(path.join(dir, 'n.gguf'))).toEqual(data);
  });

  it('G19 G34: pause closes the connections within 1 s and resume continues from the committed offsets', async () => {
    const data = seededBlob(512 * 1024);
    const file = await hub.addFile('o/r', 'big.gguf', { data, knobs: { throttle: 128 * 1024 } });
    // Ranges of 256 KiB that are never split further, so the logged ranges are all that is fetched.
    const { engine, events } = makeEngine({ settings: { connections: 2, minSegmentBytes: 128 * 1024 } });
    const started = Date.now();
    const job = engine.add({ uri: file.uri });
    await until(engine, job.id, (j) => j.receivedBytes > 200 * 1024);
    const t0 = Date.now();
    const paused = await engine.pause(job.id);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(paused.state).toBe('paused');
    const at = paused.receivedBytes;
    const car = JSON.parse(await readFile(path.join(dir, 'big.gguf.part.json'), 'utf8'));
    expect(car.state).toBe('paused');
    const before = hub.requests.length;
    hub.knobs('o/r', 'big.gguf').throttle = 0;
    await engine.resume(job.id);
    const done = await until(engine, job.id, (j) => j.state === 'done');
    expect(await readFile(path.join(dir, 'big.gguf'))).toEqual(data);
    // Resumed ranges start where the pause left off: at most the unreceived bytes are fetched again.
    const refetched = hub.requests
      .slice(before)
      .filter((r) => r.server === 'cdn' && r.range && r.range !== 'bytes=0-0')
      .reduce((sum, r) => {
        const [a, b] = r.range!.slice(6).split('-').map(Number);
        return sum + (b - a + 1);
      }, 0);
    expect(refetched).toBe(data.length - at);
    expect(done.receivedBytes).toBe(data.length);
    // G34: progress carries bytes, total, speed and ETA, and is throttled to 4 a second per job.
    const progress = events.filter((e, i) => i > 0 && e.state === 'downloading' && events[i - 1].state === 'downloading');
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.some((e) => e.bytesPerSec > 0 && e.etaSeconds !== null && e.totalBytes === data.length)).toBe(true);
    expect(progress.length).toBeLessThanOrEqual(Math.ceil(((Date.now() - started) / 1000) * 4) + 2);
  });

  it('G20 G21: after SIGKILL a new engine over the same folder resumes from the kept offsets', async () => {
    const data = seededBlob(12 * 1024 * 1024);
    const file = await hub.addFile('o/r', 'kill.gguf', { data, knobs: { throttle: 1024 * 1024 } });
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(__dirname, 'fixtures', 'downloadProcess.ts'), dir, hub.endpoint, file.uri], { stdio: ['ignore', 'pipe', 'inherit'] });
    let lastReceived = 0;
    let buffered = '';
    await new Promise<void>((resolve, reject) => {
      child.on('exit', () => reject(new Error('the download process exited early')));
      child.stdout.on('data', (d: Buffer) => {
        buffered += d.toString();
        const lines = buffered.split('\n');
        buffered = lines.pop()!;
        for (const line of lines) lastReceived = Math.max(lastReceived, (JSON.parse(line) as DownloadJob).receivedBytes);
        if (lastReceived >= 8 * 1024 * 1024) resolve(); // about 2 MiB on each of 4 connections
      });
    });
    child.removeAllListeners('exit');
    child.kill('SIGKILL');
    await new Promise((r) => child.once('exit', r));
    expect(existsSync(path.join(dir, 'kill.gguf.part'))).toBe(true);

    hub.knobs('o/r', 'kill.gguf').throttle = 0;
    const { engine } = makeEngine({ settings: { minSegmentBytes: 256 * 1024 } });
    await engine.start();
    const [restored] = engine.list();
    // G21: what was written before the kill counts, less at most 1 MiB per connection.
    expect(restored.receivedBytes).toBeGreaterThanOrEqual(lastReceived - 4 * 1024 * 1024);
    expect(restored.receivedBytes).toBeGreaterThan(0);
    const done = await until(engine, restored.id, (j) => j.state === 'done' || j.state === 'failed');
    expect(done.state).toBe('done');
    expect(sha256(await readFile(path.join(dir, 'kill.gguf')))).toBe(file.sha256);
  });

  it('G20: a paused job stays paused after a restart', async () => {
    const data = seededBlob(256 * 1024);
    const file = await hub.addFile('o/r', 'p.gguf', { data, knobs: { throttle: 64 * 1024 } });
    const first = makeEngine();
    const job = first.engine.add({ uri: file.uri });
    await until(first.engine, job.id, (j) => j.receivedBytes > 0);
    await first.engine.pause(job.id);
    await first.engine.close();
    const second = makeEngine();
    await second.engine.start();
    expect(second.engine.list()).toMatchObject([{ id: job.id, state: 'paused' }]);
  });

  it('G33: closing the engine stops and flushes every job within 2 s; the next start resumes them', async () => {
    const data = seededBlob(256 * 1024);
    const file = await hub.addFile('o/r', 'q.gguf', { data, knobs: { throttle: 64 * 1024 } });
    const first = makeEngine();
    const job = first.engine.add({ uri: file.uri });
    await until(first.engine, job.id, (j) => j.receivedBytes > 0);
    const t0 = Date.now();
    await first.engine.close();
    expect(Date.now() - t0).toBeLessThan(2000);
    expect(JSON.parse(await readFile(path.join(dir, 'q.gguf.part.json'), 'utf8')).state).toBe('downloading');
    hub.knobs('o/r', 'q.gguf').throttle = 0;
    const second = makeEngine();
    await second.engine.start();
    expect((await until(second.engine, job.id, (j) => j.state === 'done' || j.state === 'failed')).state).toBe('done');
    expect(await readFile(path.join(dir, 'q.gguf'))).toEqual(data);
  });

  it('G22: after a reboot the offsets that were fdatasync\'d count, not the unsynced trailer', async () => {
    const data = seededBlob(256 * 1024);
    const file = await hub.addFile('o/r', 'r.gguf', { data, knobs: { throttle: 64 * 1024 } });
    const first = makeEngine({ settings: { connections: 1 } });
    const job = first.engine.add({ uri: file.uri });
    await until(first.engine, job.id, (j) => j.receivedBytes > 0);
    await first.engine.pause(job.id);
    await first.engine.close();
    // A trailer that claims every byte arrived, as if the data behind it was lost in a power cut.
    const part = path.join(dir, 'r.gguf.part');
    const trailer = Buffer.alloc(12 + 24);
    trailer.write('LDSEGS01', 0, 'latin1');
    trailer.writeUInt32LE(1, 8);
    trailer.writeDoubleLE(0, 12);
    trailer.writeDoubleLE(data.length, 20);
    trailer.writeDoubleLE(data.length, 28);
    const { open } = await import('node:fs/promises');
    const handle = await open(part, 'r+');
    await handle.write(trailer, 0, trailer.length, data.length);
    await handle.close();
    hub.knobs('o/r', 'r.gguf').throttle = 0;
    const second = makeEngine({ bootId: 'boot-2' });
    await second.engine.start();
    const [restored] = second.engine.list();
    expect(restored.receivedBytes).toBeLessThan(data.length);
    await second.engine.resume(job.id);
    expect((await until(second.engine, job.id, (j) => j.state === 'done' || j.state === 'failed')).state).toBe('done');
    expect(await readFile(path.join(dir, 'r.gguf'))).toEqual(data);
  });

  it('G22: a checkpoint is due every 5 s, or after 64 MiB but at most once a second', () => {
    const MiB = 1024 * 1024;
    expect(checkpointDue(4_999, 0)).toBe(false);
    expect(checkpointDue(5_000, 0)).toBe(true);
    expect(checkpointDue(999, 64 * MiB)).toBe(false);
    expect(checkpointDue(1_000, 64 * MiB)).toBe(true);
    expect(checkpointDue(1_000, 64 * MiB - 1)).toBe(false);
    expect(checkpointDue(4_000, 10 * 1024 * MiB)).toBe(true);
  });

  it('G11: an idle connection takes half of the largest remaining range instead of waiting on a stalled one', async () => {
    const data = seededBlob(256 * 1024);
    const file = await hub.addFile('o/r', 'w.gguf', { data, knobs: { stallAfter: 64 * 1024 } });
    const clock = new FakeClock();
    const { engine } = makeEngine({ clock, settings: { connections: 2, minSegmentBytes: 8 * 1024, stallTimeoutMs: 30_000 } });
    const job = engine.add({ uri: file.uri });
    // One of the two 128 KiB ranges stalls after 64 KiB; the other connection finishes its own and
    // then keeps halving what the stalled one still owes, down to the 8 KiB minimum.
    const nearly = await until(engine, job.id, (j) => j.receivedBytes >= data.length - 16 * 1024);
    expect(nearly.state).toBe('downloading');
    expect(cdnRanges().filter((r) => r !== 'bytes=0-0').length).toBeGreaterThan(2);
    clock.advance(30_000);
    expect((await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed', { clock, stepMs: 500 })).state).toBe('done');
    expect(await readFile(path.join(dir, 'w.gguf'))).toEqual(data);
  });

  it('G12: a wrong Content-Range fails the attempt rather than writing at the wrong offset', async () => {
    const file = await hub.addFile('o/r', 'cr.gguf', { data: seededBlob(64 * 1024), knobs: { wrongContentRange: true } });
    const clock = new FakeClock();
    const { engine } = makeEngine({ clock, settings: { connections: 1, retries: 2 } });
    const job = engine.add({ uri: file.uri });
    const failed = await until(engine, job.id, (j) => j.state === 'failed' || j.state === 'done', { clock, stepMs: 1000 });
    expect(failed.error!.message).toMatch(/when bytes=0-|was asked/);
    expect(existsSync(path.join(dir, 'cr.gguf'))).toBe(false);
  });

  it('G14: a connection that sends nothing for the stall timeout is dropped and resumed', async () => {
    const data = seededBlob(64 * 1024);
    const file = await hub.addFile('o/r', 's.gguf', { data, knobs: { stallAfter: 20_000 } });
    const clock = new FakeClock();
    const { engine } = makeEngine({ clock, settings: { connections: 1, stallTimeoutMs: 30_000 } });
    const job = engine.add({ uri: file.uri });
    await until(engine, job.id, (j) => j.receivedBytes === 20_000);
    clock.advance(29_000);
    await new Promise((r) => setTimeout(r, 100));
    expect(engine.get(job.id)!.receivedBytes).toBe(20_000);
    expect(cdnRanges().filter((r) => r !== 'bytes=0-0')).toHaveLength(1);
    clock.advance(1_000); // 30 s of silence: reconnect after a short backoff
    const done = await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed', { clock, stepMs: 500 });
    expect(done.state).toBe('done');
    expect(cdnRanges().filter((r) => r !== 'bytes=0-0')).toEqual([`bytes=0-${data.length - 1}`, `bytes=20000-${data.length - 1}`]);
  });

  it('G15: failures in a row end the job as failed but retryable', async () => {
    const file = await hub.addFile('o/r', 'd.gguf', { data: seededBlob(64 * 1024), knobs: { dropAfter: 0, dropTimes: 100 } });
    const clock = new FakeClock();
    const { engine } = makeEngine({ clock, settings: { connections: 1, retries: 3 } });
    const job = engine.add({ uri: file.uri });
    const failed = await until(engine, job.id, (j) => j.state === 'failed', { clock, stepMs: 1000 });
    expect(failed.error).toMatchObject({ code: 'upstream', retryable: true });
    expect(failed.error!.message).toMatch(/3 failed attempts/);
    expect(engine.get(job.id)!.state).toBe('failed');
    expect(existsSync(path.join(dir, 'd.gguf'))).toBe(false);
  });

  it('G17: an expired CDN URL is re-resolved at the Hub and the transfer continues from its offset', async () => {
    const data = seededBlob(64 * 1024);
    const file = await hub.addFile('o/r', 'e.gguf', { data, knobs: { dropAfter: 30_000 } });
    const clock = new FakeClock();
    const { engine } = makeEngine({ clock, settings: { connections: 1 } });
    hub.expireUrls(); // URLs handed out from now on...
    const job = engine.add({ uri: file.uri });
    await until(engine, job.id, (j) => j.receivedBytes === 30_000);
    hub.expireUrls(); // ...expire after the first connection drops
    const done = await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed', { clock, stepMs: 1000 });
    expect(done.state).toBe('done');
    const cdn = hub.requests.filter((r) => r.server === 'cdn' && r.range !== 'bytes=0-0');
    expect(cdn.map((r) => r.range)).toEqual([`bytes=0-${data.length - 1}`, `bytes=30000-${data.length - 1}`, `bytes=30000-${data.length - 1}`]);
    expect(cdn.slice(1).map((r) => r.status)).toEqual([403, 206]);
    expect(await readFile(path.join(dir, 'e.gguf'))).toEqual(data);
  });

  it('G12: a server that stops honouring Range restarts from 0, never appending', async () => {
    const data = seededBlob(256 * 1024);
    const file = await hub.addFile('o/r', 'i.gguf', { data, knobs: { throttle: 64 * 1024 } });
    const { engine } = makeEngine({ settings: { connections: 2 } });
    const job = engine.add({ uri: file.uri });
    await until(engine, job.id, (j) => j.receivedBytes > 0);
    await engine.pause(job.id);
    Object.assign(hub.knobs('o/r', 'i.gguf'), { throttle: 0, ignoreRange: true });
    await engine.resume(job.id);
    const done = await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed');
    expect(done.state).toBe('done');
    expect(done.notice).toMatch(/started again from 0/);
    expect(await readFile(path.join(dir, 'i.gguf'))).toEqual(data);
  });

  it('G13: an overlong body fails the attempt and nothing is written past the range', async () => {
    const file = await hub.addFile('o/r', 'l.gguf', { data: seededBlob(64 * 1024), knobs: { overlong: 1000 } });
    const clock = new FakeClock();
    const { engine } = makeEngine({ clock, settings: { connections: 1, retries: 2 } });
    const job = engine.add({ uri: file.uri });
    const failed = await until(engine, job.id, (j) => j.state === 'failed', { clock, stepMs: 1000 });
    expect(failed.error!.message).toMatch(/more than/);
    expect(existsSync(path.join(dir, 'l.gguf'))).toBe(false);
  });

  it('G26 G27: flipped bytes fail the checksum, stay .part, and Retry starts over', async () => {
    const data = seededBlob(64 * 1024);
    const file = await hub.addFile('o/r', 'f.gguf', { data, knobs: { flipAt: 40_000 } });
    const { engine, published } = makeEngine();
    const job = engine.add({ uri: file.uri });
    const failed = await until(engine, job.id, (j) => j.state === 'failed' || j.state === 'done');
    expect(failed.error).toMatchObject({ code: 'checksum_mismatch', sha256: { expected: file.sha256, source: 'hub' } });
    expect(failed.error!.sha256!.actual).not.toBe(file.sha256);
    expect(existsSync(path.join(dir, 'f.gguf'))).toBe(false);
    expect(existsSync(path.join(dir, 'f.gguf.part'))).toBe(true);
    expect(published).toEqual([]);
    delete hub.knobs('o/r', 'f.gguf').flipAt;
    await engine.resume(job.id);
    expect((await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed')).state).toBe('done');
    expect(await readFile(path.join(dir, 'f.gguf'))).toEqual(data);
  });

  it('G25: a config sha256 that differs from the Hub fails before any byte, showing both', async () => {
    const file = await hub.addFile('o/r', 'c.gguf');
    const { engine } = makeEngine();
    const job = engine.add({ uri: file.uri, sha256: 'a'.repeat(64), sha256Source: 'config' });
    const failed = await until(engine, job.id, (j) => j.state === 'failed');
    expect(failed.error).toMatchObject({ code: 'checksum_mismatch', sha256: { expected: 'a'.repeat(64), source: 'config', actual: file.sha256 } });
    expect(cdnRanges().filter((r) => r !== 'bytes=0-0')).toEqual([]);
  });

  it('G28: a plain URL with no known sha256 is checked by size only and marked unverified', async () => {
    const data = seededBlob(32 * 1024);
    await hub.addFile('o/r', 'u.gguf', { data });
    // A direct link to the file host: no X-Linked-Etag, so no sha256.
    const res = await fetch(`${hub.endpoint}/o/r/resolve/main/u.gguf`, { redirect: 'manual' });
    const { engine } = makeEngine();
    const job = engine.add({ uri: res.headers.get('location')! });
    const done = await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed');
    expect(done).toMatchObject({ state: 'done', unverified: true, sha256: { expected: null, source: null } });
  });

  it('G23: a file changed upstream during a pause is restarted from 0 with the reason', async () => {
    const file = await hub.addFile('o/r', 'x.gguf', { data: seededBlob(256 * 1024), knobs: { throttle: 64 * 1024 } });
    const { engine } = makeEngine({ settings: { connections: 1 } });
    const job = engine.add({ uri: file.uri });
    await until(engine, job.id, (j) => j.receivedBytes > 0);
    await engine.pause(job.id);
    const next = seededBlob(100 * 1024);
    hub.replace('o/r', 'x.gguf', next);
    hub.knobs('o/r', 'x.gguf').throttle = 0;
    await engine.resume(job.id);
    const done = await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed');
    expect(done.state, JSON.stringify(done.error)).toBe('done');
    expect(done.notice).toMatch(/changed upstream/);
    expect(await readFile(path.join(dir, 'x.gguf'))).toEqual(next);
  });

  it('G42: an HTML page or a compressed body is refused and nothing is published', async () => {
    const html = await hub.addFile('o/r', 'h.gguf', { knobs: { html: true } });
    const gz = await hub.addFile('o/r', 'z.gguf', { knobs: { gzip: true } });
    const { engine } = makeEngine();
    const a = engine.add({ uri: html.uri });
    const b = engine.add({ uri: gz.uri });
    const fa = await until(engine, a.id, (j) => j.state === 'failed' || j.state === 'done');
    const fb = await until(engine, b.id, (j) => j.state === 'failed' || j.state === 'done');
    expect([fa.error?.code, fb.error?.code]).toEqual(['upstream', 'upstream']);
    expect(fa.error!.message).toMatch(/web page/);
    expect(fb.error!.message).toMatch(/compressed/);
    const notGguf = await hub.addFile('o/r', 'ng.gguf', { data: Buffer.from('PK\x03\x04 a zip, not a model'.padEnd(4096, '.')) });
    const c = engine.add({ uri: notGguf.uri });
    const fc = await until(engine, c.id, (j) => j.state === 'failed' || j.state === 'done');
    expect(fc.error).toMatchObject({ code: 'upstream' });
    expect(fc.error!.message).toMatch(/not a GGUF/);
    expect((await readdir(dir)).filter((n) => !n.includes('.part'))).toEqual([]);
  });

  it('G30 G31: a present target with the same sha256 is done without transfer; a different one is left alone; one job per target', async () => {
    const file = await hub.addFile('o/r', 'same.gguf');
    await writeFile(path.join(dir, 'same.gguf'), file.data);
    const { engine } = makeEngine();
    const job = engine.add({ uri: file.uri });
    expect(engine.add({ uri: file.uri }).id).toBe(job.id); // G31
    expect((await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed')).state).toBe('done');
    expect(cdnRanges().filter((r) => r !== 'bytes=0-0')).toEqual([]);

    const other = await hub.addFile('o/r', 'other.gguf');
    await writeFile(path.join(dir, 'other.gguf'), 'mine');
    const j2 = engine.add({ uri: other.uri });
    const failed = await until(engine, j2.id, (j) => j.state === 'failed' || j.state === 'done');
    expect(failed.error!.message).toMatch(/left untouched/);
    expect(await readFile(path.join(dir, 'other.gguf'), 'utf8')).toBe('mine');
  });

  it('G32: cancel stops within 1 s and removes the partial and the sidecar, never a finished file', async () => {
    const file = await hub.addFile('o/r', 'k.gguf', { data: seededBlob(256 * 1024), knobs: { throttle: 64 * 1024 } });
    const { engine } = makeEngine();
    const job = engine.add({ uri: file.uri });
    await until(engine, job.id, (j) => j.receivedBytes > 0);
    const t0 = Date.now();
    await engine.cancel(job.id);
    expect(Date.now() - t0).toBeLessThan(1000);
    expect(await readdir(dir)).toEqual([]);
    expect(engine.list()).toEqual([]);
  });

  it('G9: beyond download_concurrency jobs wait in order', async () => {
    const a = await hub.addFile('o/r', 'a.gguf', { data: seededBlob(128 * 1024), knobs: { throttle: 128 * 1024 } });
    const b = await hub.addFile('o/r', 'b.gguf');
    const { engine } = makeEngine({ settings: { concurrency: 1 } });
    const ja = engine.add({ uri: a.uri });
    const jb = engine.add({ uri: b.uri });
    await until(engine, ja.id, (j) => j.receivedBytes > 0);
    expect(engine.get(jb.id)!.state).toBe('queued');
    await until(engine, jb.id, (j) => j.state === 'done');
    expect(engine.get(ja.id)!.state).toBe('done');
  });
  it('G16: a job that failed on the network tries again by itself after 1, 5 and 15 minutes, then stays failed', async () => {
    const file = await hub.addFile('o/r', 'r.gguf', { data: seededBlob(64 * 1024), knobs: { dropAfter: 0, dropTimes: 100 } });
    const clock = new FakeClock();
    const { engine } = makeEngine({ clock, settings: { connections: 1, retries: 1 } });
    const job = engine.add({ uri: file.uri });
    const attempts = () => hub.requests.filter((r) => r.server === 'cdn').length;
    let failed = await until(engine, job.id, (j) => j.state === 'failed');
    expect(failed.notice).toMatch(/by itself in 1 min \(1 of 3\)/);
    for (const [minutes, next] of [[1, '5 min (2 of 3)'], [5, '15 min (3 of 3)'], [15, null]] as const) {
      const before = attempts();
      clock.advance(minutes * 60_000 - 1);
      await new Promise((r) => setTimeout(r, 50));
      expect(attempts()).toBe(before); // not a moment early
      clock.advance(1);
      await until(engine, job.id, (j) => j.state !== 'failed');
      failed = await until(engine, job.id, (j) => j.state === 'failed');
      expect(attempts()).toBeGreaterThan(before);
      if (next) expect(failed.notice).toContain(next);
      else expect(failed.notice).toMatch(/press Retry/);
    }
    const after = attempts();
    clock.advance(60 * 60_000);
    await new Promise((r) => setTimeout(r, 50));
    expect(attempts()).toBe(after);
    // A retry that gets through ends the failures; the file is fetched and verified.
    hub.knobs('o/r', 'r.gguf').dropTimes = 0;
    await engine.resume(job.id);
    expect((await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed')).state).toBe('done');
  });

  it('G16: a dropped connection that recovers on the automatic retry completes without the user', async () => {
    const file = await hub.addFile('o/r', 'q.gguf', { data: seededBlob(64 * 1024), knobs: { dropAfter: 0, dropTimes: 1 } });
    const clock = new FakeClock();
    const { engine } = makeEngine({ clock, settings: { connections: 1, retries: 1 } });
    const job = engine.add({ uri: file.uri });
    await until(engine, job.id, (j) => j.state === 'failed');
    clock.advance(60_000);
    const done = await until(engine, job.id, (j) => j.state === 'done' || (j.state === 'failed' && j.notice?.includes('2 of 3') === true));
    expect(done.state).toBe('done');
    expect(await readFile(path.join(dir, 'q.gguf'))).toEqual(file.data);
  });

  it('G31: a lock file held by another live process stops this one from writing the same partial; a stale lock is taken over', async () => {
    const file = await hub.addFile('o/r', 'l.gguf');
    const other = spawn('sleep', ['30'], { stdio: 'ignore' });
    try {
      await writeFile(path.join(dir, 'l.gguf.part.lock'), JSON.stringify({ pid: other.pid, host: os.hostname() }));
      const { engine } = makeEngine();
      const job = engine.add({ uri: file.uri });
      const failed = await until(engine, job.id, (j) => j.state === 'failed');
      expect(failed.error).toMatchObject({ code: 'downloading' });
      expect(failed.error!.message).toContain(`pid ${other.pid}`);
      expect(failed.notice ?? '').not.toMatch(/by itself/); // the other process is at it: no retries of ours
      expect(existsSync(path.join(dir, 'l.gguf.part'))).toBe(false);
      other.kill('SIGKILL');
      await new Promise((r) => other.once('exit', r));
      await engine.resume(job.id);
      expect((await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed')).state).toBe('done');
      for (let i = 0; i < 100 && existsSync(path.join(dir, 'l.gguf.part.lock')); i++) await new Promise((r) => setTimeout(r, 10));
      expect(existsSync(path.join(dir, 'l.gguf.part.lock'))).toBe(false);
    } finally {
      other.kill('SIGKILL');
    }
  });

  it('G43: plain http:// from another machine needs a pinned sha256', async () => {
    const { engine } = makeEngine({ settings: { concurrency: 1 } });
    expect(() => engine.add({ uri: 'http://models.example.com/m.gguf' })).toThrow(/plain http:\/\/.*sha256/);
    // With a pinned sha256 it is accepted (it waits behind a running job here, so nothing connects).
    const slow = await hub.addFile('o/r', 'slow.gguf', { data: seededBlob(128 * 1024), knobs: { throttle: 32 * 1024 } });
    const first = engine.add({ uri: slow.uri });
    await until(engine, first.id, (j) => j.receivedBytes > 0);
    const pinned = engine.add({ uri: 'http://models.example.com/m.gguf', sha256: 'a'.repeat(64) });
    expect(pinned.state).toBe('queued');
    await engine.cancel(pinned.id);
    // Loopback http is fine without one (the fake hub itself is http://127.0.0.1).
    expect(() => engine.add({ uri: `${hub.endpoint}/o/r/resolve/main/slow2.gguf` })).not.toThrow();
  });

  it('G45: ollama:// pulls the model layer and checks it against the manifest digest', async () => {
    const model = await hub.addOllama('tinyllm', 'q4');
    const { engine, published } = makeEngine({ settings: { ollamaRegistry: hub.endpoint } });
    const job = engine.add({ uri: model.uri });
    expect(job.target).toBe('tinyllm-q4.gguf');
    const done = await until(engine, job.id, (j) => j.state === 'done' || j.state === 'failed');
    expect(done).toMatchObject({ state: 'done', unverified: false });
    expect(done.sha256).toEqual({ expected: model.sha256, source: 'ollama', actual: model.sha256 });
    expect(await readFile(path.join(dir, 'tinyllm-q4.gguf'))).toEqual(model.data);
    expect(published).toEqual([path.join(dir, 'tinyllm-q4.gguf')]);
    expect(hub.requests.some((r) => r.path === '/v2/library/tinyllm/manifests/q4')).toBe(true);
  });

  it('G45: a blob that does not match the manifest digest is refused and never published; an unknown tag is not_found', async () => {
    const model = await hub.addOllama('liar', 'latest', { wrongDigest: 'b'.repeat(64) });
    const { engine } = makeEngine({ settings: { ollamaRegistry: hub.endpoint } });
    const job = engine.add({ uri: model.uri });
    const failed = await until(engine, job.id, (j) => j.state === 'failed');
    expect(failed.error).toMatchObject({ code: 'checksum_mismatch' });
    expect(failed.error!.sha256).toMatchObject({ expected: 'b'.repeat(64), source: 'ollama', actual: model.sha256 });
    expect(existsSync(path.join(dir, 'liar-latest.gguf'))).toBe(false);
    const missing = engine.add({ uri: 'ollama://nosuch:7b' });
    expect((await until(engine, missing.id, (j) => j.state === 'failed')).error).toMatchObject({ code: 'not_found' });
  });
});
