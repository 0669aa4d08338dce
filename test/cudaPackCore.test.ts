/**
 * V14 through a real core: a detection that says the NVIDIA driver supports CUDA while the CUDA
 * binaries are missing fetches the CUDA pack once, in the background (from a registry on a
 * loopback server), with its progress on the GPU panel's line; the next built-in backend starts
 * with the pack's runtimes folder. A failed fetch leaves loads working on the CPU, the reason shown.
 */
import { execFileSync } from 'node:child_process';
import { createHash } from 'node:crypto';
import { mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import type { CoreEvent } from '../src/shared/model';
import { createCore, type Core } from '../src/main/core/createCore';
import { LLAMA_RUNTIME_DIR_ENV, runtimeDir, tarballUrl, type PinnedPackage } from '../src/main/core/gpu/cudaPack';
import { CUDA_PACK_PINS } from '../src/main/core/gpu/cudaPackPins';
import { collectDetectionKeyInputs, DetectionCache, detectionKey, type GpuDetection } from '../src/main/core/gpu/detectionCache';
import { makeModel } from '../src/main/core/gguf/makeModel';
import { waitUntil } from './harness';

const root = resolve(__dirname, '..');
const cleanups: (() => Promise<void> | void)[] = [];
afterEach(async () => {
  for (const c of cleanups.splice(0).reverse()) await c();
});

/** A tiny package with the pack's real name and pinned version. */
function fakeTarball(dir: string, name: string): Buffer {
  const pkg = join(dir, name.replace('/', '+'), 'package');
  mkdirSync(pkg, { recursive: true });
  writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name, version: CUDA_PACK_PINS.nodeLlamaCpp }));
  writeFileSync(join(pkg, 'filler.bin'), Buffer.alloc(200_000, 7));
  const out = join(pkg, '..', 'pack.tgz');
  execFileSync('tar', ['--format=ustar', '-czf', out, '-C', join(pkg, '..'), 'package']);
  return readFileSync(out);
}

async function registry(files: Map<string, Buffer>): Promise<{ url: string; requests: string[] }> {
  const requests: string[] = [];
  const server = http.createServer((req, res) => {
    requests.push(req.url ?? '');
    const file = files.get(req.url ?? '');
    if (!file) return void res.writeHead(404).end('not found');
    res.writeHead(200, { 'content-length': file.length });
    res.end(file);
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  cleanups.push(() => new Promise<void>((r) => server.close(() => r())));
  return { url: `http://127.0.0.1:${(server.address() as AddressInfo).port}`, requests };
}

/**
 * A core whose kept detection (V2, under the key the core computes: no bundled CUDA binaries, so
 * the pack is `missing`) says: CPU, because the CUDA binaries are missing, and the driver supports CUDA.
 */
async function coreWithCudaDriver(serve: boolean): Promise<{ core: Core; dataDir: string; events: CoreEvent[]; requests: string[]; notices: string[] }> {
  const tmp = mkdtempSync(join(os.tmpdir(), 'loadout-cuda-core-'));
  cleanups.push(() => rmSync(tmp, { recursive: true, force: true }));
  const dataDir = join(tmp, 'data');
  const modelsDir = join(tmp, 'models');
  const noBundledCuda = join(tmp, 'node_modules');
  mkdirSync(modelsDir, { recursive: true });
  mkdirSync(noBundledCuda);
  await makeModel(join(modelsDir, 'tiny.gguf'), { preset: 'tiny', seed: 7 });
  const names = ['@node-llama-cpp/linux-x64-cuda', '@node-llama-cpp/linux-x64-cuda-ext'];
  const files = new Map<string, Buffer>();
  const packages: PinnedPackage[] = names.map((name) => {
    const tgz = fakeTarball(tmp, name);
    const pkg = { name, version: CUDA_PACK_PINS.nodeLlamaCpp, integrity: `sha512-${createHash('sha512').update(tgz).digest('base64')}` };
    if (serve) files.set(new URL(tarballUrl(pkg, 'http://x')).pathname, tgz);
    return pkg;
  });
  const reg = await registry(files);
  const detection: GpuDetection = {
    gpu: false,
    deviceNames: [],
    totalBytes: 0,
    unified: false,
    fallbackReason: 'cuda could not be used: no working cuda binary for this machine (driver or device missing)',
    supportedGpuTypes: ['cuda'],
    detectedAt: 0,
  };
  const key = detectionKey({ ...collectDetectionKeyInputs(join(root, 'node_modules')), cudaPack: 'missing' });
  await new DetectionCache(dataDir).write(key, detection);
  const notices: string[] = [];
  const core = await createCore({
    dataDir,
    overrides: { models_dir: modelsDir, warm_standby: false },
    demoModel: false,
    cores: 2,
    onNotice: (n) => notices.push(n),
    // The pins' names on any machine: this one's node_modules has no CUDA binaries in the test.
    cudaPack: { registry: reg.url, packages, nodeModulesDir: noBundledCuda },
  });
  cleanups.push(() => core.dispose());
  const events: CoreEvent[] = [];
  core.events.on((e) => events.push(e));
  return { core, dataDir, events, requests: reg.requests, notices };
}

const environOf = (pid: number): string[] => readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0');
const gpuNotices = (events: CoreEvent[]) => events.flatMap((e) => (e.type === 'gpus' && e.notice ? [e.notice] : []));

describe.skipIf(process.platform !== 'linux' || process.arch !== 'x64')('V14 the CUDA pack, fetched on first need', () => {
  it('starts the fetch once with progress on the GPU line, and the next backend gets the runtimes folder', async () => {
    const t = await coreWithCudaDriver(true);
    const first = await t.core.commands.load('tiny');
    // On the CPU (the kept detection; the pack may already be in by the time the row is read).
    expect(first.placement).toMatchObject({ device: 'cpu', note: expect.stringMatching(/^runs on the CPU: /) });
    // The first backend started before the pack was there: no runtimes folder for it.
    expect(environOf(first.pid!).some((v) => v.startsWith(`${LLAMA_RUNTIME_DIR_ENV}=`))).toBe(false);
    await waitUntil(() => t.core.commands.snapshot().gpuNotice?.startsWith('The CUDA pack is installed'), 'the pack installed', { timeoutMs: 20_000 });
    const shown = gpuNotices(t.events);
    expect(shown[0]).toBe('Fetching the CUDA pack for the NVIDIA GPU. Models run on the CPU until it is installed.');
    expect(shown).toContainEqual(expect.stringMatching(/^Fetching the CUDA pack for the NVIDIA GPU \(package 1 of 2\): \d+% of 0 MB\. Models run on the CPU until it is installed\.$/));
    expect(shown).toContainEqual(expect.stringMatching(/\(package 2 of 2\): unpacking/));
    expect(t.requests).toHaveLength(2);

    await t.core.commands.unload('tiny');
    const second = await t.core.commands.load('tiny');
    expect(second.state).toBe('ready');
    expect(environOf(second.pid!)).toContain(`${LLAMA_RUNTIME_DIR_ENV}=${runtimeDir(t.dataDir)}`);
    // The pack changed the detection key: this backend started on `auto` and detected again.
    expect(t.core.commands.logs('tiny').map((l) => l.text).join('\n')).toMatch(/getLlama .*gpu none: no GPU found/);
    expect(t.requests).toHaveLength(2);
  }, 90_000);

  it('a failed fetch leaves loads working on the CPU, and the GPU line says why', async () => {
    const t = await coreWithCudaDriver(false);
    const row = await t.core.commands.load('tiny');
    expect(row.state).toBe('ready');
    const why = await waitUntil(() => t.core.commands.snapshot().gpuNotice?.match(/^The CUDA pack could not be fetched \(.*404.*\)\. Models run on the CPU; Loadout tries again on its next start\.$/), 'the failure shown', { timeoutMs: 20_000 });
    expect(t.notices).toContain(why[0]);
    let text = '';
    for await (const c of t.core.commands.complete('tiny', { prompt: 'Once upon a time', max_tokens: 4, temperature: 0 })) text += c.text;
    expect(text.length).toBeGreaterThan(0);
    expect(t.requests).toHaveLength(1);
  }, 90_000);
});
