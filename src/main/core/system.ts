/**
 * Facts about the machine the core needs: physical cores (R6) and memory in use (W3), on each
 * desktop OS. Linux reads /proc; macOS asks sysctl and vm_stat; Windows' own figure is right as
 * Node gives it (os.freemem is GlobalMemoryStatusEx's available memory, standby pages included).
 */
import { execFile, execFileSync } from 'node:child_process';
import { readFileSync } from 'node:fs';
import os from 'node:os';

/** Physical cores (hyperthreads share one core's execution units, so llama.cpp counts cores). */
export function physicalCores(platform: NodeJS.Platform = process.platform): number {
  if (platform === 'linux') {
    const cores = physicalCoresFromCpuinfo(readText('/proc/cpuinfo'));
    if (cores) return cores;
  }
  if (platform === 'darwin') {
    try {
      const n = Number(execFileSync('sysctl', ['-n', 'hw.physicalcpu'], { encoding: 'utf8', timeout: 2000 }).trim());
      if (Number.isInteger(n) && n > 0) return n;
    } catch {
      // fall through to the logical count
    }
  }
  // Windows: only logical processors without a slow WMI query; llama.cpp's own default is the same.
  return Math.max(1, os.cpus().length);
}

/** Distinct (physical id, core id) pairs in /proc/cpuinfo, or null if it lists none. */
export function physicalCoresFromCpuinfo(info: string | null): number | null {
  if (!info) return null;
  const cores = new Set<string>();
  let physical = '0';
  for (const line of info.split('\n')) {
    const [key, value] = line.split(':').map((s) => s?.trim());
    if (key === 'physical id') physical = value;
    if (key === 'core id') cores.add(`${physical}:${value}`);
  }
  return cores.size > 0 ? cores.size : null;
}

/** Fraction of memory in use from /proc/meminfo, counting reclaimable cache as free; null if unreadable. */
export function usedFractionFromMeminfo(info: string | null): number | null {
  if (!info) return null;
  const get = (k: string) => Number(new RegExp(`^${k}:\\s+(\\d+)`, 'm').exec(info)?.[1] ?? NaN);
  const total = get('MemTotal');
  const available = get('MemAvailable');
  return total > 0 && available >= 0 ? 1 - available / total : null;
}

/**
 * Fraction of memory in use from macOS's `vm_stat`: free, speculative and inactive pages are
 * available (the kernel hands inactive pages out without swapping); null if the text is not vm_stat's.
 * os.freemem on macOS counts only free pages, so a busy Mac always looks nearly full.
 */
export function usedFractionFromVmStat(text: string, totalBytes: number): number | null {
  const pageSize = Number(/page size of (\d+) bytes/.exec(text)?.[1] ?? NaN);
  const pages = (name: string) => Number(new RegExp(`^Pages ${name}:\\s+(\\d+)`, 'm').exec(text)?.[1] ?? NaN);
  const available = (pages('free') + pages('speculative') + pages('inactive')) * pageSize;
  if (!(pageSize > 0) || !Number.isFinite(available) || !(totalBytes > 0)) return null;
  return Math.min(1, Math.max(0, 1 - available / totalBytes));
}

/** macOS: the last vm_stat answer (asked asynchronously, at most once per interval). */
let vmStat: { fraction: number | null; at: number; asking: boolean } = { fraction: null, at: -Infinity, asking: false };
const VM_STAT_MAX_AGE_MS = 2000;

function askVmStat(): void {
  if (vmStat.asking || Date.now() - vmStat.at < VM_STAT_MAX_AGE_MS) return;
  vmStat.asking = true;
  execFile('vm_stat', { encoding: 'utf8', timeout: 2000 }, (err, stdout) => {
    vmStat = { fraction: err ? null : usedFractionFromVmStat(stdout, os.totalmem()), at: Date.now(), asking: false };
  });
}

/**
 * Fraction of system memory in use, counting reclaimable cache as free. On macOS null (unknown,
 * so the reclaimer waits) until the first vm_stat answer: free pages alone would read as full.
 */
export function systemMemoryUsedFraction(platform: NodeJS.Platform = process.platform): number | null {
  if (platform === 'linux') {
    const fraction = usedFractionFromMeminfo(readText('/proc/meminfo'));
    if (fraction !== null) return fraction;
  }
  if (platform === 'darwin') {
    askVmStat();
    return vmStat.fraction;
  }
  return 1 - os.freemem() / os.totalmem();
}

function readText(path: string): string | null {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return null;
  }
}
