import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { BackendRegistry } from '../registry';
import { LlamaLogMemory, llamaServerArgs } from './args';
import { devicesOf, isFasterThanBuiltin, locateLlamaServer } from './locate';

let dir: string;
beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'loadout-locate-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

function exe(path: string): string {
  mkdirSync(join(path, '..'), { recursive: true });
  writeFileSync(path, '#!/bin/sh\n');
  chmodSync(path, 0o755);
  return path;
}

describe.skipIf(process.platform === 'win32')('finding llama-server (Engine 1)', () => {
  it('the setting wins, then PATH, then the newest built version; none says how to get one', () => {
    const data = join(dir, 'data');
    const env = { PATH: join(dir, 'bin') };
    expect(locateLlamaServer({ configured: '', dataDir: data, env }).found).toBeNull();
    const none = locateLlamaServer({ configured: '', dataDir: data, env });
    expect(!none.found && none.why).toContain('npm run build-llama-server');
    exe(join(data, 'llama-server', 'b1', 'llama-server'));
    const newest = exe(join(data, 'llama-server', 'b2', 'llama-server'));
    expect(locateLlamaServer({ configured: '', dataDir: data, env }).found).toEqual({ path: newest, source: 'built' });
    const onPath = exe(join(dir, 'bin', 'llama-server'));
    expect(locateLlamaServer({ configured: '', dataDir: data, env }).found).toEqual({ path: onPath, source: 'path' });
    const set = exe(join(dir, 'mine', 'llama-server'));
    expect(locateLlamaServer({ configured: set, dataDir: data, env }).found).toEqual({ path: set, source: 'setting' });
    const bad = locateLlamaServer({ configured: join(dir, 'nope'), dataDir: data, env });
    expect(!bad.found && bad.why).toContain('llama_server_path');
  });

  it('backend: llama-server resolves to it in any case; the name cannot be taken by an external backend', () => {
    const reg = new BackendRegistry({ dataDir: null, locateLlamaServer: () => ({ found: null, why: 'none' }) });
    expect(reg.resolve('Llama-Server')).toMatchObject({ kind: 'llama-server', name: 'llama-server' });
    expect(() => reg.add({ name: 'llama-server', target: exe(join(dir, 'x')) })).toThrow(/llama_server_path/);
  });

  it('clarification 9: faster only on the same kind of device as the built-in engine', () => {
    const cpuOnly = devicesOf('Available devices:\n  (none)\n');
    const cuda = devicesOf('ggml_cuda_init: found 1 CUDA devices\nAvailable devices:\n  CUDA0: NVIDIA H100 (81000 MiB, 80000 MiB free)\n');
    expect(cpuOnly).toEqual([]);
    expect(cuda).toEqual(['CUDA0: NVIDIA H100 (81000 MiB, 80000 MiB free)']);
    expect(isFasterThanBuiltin({ devices: cpuOnly }, false)).toBe(true);
    expect(isFasterThanBuiltin({ devices: cpuOnly }, true)).toBe(false);
    expect(isFasterThanBuiltin({ devices: cuda }, true)).toBe(true);
    expect(isFasterThanBuiltin({ devices: cuda }, null)).toBe(false);
  });
});

describe('llama-server arguments and log', () => {
  it('VRAM is the sum of device buffers from its log, in any chunking; CPU and pinned host buffers are RAM', () => {
    const log = [
      'load_tensors:   CPU_Mapped model buffer size =    50.00 MiB',
      'load_tensors:        CUDA0 model buffer size =   100.00 MiB',
      'load_tensors:   CPU_REPACK model buffer size =    10.00 MiB',
      'llama_kv_cache:        CUDA0 KV buffer size =    16.00 MiB',
      'llama_context:  CUDA_Host  output buffer size =     0.50 MiB',
      'llama_context:      Vulkan0 compute buffer size =     4.50 MiB',
      'llama_context:        CPU compute buffer size =     9.00 MiB',
      '',
    ].join('\n');
    const m = new LlamaLogMemory();
    for (let i = 0; i < log.length; i += 7) m.push(log.slice(i, i + 7));
    expect(m.vramBytes()).toBe(120.5 * 1024 * 1024);
  });

  it('the context is per slot, as the built-in backend gives each slot the whole context', () => {
    const args = llamaServerArgs({ ModelFile: 'a.gguf', ModelPath: '/m', ContextSize: 1024, Options: ['parallel:3'], Threads: 2, NGPULayers: 0, MMap: true, FlashAttention: 'auto' }, 9000);
    const after = (f: string) => args[args.indexOf(f) + 1];
    expect([after('-m'), after('-c'), after('-np'), after('-t'), after('-ngl'), after('-fa'), after('--port')]).toEqual(['/m/a.gguf', '3072', '3', '2', '0', 'auto', '9000']);
    expect(args).not.toContain('--no-mmap');
  });
});
