/**
 * V14: the CUDA pack, fetched from a registry on a loopback server (no internet in tests):
 * progress, the sha512 check, resuming a dropped download, and the built-in backend finding the
 * unpacked package through its resolution hook. The packages are tiny fakes with the real names.
 */
import { spawn, execFileSync } from 'node:child_process';
import { createHash, randomBytes } from 'node:crypto';
import fs from 'node:fs';
import http from 'node:http';
import type { AddressInfo } from 'node:net';
import os from 'node:os';
import path from 'node:path';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { registerRuntimeDirHook } from '../../../backends/llama/runtimeHook';
import { NODE_ARGS } from '../../../backends/llama/testBackend';
import { DownloadError } from '../downloads/errors';
import {
  cudaPackEnv,
  ensureCudaPack,
  cudaPackNeeded,
  cudaPackPackages,
  cudaPackStatus,
  fetchCudaPack,
  runtimeDir,
  tarballUrl,
  type CudaPackProgress,
  type PinnedPackage,
} from './cudaPack';
import { CUDA_PACK_PINS } from './cudaPackPins';

const root = path.resolve(__dirname, '../../../..');
const tmp = fs.mkdtempSync(path.join(os.tmpdir(), 'loadout-cuda-pack-'));
afterAll(() => fs.rmSync(tmp, { recursive: true, force: true }));

/** This machine's pack names where it has one; Linux x64's otherwise (fetching works anywhere). */
const names = (cudaPackPackages().length ? cudaPackPackages() : cudaPackPackages('linux', 'x64')).map((p) => p.name);

/**
 * A fake package with the real name: importing it leaves an `imported` file beside it, and like
 * the real one it tells node-llama-cpp where its binaries are (a folder without any, here).
 */
function fakeTarball(name: string): Buffer {
  const dir = fs.mkdtempSync(path.join(tmp, 'src-'));
  const pkg = path.join(dir, 'package');
  fs.mkdirSync(path.join(pkg, 'dist'), { recursive: true });
  fs.mkdirSync(path.join(pkg, 'bins', 'empty'), { recursive: true });
  fs.writeFileSync(
    path.join(pkg, 'package.json'),
    JSON.stringify({ name, version: CUDA_PACK_PINS.nodeLlamaCpp, type: 'module', exports: { '.': { import: './dist/index.js' } } }),
  );
  fs.writeFileSync(
    path.join(pkg, 'dist', 'index.js'),
    [
      "import fs from 'node:fs';",
      "fs.writeFileSync(new URL('../imported', import.meta.url), 'yes');",
      `export function getBinsDir() { return { binsDir: new URL('../bins', import.meta.url).pathname, packageVersion: '${CUDA_PACK_PINS.nodeLlamaCpp}' }; }`,
    ].join('\n'),
  );
  // Incompressible bytes, so the tarball is big enough to arrive in several chunks.
  fs.writeFileSync(path.join(pkg, 'bins', 'filler.bin'), randomBytes(300_000));
  const out = path.join(dir, 'pack.tgz');
  execFileSync('tar', ['--format=ustar', '-czf', out, '-C', dir, 'package']);
  return fs.readFileSync(out);
}

const integrity = (b: Buffer) => `sha512-${createHash('sha512').update(b).digest('base64')}`;

interface Registry {
  url: string;
  /** The range header of every tarball request, in order ('' for none). */
  ranges: string[];
  /** Per request: what to do with the next response (then back to serving it whole). */
  next: Array<'drop-half' | 'tamper'>;
  close(): Promise<void>;
}

async function startRegistry(files: Map<string, Buffer>): Promise<Registry> {
  const reg: Registry = { url: '', ranges: [], next: [], close: async () => {} };
  const server = http.createServer((req, res) => {
    const file = files.get(req.url ?? '');
    if (!file) return void res.writeHead(404).end();
    reg.ranges.push(req.headers.range ?? '');
    const mode = reg.next.shift();
    const m = /^bytes=(\d+)-$/.exec(req.headers.range ?? '');
    const start = m ? Number(m[1]) : 0;
    const body = mode === 'tamper' ? Buffer.from(file.map((b, i) => (i === file.length - 100 ? b ^ 1 : b))) : file;
    res.writeHead(m ? 206 : 200, { 'content-length': body.length - start, ...(m ? { 'content-range': `bytes ${start}-${body.length - 1}/${body.length}` } : {}) });
    if (mode === 'drop-half') {
      res.write(body.subarray(start, start + (body.length - start) / 2), () => setTimeout(() => res.destroy(), 20));
      return;
    }
    res.end(body.subarray(start));
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
  reg.url = `http://127.0.0.1:${(server.address() as AddressInfo).port}`;
  reg.close = () => new Promise<void>((r) => server.close(() => r()));
  return reg;
}

let tarballs: Buffer[];
let packages: PinnedPackage[];
let registry: Registry;

beforeAll(async () => {
  tarballs = names.map((name) => fakeTarball(name));
  packages = names.map((name, i) => ({ name, version: CUDA_PACK_PINS.nodeLlamaCpp, integrity: integrity(tarballs[i]) }));
  registry = await startRegistry(new Map(packages.map((p, i) => [new URL(tarballUrl(p, 'http://x')).pathname, tarballs[i]])));
});
afterAll(() => registry?.close());

const installed = (dataDir: string, name: string) => path.join(runtimeDir(dataDir), 'node_modules', name);
const newDataDir = () => fs.mkdtempSync(path.join(tmp, 'data-'));

describe('V14 the CUDA pack', () => {
  it('pins the CUDA packages package-lock.json pins', () => {
    const lock = JSON.parse(fs.readFileSync(path.join(root, 'package-lock.json'), 'utf8')) as { packages: Record<string, { version: string; integrity: string }> };
    const fromLock = {
      nodeLlamaCpp: lock.packages['node_modules/node-llama-cpp'].version,
      packages: Object.fromEntries(
        Object.keys(CUDA_PACK_PINS.packages).map((name) => [name, { version: lock.packages[`node_modules/${name}`].version, integrity: lock.packages[`node_modules/${name}`].integrity }]),
      ),
    };
    // On failure: node-llama-cpp was updated; copy these into cudaPackPins.ts.
    expect(CUDA_PACK_PINS, JSON.stringify(fromLock, null, 2)).toEqual(fromLock);
    expect(tarballUrl(cudaPackPackages('linux', 'x64')[0])).toBe(`https://registry.npmjs.org/@node-llama-cpp/linux-x64-cuda/-/linux-x64-cuda-${fromLock.nodeLlamaCpp}.tgz`);
    expect(cudaPackPackages('win32', 'x64').map((p) => p.name)).toEqual(['@node-llama-cpp/win-x64-cuda', '@node-llama-cpp/win-x64-cuda-ext']);
    expect(cudaPackPackages('darwin', 'arm64')).toEqual([]);
    expect(cudaPackPackages('linux', 'arm64')).toEqual([]);
  });

  it('fetches each package with progress, checks it and unpacks it under <data>/runtimes/<version>', async () => {
    const dataDir = newDataDir();
    const empty = fs.mkdtempSync(path.join(tmp, 'nm-'));
    expect(cudaPackStatus({ dataDir, nodeModulesDir: empty, platform: 'linux', arch: 'x64' })).toBe('missing');
    expect(cudaPackEnv(dataDir)).toEqual({});
    const events: CudaPackProgress[] = [];
    const dir = await fetchCudaPack({ dataDir, registry: registry.url, packages, onProgress: (p) => events.push(p) });

    expect(dir).toBe(path.join(dataDir, 'runtimes', CUDA_PACK_PINS.nodeLlamaCpp));
    for (const [i, p] of packages.entries()) {
      const downloads = events.filter((e) => e.name === p.name && e.phase === 'download');
      expect(downloads.length).toBeGreaterThan(2);
      expect(downloads.every((e) => e.index === i + 1 && e.count === packages.length && e.totalBytes === tarballs[i].length)).toBe(true);
      expect(downloads.map((e) => e.receivedBytes)).toEqual([...downloads.map((e) => e.receivedBytes)].sort((a, b) => a - b));
      expect(downloads.at(-1)!.receivedBytes).toBe(tarballs[i].length);
      expect(events.some((e) => e.name === p.name && e.phase === 'unpack')).toBe(true);
      expect(JSON.parse(fs.readFileSync(path.join(installed(dataDir, p.name), 'package.json'), 'utf8'))).toMatchObject({ name: p.name });
      expect(fs.statSync(path.join(installed(dataDir, p.name), 'bins', 'filler.bin')).size).toBe(300_000);
    }
    // Only the packages remain: no tarball, no staging folder.
    expect(fs.readdirSync(dir)).toEqual(['node_modules']);
    // The status is per package list; the real pins' names on this platform are the fakes' names.
    if (cudaPackPackages().length) expect(cudaPackStatus({ dataDir, nodeModulesDir: empty })).toBe('installed');
    expect(cudaPackEnv(dataDir)).toEqual({ LOADOUT_LLAMA_RUNTIME_DIR: dir });
    // Fetched once: a second call finds everything installed and downloads nothing.
    const requests = registry.ranges.length;
    await fetchCudaPack({ dataDir, registry: registry.url, packages });
    expect(registry.ranges.length).toBe(requests);
  });

  it('refuses a tarball that does not match the lock’s sha512, keeps nothing of it, and a clean retry installs it', async () => {
    const dataDir = newDataDir();
    registry.next = ['tamper'];
    const err = await fetchCudaPack({ dataDir, registry: registry.url, packages }).catch((e: unknown) => e);
    expect(err).toBeInstanceOf(DownloadError);
    expect((err as DownloadError).toData()).toMatchObject({ code: 'checksum_mismatch', retryable: true });
    expect((err as Error).message).toMatch(/does not match package-lock\.json's checksum \(sha512 .+, got .+\), so it was deleted and not installed/);
    expect(fs.existsSync(installed(dataDir, packages[0].name))).toBe(false);
    expect(fs.readdirSync(path.join(runtimeDir(dataDir), '.download'))).toEqual([]);
    expect(cudaPackEnv(dataDir)).toEqual({});

    const before = registry.ranges.length;
    await fetchCudaPack({ dataDir, registry: registry.url, packages });
    // The retry started from the first byte, not from the deleted tampered file.
    expect(registry.ranges[before]).toBe('');
    for (const p of packages) expect(fs.existsSync(path.join(installed(dataDir, p.name), 'package.json'))).toBe(true);
  });

  it('a dropped connection is resumed with a range request from where it stopped', async () => {
    const dataDir = newDataDir();
    const before = registry.ranges.length;
    registry.next = ['drop-half'];
    const events: CudaPackProgress[] = [];
    await fetchCudaPack({ dataDir, registry: registry.url, packages, onProgress: (e) => events.push(e) });
    const [first, resumed] = registry.ranges.slice(before);
    expect(first).toBe('');
    const from = Number(/^bytes=(\d+)-$/.exec(resumed)?.[1]);
    expect(from).toBeGreaterThan(0);
    expect(from).toBeLessThan(tarballs[0].length);
    // Progress never went back to 0 for the resumed package.
    const firstPackage = events.filter((e) => e.name === packages[0].name && e.phase === 'download').map((e) => e.receivedBytes);
    expect(firstPackage).toEqual([...firstPackage].sort((a, b) => a - b));
    for (const p of packages) expect(fs.existsSync(path.join(installed(dataDir, p.name), 'package.json'))).toBe(true);
  });

  it('the trigger: gpu cuda or auto, CUDA supported by the driver, binaries missing', () => {
    expect(cudaPackNeeded('auto', ['cuda', 'vulkan', false], 'missing')).toBe(true);
    expect(cudaPackNeeded('cuda', ['cuda', false], 'missing')).toBe(true);
    expect(cudaPackNeeded('vulkan', ['cuda', 'vulkan', false], 'missing')).toBe(false);
    expect(cudaPackNeeded('cpu', ['cuda', false], 'missing')).toBe(false);
    expect(cudaPackNeeded('auto', ['vulkan', false], 'missing')).toBe(false);
    for (const status of ['none', 'bundled', 'installed'] as const) expect(cudaPackNeeded('auto', ['cuda', false], status)).toBe(false);
    // A checkout has them from npm; a platform without a CUDA build has none to fetch.
    if (cudaPackPackages().length) expect(cudaPackStatus({ dataDir: newDataDir(), nodeModulesDir: path.join(root, 'node_modules') })).toBe('bundled');
    expect(cudaPackStatus({ dataDir: newDataDir(), nodeModulesDir: path.join(root, 'node_modules'), platform: 'darwin', arch: 'arm64' })).toBe('none');
  });

  it('ensureCudaPack fetches only when the trigger says so, once', async () => {
    const dataDir = newDataDir();
    const o = { dataDir, registry: registry.url, packages, nodeModulesDir: fs.mkdtempSync(path.join(tmp, 'nm-')), platform: 'linux' as const, arch: 'x64' };
    expect(await ensureCudaPack({ ...o, gpu: 'auto', supportedGpuTypes: ['vulkan', false] })).toBe(false);
    expect(await ensureCudaPack({ ...o, gpu: 'cpu', supportedGpuTypes: ['cuda', false] })).toBe(false);
    expect(fs.existsSync(runtimeDir(dataDir))).toBe(false);
    expect(await ensureCudaPack({ ...o, gpu: 'auto', supportedGpuTypes: ['cuda', 'vulkan', false] })).toBe(true);
    expect(cudaPackStatus(o)).toBe('installed');
    expect(await ensureCudaPack({ ...o, gpu: 'auto', supportedGpuTypes: ['cuda', 'vulkan', false] })).toBe(false);
  });
});

describe('V14 the built-in backend finds the pack', () => {
  /** The backend's probe with `gpu: cuda`: node-llama-cpp then imports this platform's CUDA package. */
  function probe(env: Record<string, string>): Promise<{ code: number | null; out: string; err: string }> {
    return new Promise((resolve) => {
      const child = spawn(process.execPath, [...NODE_ARGS, '--probe'], { cwd: root, env: { ...process.env, LOADOUT_GPU: 'cuda', ...env }, stdio: ['ignore', 'pipe', 'pipe'] });
      let out = '';
      let err = '';
      child.stdout.on('data', (d: Buffer) => (out += d.toString()));
      child.stderr.on('data', (d: Buffer) => (err += d.toString()));
      child.on('exit', (code) => resolve({ code, out, err }));
    });
  }

  it.skipIf(cudaPackPackages().length === 0)('imports @node-llama-cpp/<platform>-x64-cuda from <data>/runtimes through the resolution hook', async () => {
    const dataDir = newDataDir();
    await fetchCudaPack({ dataDir, registry: registry.url, packages });
    const marker = path.join(installed(dataDir, names[0]), 'imported');

    // Without the core's variable nothing is registered.
    expect(registerRuntimeDirHook({})).toEqual([]);

    const hooked = await probe(cudaPackEnv(dataDir));
    expect(hooked.code, hooked.err).toBe(0);
    expect(hooked.err).toContain(`${names.join(', ')} from ${runtimeDir(dataDir)}`);
    expect(fs.existsSync(marker)).toBe(true);
    // The fake has no binary, so node-llama-cpp found no working CUDA build and the CPU runs, saying why.
    expect(JSON.parse(hooked.out.trim().split('\n').pop()!)).toMatchObject({
      requested: 'cuda',
      used: false,
      fallbackReason: expect.stringMatching(/^cuda could not be used/),
      // What the trigger reads: the GPU types whose drivers are found, binaries or not (the CPU always).
      supportedGpuTypes: expect.arrayContaining([false]),
    });
  }, 90_000);
});
