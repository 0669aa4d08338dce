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
    .replace(/\bgpu\b/gi, 'GPU')
    .replace(/\bnats\b/gi, 'NATS')
    .replace(/\burl\b/gi, 'URL');

/**
 * A size as its field shows it: "1GB", "1536MB", in the largest unit that keeps it whole (all
 * x1024, clarification 10), so nobody reads 1073741824; the core parses it back to the same bytes.
 */
export function sizeText(bytes: number): string {
  for (const [unit, n] of [['TB', 1024 ** 4], ['GB', 1024 ** 3], ['MB', 1024 ** 2], ['KB', 1024]] as const) {
    if (bytes > 0 && bytes % n === 0) return `${bytes / n}${unit}`;
  }
  return String(bytes);
}

/** A size or fraction as the user reads it next to the field: "= 6.00 GB", "= 95%" (a size typed with its unit needs none). */
export function valueHint(k: Key, value: string | boolean): string {
  const kind = SETTINGS_SCHEMA[k].kind;
  if (kind !== 'size' && kind !== 'fraction') return '';
  if (kind === 'size' && /[a-z]\s*$/i.test(String(value))) return '';
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

