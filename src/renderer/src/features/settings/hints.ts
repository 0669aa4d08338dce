/** The words around a setting's field: its label and what its value comes to (pure, tested). */
import type { GpuDevice, Settings } from '../../../../shared/model';
import { GPU_TYPE_LABEL, formatVram } from '../../../../shared/gpu';
import { SETTINGS_SCHEMA, coerceSetting } from '../../../../shared/settings';
import { formatBytes } from '../../ui/format';

type Key = keyof Settings;

export const label = (k: string) =>
  (k.charAt(0).toUpperCase() + k.slice(1))
    .replace(/_/g, ' ')
    .replace(/\bapi\b/gi, 'API')
    .replace(/\blan\b/gi, 'LAN')
    .replace(/\bvram\b/gi, 'VRAM')
    .replace(/\bgpu\b/gi, 'GPU');

/** A size or fraction as the user reads it next to the field: "= 6.0 GB", "= 95%" (clarification 10). */
export function valueHint(k: Key, value: string | boolean): string {
  const kind = SETTINGS_SCHEMA[k].kind;
  if (kind !== 'size' && kind !== 'fraction') return '';
  const r = coerceSetting(k, value);
  if (!r.ok || typeof r.value !== 'number' || r.value <= 0) return '';
  return kind === 'size' ? ` = ${formatBytes(r.value)}` : ` = ${Math.round(r.value * 1000) / 10}%`;
}

/** What a VRAM budget of 0 (auto) comes to on this machine's GPUs: total VRAM minus the reserve. */
export function autoVramBudget(gpus: GpuDevice[] | null, budget: string | boolean, reserve: string | boolean): string {
  const b = coerceSetting('vram_budget', budget);
  const r = coerceSetting('vram_reserve', reserve);
  if (!gpus || gpus.length === 0 || !b.ok || b.value !== 0 || !r.ok) return '';
  return ` (now ${gpus.map((d) => `${formatVram(Math.max(0, d.totalBytes - Number(r.value)))} on ${GPU_TYPE_LABEL[d.type]}`).join(', ')})`;
}

