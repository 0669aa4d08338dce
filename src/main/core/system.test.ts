import os from 'node:os';
import { describe, expect, it } from 'vitest';
import { physicalCores, physicalCoresFromCpuinfo, systemMemoryUsedFraction, usedFractionFromMeminfo, usedFractionFromVmStat } from './system';

// Captured from a 16 GB Apple silicon Mac (16 KiB pages).
const VM_STAT = `Mach Virtual Memory Statistics: (page size of 16384 bytes)
Pages free:                                6000.
Pages active:                            300000.
Pages inactive:                          290000.
Pages speculative:                         4000.
Pages throttled:                              0.
Pages wired down:                        150000.
Pages purgeable:                          10000.
"Translation faults":                 123456789.
Pages copy-on-write:                    1234567.
Pages occupied by compressor:            200000.
`;

describe('machine facts on each desktop OS', () => {
  it('R6: physical cores are distinct (socket, core) pairs of /proc/cpuinfo; hyperthreads count once', () => {
    const cpu = (physical: number, core: number) => `processor\t: x\nphysical id\t: ${physical}\ncore id\t\t: ${core}\n\n`;
    const info = [cpu(0, 0), cpu(0, 1), cpu(0, 0), cpu(0, 1), cpu(1, 0), cpu(1, 1), cpu(1, 0), cpu(1, 1)].join('');
    expect(physicalCoresFromCpuinfo(info)).toBe(4);
    // A VM that lists no core ids: unknown, and the logical count stands in.
    expect(physicalCoresFromCpuinfo('processor\t: 0\n')).toBeNull();
    expect(physicalCores('win32')).toBe(Math.max(1, os.cpus().length));
  });

  it('W3: Linux counts MemAvailable (reclaimable cache) as free', () => {
    expect(usedFractionFromMeminfo('MemTotal:       16000000 kB\nMemFree:  1000000 kB\nMemAvailable:   12000000 kB\n')).toBeCloseTo(0.25);
    expect(usedFractionFromMeminfo('MemTotal: 16000000 kB\n')).toBeNull();
    expect(usedFractionFromMeminfo(null)).toBeNull();
  });

  it('W3: macOS counts free, speculative and inactive pages as available (not free pages alone)', () => {
    const total = 16 * 1024 ** 3;
    const available = (6000 + 4000 + 290000) * 16384;
    expect(usedFractionFromVmStat(VM_STAT, total)).toBeCloseTo(1 - available / total);
    // Free pages alone would say 99% in use and make the reclaimer unload models for nothing.
    expect(usedFractionFromVmStat(VM_STAT, total)!).toBeLessThan(0.75);
    expect(usedFractionFromVmStat('vm_stat: command not found', total)).toBeNull();
  });

  it('W3: Windows takes the OS figure (available memory); Linux reads /proc', () => {
    const win = systemMemoryUsedFraction('win32')!;
    expect(win).toBeGreaterThan(0);
    expect(win).toBeLessThan(1);
    if (process.platform === 'linux') {
      const linux = systemMemoryUsedFraction('linux')!;
      expect(linux).toBeGreaterThan(0);
      expect(linux).toBeLessThan(1);
    }
  });
});
