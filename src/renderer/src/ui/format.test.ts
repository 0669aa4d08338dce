import { describe, expect, it } from 'vitest';
import { formatAgo, formatBytes, formatCount, formatDuration } from './format';

describe('GUI formatting', () => {
  it('sizes, counts and durations read at a glance', () => {
    expect(formatBytes(null)).toBe('-');
    expect(formatBytes(512)).toBe('512 B');
    expect(formatBytes(1536)).toBe('1.50 KB');
    expect(formatBytes(99 * 1024 ** 2)).toBe('99.0 MB');
    expect(formatBytes(17.3 * 1024 ** 3)).toBe('17.3 GB');
    expect(formatCount(15_200_000)).toBe('15.2M');
    expect(formatCount(30_500_000_000)).toBe('30.5B');
    expect(formatCount(42)).toBe('42');
    expect(formatDuration(4200)).toBe('4.2 s');
    expect(formatDuration(185_000)).toBe('3 min 05 s');
    expect(formatDuration(7_800_000)).toBe('2 h 10 min');
  });

  it('relative times', () => {
    const now = Date.parse('2026-11-27T12:00:00Z');
    expect(formatAgo(null, now)).toBe('never');
    expect(formatAgo('2026-11-27T11:59:59Z', now)).toBe('just now');
    expect(formatAgo('2026-11-27T11:59:30Z', now)).toBe('30 s ago');
    expect(formatAgo('2026-11-27T11:45:00Z', now)).toBe('15 min ago');
    expect(formatAgo('2026-11-27T09:00:00Z', now)).toBe('3 h ago');
  });
});
