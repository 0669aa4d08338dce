/** Facts about the machine the core needs: physical cores (R6) and memory in use (W3). */
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Physical cores (hyperthreads share one core's execution units, so llama.cpp counts cores). */
export function physicalCores(): number {
  try {
    const info = readFileSync('/proc/cpuinfo', 'utf8');
    const cores = new Set<string>();
    let physical = '0';
    for (const line of info.split('\n')) {
      const [key, value] = line.split(':').map((s) => s?.trim());
      if (key === 'physical id') physical = value;
      if (key === 'core id') cores.add(`${physical}:${value}`);
    }
    if (cores.size > 0) return cores.size;
  } catch {
    // Not Linux: fall through.
  }
  return Math.max(1, os.cpus().length);
}

/** Fraction of system memory in use, counting reclaimable cache as free. */
export function systemMemoryUsedFraction(): number {
  try {
    const info = readFileSync('/proc/meminfo', 'utf8');
    const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
    const total = get('MemTotal');
    const available = get('MemAvailable');
    if (total > 0 && available >= 0) return 1 - available / total;
  } catch {
    // Not Linux.
  }
  return 1 - os.freemem() / os.totalmem();
}
