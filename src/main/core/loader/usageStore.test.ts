import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { FakeClock } from '../clock';
import { UsageStore } from './usageStore';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});
function tmp(): string {
  const d = mkdtempSync(join(os.tmpdir(), 'loadout-usage-'));
  dirs.push(d);
  return d;
}

describe('Trust 17: the LRU order survives a restart', () => {
  it('keeps last uses in the data dir, written once per burst and on flush, and reads them back', () => {
    const dir = tmp();
    const file = join(dir, 'lru.json');
    const clock = new FakeClock();
    const a = new UsageStore({ file, clock });
    a.note('x', 1_000);
    a.note('y', 2_000);
    expect(readdirSync(dir)).toEqual([]);
    clock.advance(2_000);
    expect(JSON.parse(readFileSync(file, 'utf8')).lastUsed).toEqual({ y: 2_000, x: 1_000 });
    a.note('x', 3_000);
    a.flush();
    expect(readdirSync(dir)).toEqual(['lru.json']); // no temp file left
    expect([...new UsageStore({ file, clock }).restored()]).toEqual([['x', 3_000], ['y', 2_000]]);
  });

  it('is bounded: only the most recently used models are kept', () => {
    const file = join(tmp(), 'lru.json');
    const store = new UsageStore({ file, clock: new FakeClock(), limit: 2 });
    for (let i = 1; i <= 5; i++) store.note(`m${i}`, i * 1_000);
    store.flush();
    expect(Object.keys(JSON.parse(readFileSync(file, 'utf8')).lastUsed)).toEqual(['m5', 'm4']);
  });

  it('an unreadable file is reported and the order starts empty; nothing else breaks', () => {
    const file = join(tmp(), 'lru.json');
    writeFileSync(file, '{"lastUsed": {"a": 5,');
    const notices: string[] = [];
    const store = new UsageStore({ file, clock: new FakeClock(), notice: (n) => notices.push(n) });
    expect([...store.restored()]).toEqual([]);
    expect(notices[0]).toContain('could not be read');
    writeFileSync(file, JSON.stringify({ lastUsed: { a: 5, b: 'x', c: -1 } }));
    expect([...new UsageStore({ file, clock: new FakeClock() }).restored()]).toEqual([['a', 5]]);
  });
});
