/** Trust 17: histories (journal, request log) survive a restart, bounded. */
import { appendFileSync, mkdtempSync, readFileSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { Journal } from '../journal';
import { BoundedLog } from './boundedLog';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'loadout-history-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const isN = (v: unknown): v is { n: number } => typeof (v as { n?: unknown })?.n === 'number';
const fileLines = (file: string) => readFileSync(file, 'utf8').split('\n').filter(Boolean).length;

describe('BoundedLog', () => {
  it('what was added is there after a restart, oldest first', () => {
    const file = join(dir, 'h.jsonl');
    const a = new BoundedLog({ file, limit: 10, isEntry: isN });
    for (let n = 0; n < 3; n++) a.add({ n });
    expect(new BoundedLog({ file, limit: 10, isEntry: isN }).list()).toEqual([{ n: 0 }, { n: 1 }, { n: 2 }]);
  });

  it('memory keeps the last `limit`; the file never grows past twice that and keeps the newest', () => {
    const file = join(dir, 'h.jsonl');
    const log = new BoundedLog({ file, limit: 10, isEntry: isN });
    for (let n = 0; n < 95; n++) {
      log.add({ n });
      expect(fileLines(file)).toBeLessThanOrEqual(20);
    }
    expect(log.list().map((e) => e.n)).toEqual([85, 86, 87, 88, 89, 90, 91, 92, 93, 94]);
    expect(new BoundedLog({ file, limit: 10, isEntry: isN }).list()).toEqual(log.list());
    // A restart with a smaller limit reads only what it keeps.
    expect(new BoundedLog({ file, limit: 3, isEntry: isN }).list().map((e) => e.n)).toEqual([92, 93, 94]);
  });

  it('a torn or foreign line is skipped, and the next entry starts on its own line', () => {
    const file = join(dir, 'h.jsonl');
    new BoundedLog({ file, limit: 10, isEntry: isN }).add({ n: 1 });
    appendFileSync(file, '{"x": 1}\n{"n": 2, "to');
    const log = new BoundedLog({ file, limit: 10, isEntry: isN });
    expect(log.list()).toEqual([{ n: 1 }]);
    log.add({ n: 3 });
    expect(new BoundedLog({ file, limit: 10, isEntry: isN }).list()).toEqual([{ n: 1 }, { n: 3 }]);
  });

  it('an unwritable place loses history, never the caller', () => {
    const log = new BoundedLog({ file: join(dir, 'no', 'such', 'folder', 'h.jsonl'), limit: 2, isEntry: isN });
    expect(() => log.add({ n: 1 })).not.toThrow();
    expect(log.list()).toEqual([{ n: 1 }]);
  });
});

describe('Journal', () => {
  it('E2: the eviction journal survives a restart', () => {
    const file = join(dir, 'journal.jsonl');
    new Journal({ file }).add({ at: '2026-01-01T00:00:00.000Z', model: 'a', reason: 'lru', sentence: 'unloaded a: least recently used', by: 'b' });
    const again = new Journal({ file });
    expect(again.list()).toEqual([{ at: '2026-01-01T00:00:00.000Z', model: 'a', reason: 'lru', sentence: 'unloaded a: least recently used', by: 'b' }]);
    expect(again.list('b')).toEqual([]);
  });
});
