/**
 * D29: model files between nodes over a real nats-server on loopback. A holder serves
 * `loadout.file.<sha256>` in chunks; the fetching side is a Downloads job with source
 * `nats:<sha256>` (real engine, real files): verified, published atomically, resumable; a wrong
 * file is `checksum_mismatch` (422), and a file already there is used in place.
 */
import { createHash, randomBytes } from 'node:crypto';
import { existsSync, readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FileServer, natsPeerSource, type PeerSource } from '../../src/main/core/cluster/peerFiles';
import { makeModel } from '../../src/main/core/gguf/makeModel';
import { FILE_CHUNK_BYTES, encode, fileSubject } from '../../src/main/core/cluster/protocol';
import { DownloadEngine, type DownloadJob } from '../../src/main/core/downloads/engine';
import { ERROR_STATUS } from '../../src/shared/errors';
import { isLoadoutError } from '../../src/shared/errors';
import { disposeAll, faultModel, startTestCore } from '../harness';
import { cleanupCluster, clusterClient, readRecord, startNats, startWorker, tempDir, waitUntil } from './harness';

afterEach(async () => {
  await disposeAll();
  await cleanupCluster();
});

const MiB = 1024 * 1024;

/** A file that starts like a GGUF (the engine checks the magic of .gguf targets). */
function modelBytes(size: number): Buffer {
  const b = randomBytes(size);
  b.write('GGUF', 0, 'latin1');
  return b;
}

function sha(b: Buffer): string {
  return createHash('sha256').update(b).digest('hex');
}

function serve(server: FileServer, path: string, digest: string): void {
  const st = statSync(path);
  server.set(new Map([[digest, { path, sizeBytes: st.size, mtimeMs: st.mtimeMs }]]));
}

/**
 * A nats-server; a holder serving `served` (by default `bytes`) as `name` under the sha256 of
 * `bytes`; and a fetcher's connection with an empty models folder.
 */
async function peerPair(name: string, bytes: Buffer, served: Buffer = bytes) {
  const nats = await startNats();
  const holder = await clusterClient(nats.url);
  const fetcher = await clusterClient(nats.url);
  const file = join(tempDir('loadout-peer-src-'), name);
  const dst = tempDir('loadout-peer-dst-');
  const digest = sha(bytes);
  writeFileSync(file, served);
  const server = new FileServer(holder.nc);
  serve(server, file, digest);
  return { nats, fetcher, dst, digest, file, server };
}

function engineFor(modelsDir: string, peer: PeerSource): DownloadEngine {
  return new DownloadEngine({
    modelsDir,
    peer,
    random: () => 0,
    statfs: async () => ({ bavail: 1e12, bsize: 1 }),
    settings: () => ({ stallTimeoutMs: 2_000, retries: 20, reserveBytes: 0 }),
  });
}

function settled(engine: DownloadEngine, id: string): Promise<DownloadJob> {
  return new Promise((resolve) => {
    const check = (j: DownloadJob | null) => {
      if (j && j.id === id && (j.state === 'done' || j.state === 'failed')) {
        off();
        resolve(j);
      }
    };
    const off = engine.events.on(check);
    check(engine.get(id));
  });
}

describe('D29: peer fetch over NATS', () => {
  it('D29: a file is fetched from a peer in chunks as a nats: Downloads job, verified and published', async () => {
    const bytes = modelBytes(5 * MiB + 12345);
    const { fetcher, dst, digest, server } = await peerPair('m.gguf', bytes);
    const engine = engineFor(dst, natsPeerSource(() => fetcher.nc));
    const seen: DownloadJob[] = [];
    engine.events.on((j) => seen.push(j));
    const job = engine.add({ uri: `nats:${digest}`, filename: 'm.gguf', size: bytes.length, model: 'm' });
    expect(job).toMatchObject({ uri: `nats:${digest}`, target: 'm.gguf', model: 'm', totalBytes: bytes.length, sha256: { expected: digest, source: 'cluster' } });
    const done = await settled(engine, job.id);
    expect(done.error).toBeNull();
    expect(done).toMatchObject({ state: 'done', receivedBytes: bytes.length, sha256: { expected: digest, actual: digest }, unverified: false });
    expect(readFileSync(join(dst, 'm.gguf')).equals(bytes)).toBe(true);
    // Published atomically: only the file is left, no .part, sidecar or lock.
    expect(readdirSync(dst)).toEqual(['m.gguf']);
    // It went through the usual states, and in chunks of at most 512 KiB.
    expect(seen.map((j) => j.state)).toEqual(expect.arrayContaining(['queued', 'resolving', 'downloading', 'verifying', 'done']));
    expect(server.servedChunks).toBe(Math.ceil(bytes.length / FILE_CHUNK_BYTES));
    expect(server.servedBytes).toBe(bytes.length);
    await engine.close();
  });

  it('D29: a fetch resumes from its committed offsets after the serving side goes away mid-transfer', async () => {
    const bytes = modelBytes(24 * MiB);
    const { nats, fetcher, dst, digest, file, server: first } = await peerPair('big.gguf', bytes);
    // The holder stops serving after its 10th chunk: what was in flight then is lost.
    const peer = natsPeerSource(() => fetcher.nc);
    let cutAt = -1;
    const engine = engineFor(dst, {
      chunkBytes: peer.chunkBytes,
      fetch: async (...a) => {
        const data = await peer.fetch(...a);
        if (first.servedChunks >= 10 && cutAt < 0) {
          cutAt = first.servedBytes;
          first.stop();
        }
        return data;
      },
    });
    const job = engine.add({ uri: `nats:${digest}`, filename: 'big.gguf', size: bytes.length });
    await waitUntil(() => cutAt >= 0, 'the holder to stop serving', { timeoutMs: 20_000 });
    // Nobody holds the file now: the job backs off and keeps what arrived.
    await new Promise((r) => setTimeout(r, 800));
    const mid = engine.get(job.id)!;
    expect(mid.state).toBe('downloading');
    expect(mid.receivedBytes).toBeGreaterThan(0);
    expect(mid.receivedBytes).toBeLessThan(bytes.length);
    expect(existsSync(join(dst, 'big.gguf.part'))).toBe(true);
    expect(existsSync(join(dst, 'big.gguf'))).toBe(false);
    // Another holder (a restarted worker) comes: the job continues, not from 0.
    const holder2 = await clusterClient(nats.url);
    const second = new FileServer(holder2.nc);
    serve(second, file, digest);
    const done = await settled(engine, job.id);
    expect(done.error).toBeNull();
    expect(done.state).toBe('done');
    expect(readFileSync(join(dst, 'big.gguf')).equals(bytes)).toBe(true);
    expect(second.servedBytes).toBeGreaterThan(0);
    expect(second.servedBytes).toBeLessThanOrEqual(bytes.length - mid.receivedBytes);
    second.stop();
    await engine.close();
  });

  it('D29: a paused fetch survives a restart of the fetching side and resumes from its sidecar', async () => {
    const bytes = modelBytes(16 * MiB);
    const { fetcher, dst, digest, server } = await peerPair('p.gguf', bytes);
    const peer = natsPeerSource(() => fetcher.nc);
    let gate: Promise<void> | null = null;
    let open = () => {};
    const engine = engineFor(dst, {
      chunkBytes: peer.chunkBytes,
      fetch: async (...a) => {
        if (server.servedChunks >= 6) await (gate ??= new Promise<void>((r) => (open = r)));
        return peer.fetch(...a);
      },
    });
    const job = engine.add({ uri: `nats:${digest}`, filename: 'p.gguf', size: bytes.length });
    await waitUntil(() => gate !== null, 'six chunks to arrive', { timeoutMs: 20_000 });
    const quitting = engine.close();
    open();
    await quitting;
    const kept = JSON.parse(readFileSync(join(dst, 'p.gguf.part.json'), 'utf8')) as { uri: string; url: string; size: number };
    expect(kept).toMatchObject({ uri: `nats:${digest}`, url: `nats:${digest}`, size: bytes.length });
    const before = server.servedBytes;
    const again = engineFor(dst, natsPeerSource(() => fetcher.nc));
    await again.start();
    const done = await settled(again, job.id);
    expect(done.error).toBeNull();
    expect(readFileSync(join(dst, 'p.gguf')).equals(bytes)).toBe(true);
    expect(server.servedBytes - before).toBeLessThan(bytes.length);
    await again.close();
  });

  it('D29: a peer whose file does not match the sha256 gives checksum_mismatch (422), nothing published', async () => {
    const bytes = modelBytes(3 * MiB);
    const corrupt = Buffer.from(bytes);
    corrupt[2 * MiB] ^= 0xff;
    // The holder believes (a stale cache, a disk error) it has the file with that sha256.
    const { fetcher, dst, digest } = await peerPair('c.gguf', bytes, corrupt);
    const engine = engineFor(dst, natsPeerSource(() => fetcher.nc));
    const job = engine.add({ uri: `nats:${digest}`, filename: 'c.gguf', size: bytes.length });
    const done = await settled(engine, job.id);
    expect(done.state).toBe('failed');
    expect(done.error).toMatchObject({ code: 'checksum_mismatch', sha256: { expected: digest, source: 'cluster', actual: sha(corrupt) } });
    expect(ERROR_STATUS[done.error!.code]).toBe(422);
    expect(existsSync(join(dst, 'c.gguf'))).toBe(false);
    expect(existsSync(join(dst, 'c.gguf.part'))).toBe(true);
    await engine.close();
  });

  it('D29: a file already there with the right sha256 is used in place: no chunk is asked for', async () => {
    const bytes = modelBytes(2 * MiB);
    const { fetcher, dst, digest, server } = await peerPair('h.gguf', bytes);
    writeFileSync(join(dst, 'h.gguf'), bytes);
    const engine = engineFor(dst, natsPeerSource(() => fetcher.nc));
    const job = engine.add({ uri: `nats:${digest}`, filename: 'h.gguf', size: bytes.length });
    const done = await settled(engine, job.id);
    expect(done).toMatchObject({ state: 'done', sha256: { actual: digest } });
    expect(server.servedChunks).toBe(0);
    await engine.close();
  });

  it('D29: malformed chunk requests are refused, and a reply of the wrong length is never used', async () => {
    const nats = await startNats();
    const holder = await clusterClient(nats.url);
    const client = await clusterClient(nats.url);
    const src = tempDir('loadout-peer-src-');
    const bytes = modelBytes(1 * MiB);
    const digest = sha(bytes);
    writeFileSync(join(src, 'v.gguf'), bytes);
    const server = new FileServer(holder.nc);
    serve(server, join(src, 'v.gguf'), digest);
    await holder.nc.flush(); // the server has the subscription before the first ask
    const ask = async (body: unknown) => {
      const m = await client.nc.request(fileSubject(digest), typeof body === 'string' ? new TextEncoder().encode(body) : encode(body), { timeout: 2000 });
      return m.data;
    };
    for (const bad of ['not json', { v: 2, offset: 0, length: 10 }, { v: 1, offset: -1, length: 10 }, { v: 1, offset: 0, length: FILE_CHUNK_BYTES + 1 }, { v: 1, offset: 0.5, length: 10 }, { v: 1, offset: bytes.length, length: 1 }, { v: 1, offset: bytes.length - 5, length: 10 }]) {
      const data = await ask(bad);
      expect(data[0]).toBe(1);
      expect(JSON.parse(Buffer.from(data.subarray(1)).toString())).toMatchObject({ v: 1, error: expect.any(String) });
    }
    const ok = await ask({ v: 1, offset: 100, length: 50 });
    expect(Buffer.from(ok.subarray(1)).equals(bytes.subarray(100, 150))).toBe(true);
    expect(server.servedBytes).toBe(50);
    // A holder that answers with the wrong number of bytes: the fetching side refuses the chunk.
    const liar = await clusterClient(nats.url);
    const other = 'a'.repeat(64);
    liar.nc.subscribe(fileSubject(other), { callback: (_e, m) => void m.respond(Buffer.from([0, 1, 2, 3])) });
    await liar.nc.flush();
    await expect(natsPeerSource(() => client.nc).fetch(other, 0, 10, 2000)).rejects.toThrow(/sent 3 bytes when 10 were asked/);
    // A file changed on disk since its sha256 was known is no longer served.
    writeFileSync(join(src, 'v.gguf'), Buffer.concat([bytes, Buffer.from('x')]));
    const changed = await ask({ v: 1, offset: 0, length: 10 });
    expect(changed[0]).toBe(1);
    expect(server.serving).toEqual([]);
  });
});

/** A valid tiny GGUF (the catalog reads its header) padded past a few chunks with random bytes. */
async function ggufBytes(seed: number, padding: number): Promise<Buffer> {
  const file = join(tempDir('loadout-peer-gguf-'), 'm.gguf');
  await makeModel(file, { preset: 'tiny', seed });
  return Buffer.concat([readFileSync(file), randomBytes(padding)]);
}

/** A fault-backend model whose file is m.gguf, pinned (or not) by download_files, placed on zone b. */
function peerModel(digest: string | null): string {
  const pin = digest ? `download_files:\n  - filename: m.gguf\n    sha256: ${digest}\n` : '';
  return faultModel('m', { extra: `parameters:\n  model: m.gguf\n${pin}cluster:\n  node_selector:\n    zone: b` });
}

async function cluster(o: { holderFile: Buffer; digest: string; fetcherFile?: Buffer; fetcherPins?: boolean }) {
  const nats = await startNats();
  const watcher = await clusterClient(nats.url);
  // A plain (non-queue) subscriber sees every chunk request: what crossed NATS, and where from.
  const asked: number[] = [];
  watcher.nc.subscribe('loadout.file.>', { callback: (_e, m) => void asked.push(JSON.parse(new TextDecoder().decode(m.data)).offset as number) });
  const holderModels = tempDir('loadout-w1-models-');
  writeFileSync(join(holderModels, 'm.gguf'), o.holderFile);
  const fetcherModels = tempDir('loadout-w2-models-');
  if (o.fetcherFile) writeFileSync(join(fetcherModels, 'm.gguf'), o.fetcherFile);
  const w1 = await startWorker(nats.url, { name: 'w1', modelsDir: holderModels, configs: { 'm.yaml': peerModel(o.digest) }, args: ['--labels', 'zone=a'] });
  const w2 = await startWorker(nats.url, { name: 'w2', modelsDir: fetcherModels, configs: { 'm.yaml': peerModel(o.fetcherPins === false ? null : o.digest) }, args: ['--labels', 'zone=b'] });
  // w1 advertises the file with the sha256 its config pins (known without hashing).
  await waitUntil(async () => (await readRecord(watcher, 'w1'))?.files.some((f) => f.name === 'm.gguf' && f.sha256 === o.digest), 'w1 to advertise m.gguf');
  const fe = await startTestCore({ configs: { 'm.yaml': peerModel(o.digest) }, settings: { cluster_nats_url: nats.url, cluster_node_name: 'fe1', cluster_local_node: false } });
  await waitUntil(() => fe.core.commands.cluster()?.nodes.filter((n) => n.state === 'live').length === 2, 'both workers live');
  return { nats, watcher, asked, w1, w2, fe, fetcherModels };
}

describe('D29: a worker without the file', () => {
  it('D29: fetches it from the peer that has it (a nats: Downloads job), publishes it, then loads', async () => {
    const bytes = await ggufBytes(1, 16 * MiB + 777);
    const digest = sha(bytes);
    const c = await cluster({ holderFile: bytes, digest });
    // The row shows the fetch's progress while w2 stages the file (no replica exists yet).
    const progress: number[] = [];
    const poll = setInterval(() => {
      const r = c.fe.core.router.rowOf('m');
      if (r.state === 'starting' && typeof r.progress === 'number') progress.push(r.progress);
    }, 10);
    const row = await c.fe.core.router.load('m').finally(() => clearInterval(poll));
    expect(progress.length).toBeGreaterThan(0);
    expect(progress.every((p) => p >= 0 && p <= 1)).toBe(true);
    expect(row.replicas).toEqual([expect.objectContaining({ node: 'w2' })]);
    await c.fe.waitState('m', 'ready');
    expect(readFileSync(join(c.fetcherModels, 'm.gguf')).equals(bytes)).toBe(true);
    expect(readdirSync(c.fetcherModels).sort()).toEqual(['m.gguf', 'm.yaml']);
    expect(c.asked.length).toBe(Math.ceil(bytes.length / FILE_CHUNK_BYTES));
    // w2 now knows (and serves) the file by its sha256 too.
    await waitUntil(async () => (await readRecord(c.watcher, 'w2'))?.files.some((f) => f.name === 'm.gguf' && f.sha256 === digest), 'w2 to advertise m.gguf');
  });

  it('D29: a peer file that does not match gives checksum_mismatch (422); nothing is published or loaded', async () => {
    const bytes = await ggufBytes(1, 2 * MiB);
    const digest = sha(bytes);
    const corrupt = Buffer.from(bytes);
    corrupt[bytes.length - MiB] ^= 0x55;
    const c = await cluster({ holderFile: corrupt, digest });
    const err = await c.fe.core.router.load('m').then(
      () => null,
      (e: unknown) => e,
    );
    expect(isLoadoutError(err) && err.code).toBe('checksum_mismatch');
    expect(ERROR_STATUS.checksum_mismatch).toBe(422);
    expect((err as Error).message).toMatch(new RegExp(`${sha(corrupt)}.*${digest}`));
    expect(existsSync(join(c.fetcherModels, 'm.gguf'))).toBe(false);
    expect(existsSync(join(c.fetcherModels, 'm.gguf.part'))).toBe(true);
    expect((await readRecord(c.watcher, 'w2'))?.models).toEqual([]);
  });

  it('D29: a matching file already there is hashed once and used in place, with no transfer', async () => {
    const bytes = await ggufBytes(1, 2 * MiB);
    const digest = sha(bytes);
    // w2's own config pins nothing: its copy is hashed when the load asks for that sha256.
    const c = await cluster({ holderFile: bytes, digest, fetcherFile: bytes, fetcherPins: false });
    await c.fe.core.router.load('m');
    await c.fe.waitState('m', 'ready');
    expect(c.asked).toEqual([]);
    expect(readdirSync(c.fetcherModels).sort()).toEqual(['m.gguf', 'm.yaml']);
    const hashes = JSON.parse(readFileSync(join(c.w2.dataDir, 'file-hashes.json'), 'utf8')) as { files: { sha256: string }[] };
    expect(hashes.files.map((f) => f.sha256)).toEqual([digest]);
  });

  it('D29: a different file of the same name is refused with checksum_mismatch and left untouched', async () => {
    const bytes = await ggufBytes(1, 2 * MiB);
    const digest = sha(bytes);
    const mine = await ggufBytes(2, 2 * MiB);
    const c = await cluster({ holderFile: bytes, digest, fetcherFile: mine, fetcherPins: false });
    const err = await c.fe.core.router.load('m').then(
      () => null,
      (e: unknown) => e,
    );
    expect(isLoadoutError(err) && err.code).toBe('checksum_mismatch');
    expect(readFileSync(join(c.fetcherModels, 'm.gguf')).equals(mine)).toBe(true);
    expect(c.asked).toEqual([]);
  });
});
