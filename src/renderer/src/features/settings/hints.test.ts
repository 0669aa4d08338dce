/** V12: the GPU settings read as the user thinks of them: labels in capitals, sizes in GB. */
import { describe, expect, it } from 'vitest';
import type { GpuDevice } from '../../../../shared/model';
import { coerceSetting } from '../../../../shared/settings';
import { autoVramBudget, label, sizeText, valueHint } from './hints';

const GB = 1024 ** 3;
const cuda: GpuDevice = { type: 'cuda', names: ['RTX 4090'], totalBytes: 24 * GB, freeBytes: 20 * GB, usedByLoadoutBytes: 0, unified: false };

describe('V12: settings hints', () => {
  it('labels name VRAM and GPU in capitals', () => {
    expect(label('vram_budget')).toBe('VRAM budget');
    expect(label('vram_reclaimer')).toBe('VRAM reclaimer');
    expect(label('gpu')).toBe('GPU');
    expect(label('cluster_nats_url')).toBe('Cluster NATS URL');
    expect(label('api_lan')).toBe('API LAN');
  });

  it('a size field holds it in the largest whole unit, which reads back as the same bytes', () => {
    for (const [bytes, text] of [[GB, '1GB'], [1.5 * GB, '1536MB'], [1024 ** 2, '1MB'], [1000, '1000'], [0, '0'], [2 * 1024 ** 4, '2TB']] as const) {
      expect(sizeText(bytes)).toBe(text);
      expect(coerceSetting('vram_budget', text)).toEqual({ ok: true, value: bytes });
    }
  });

  it('sizes typed in bytes show in GB (x1024), fractions in percent', () => {
    expect(valueHint('vram_reserve', String(GB))).toBe(' = 1.00 GB');
    expect(valueHint('vram_budget', '6GB')).toBe('');
    expect(valueHint('vram_threshold', '0.95')).toBe(' = 95%');
    expect(valueHint('vram_budget', '0')).toBe('');
    expect(valueHint('vram_budget', 'lots')).toBe('');
    expect(valueHint('max_active_models', '3')).toBe('');
  });

  it('a VRAM budget of 0 says what auto comes to on the GPUs found', () => {
    expect(autoVramBudget([cuda], '0', String(GB))).toBe(' (now 23.0 GB on CUDA)');
    expect(autoVramBudget([cuda], '0', '2GB')).toBe(' (now 22.0 GB on CUDA)');
    expect(autoVramBudget([cuda], '8GB', String(GB))).toBe('');
    expect(autoVramBudget([], '0', String(GB))).toBe('');
    expect(autoVramBudget(null, '0', String(GB))).toBe('');
  });
});
