import { describe, expect, it } from 'vitest';
import { parseModelConfig } from '../catalog/parseConfig';
import { ALL_LAYERS, builtinModelOptions, externalModelOptions, type GpuConfigKeys } from './configKeys';

describe('V13 config keys for external backends (ModelOptions)', () => {
  const defaults = { NGPULayers: ALL_LAYERS, MainGPU: '', TensorSplit: '', MMap: true, MLock: false, FlashAttention: '', NoKVOffload: false };
  it.each<[string, GpuConfigKeys, 'auto' | 'cpu', Partial<typeof defaults>]>([
    ['nothing set: all layers, mmap on', {}, 'auto', {}],
    ['gpu_layers -1 is all layers', { gpu_layers: -1 }, 'auto', {}],
    ['gpu_layers N', { gpu_layers: 20 }, 'auto', { NGPULayers: 20 }],
    ['gpu_layers 0', { gpu_layers: 0 }, 'auto', { NGPULayers: 0 }],
    ['gpu: cpu wins over gpu_layers', { gpu_layers: 20 }, 'cpu', { NGPULayers: 0 }],
    ['mmap off, mmlock on', { mmap: false, mmlock: true }, 'auto', { MMap: false, MLock: true }],
    ['flash_attention true', { flash_attention: true }, 'auto', { FlashAttention: 'on' }],
    ['flash_attention false', { flash_attention: false }, 'auto', { FlashAttention: 'off' }],
    ['flash_attention "auto" passes through', { flash_attention: 'auto' }, 'auto', { FlashAttention: 'auto' }],
    ['main_gpu, tensor_split, no_kv_offloading', { main_gpu: '1', tensor_split: '3,1', no_kv_offloading: true }, 'auto', { MainGPU: '1', TensorSplit: '3,1', NoKVOffload: true }],
  ])('%s', (_what, keys, gpu, expected) => {
    expect(externalModelOptions(keys, gpu)).toEqual({ ...defaults, ...expected });
  });
});

describe('V13 config keys for the built-in backend (node-llama-cpp)', () => {
  it.each<[string, GpuConfigKeys, object, RegExp[]]>([
    ['nothing set', {}, { gpuLayers: 7, useMmap: true, useMlock: false }, []],
    ['mmap and mmlock', { mmap: false, mmlock: true }, { useMmap: false, useMlock: true }, []],
    ['flash_attention on', { flash_attention: 'on' }, { defaultContextFlashAttention: true }, []],
    ['flash_attention false', { flash_attention: false }, { defaultContextFlashAttention: false }, []],
    ['flash_attention auto', { flash_attention: 'auto' }, { defaultContextFlashAttention: 'auto' }, []],
    ['flash_attention nonsense is a warning', { flash_attention: 'fast' }, {}, [/flash_attention "fast" is not one of/]],
    ['main_gpu is a warning', { main_gpu: '1' }, {}, [/^main_gpu is not used by the built-in backend .*external backends get it/]],
    ['tensor_split is a warning', { tensor_split: '1,1' }, {}, [/^tensor_split is not used/]],
    ['no_kv_offloading is a warning', { no_kv_offloading: true }, {}, [/^no_kv_offloading is not used/]],
    ['no_kv_offloading false is no warning', { no_kv_offloading: false }, {}, []],
  ])('%s', (_what, keys, options, warnings) => {
    const r = builtinModelOptions(keys, 7);
    expect(r.options).toMatchObject({ gpuLayers: 7, ...options });
    expect(r.warnings).toHaveLength(warnings.length);
    warnings.forEach((w, i) => expect(r.warnings[i]).toMatch(w));
  });

  it('the layer count is always the one the core decided, never "auto"', () => {
    expect(builtinModelOptions({ gpu_layers: -1 }, 12).options.gpuLayers).toBe(12);
  });
});

describe('V13 from a LocalAI YAML to both backends', () => {
  it('the catalog reads every GPU key, and each reaches its field or a warning', () => {
    const yaml = ['name: m', 'parameters: {model: m.gguf}', 'gpu_layers: 20', 'mmap: false', 'mmlock: true', 'flash_attention: true', 'main_gpu: "1"', 'tensor_split: "3,1"', 'no_kv_offloading: yes', ''].join('\n');
    const { config, problems } = parseModelConfig(yaml, 'm.yaml', 'm');
    expect(problems).toEqual([]);
    expect(externalModelOptions(config, 'auto')).toEqual({ NGPULayers: 20, MainGPU: '1', TensorSplit: '3,1', MMap: false, MLock: true, FlashAttention: 'on', NoKVOffload: true });
    const builtin = builtinModelOptions(config, 20);
    expect(builtin.options).toEqual({ gpuLayers: 20, useMmap: false, useMlock: true, defaultContextFlashAttention: true });
    expect(builtin.warnings.map((w) => w.split(' ')[0])).toEqual(['main_gpu', 'tensor_split', 'no_kv_offloading']);
  });

  it('flash_attention "auto" stays text; a wrong type is a problem naming the key', () => {
    expect(parseModelConfig('name: m\nflash_attention: auto\n', 'm.yaml', 'm').config.flash_attention).toBe('auto');
    expect(parseModelConfig('name: m\nmmlock: [1]\n', 'm.yaml', 'm').problems[0]).toMatch(/mmlock must be/);
  });
});
