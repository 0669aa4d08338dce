import { existsSync, mkdtempSync, readdirSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { LogLine } from '../../../shared/model';
import { FakeClock } from '../clock';
import { LogStore, safeFileStem } from './logs';

let dir: string;
let store: LogStore | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'loadout-logs-'));
});
afterEach(() => {
  store?.dispose();
  store = undefined;
  rmSync(dir, { recursive: true, force: true });
});

const texts = (lines: LogLine[]) => lines.map((l) => l.text);

describe('LogStore', () => {
  it('U5: keeps the last 1,000 lines per model, timestamped, oldest first', () => {
    const clock = new FakeClock(Date.UTC(2026, 0, 2, 3, 4, 5));
    store = new LogStore({ logsDir: null, clock });
    let chunk = '';
    for (let i = 0; i < 1500; i++) chunk += `line ${i}\n`;
    store.append('m', 'stdout', chunk);
    store.append('other', 'stderr', 'x\n');
    const lines = store.lines('m');
    expect(lines).toHaveLength(1000);
    expect(lines[0]).toEqual({ at: '2026-01-02T03:04:05.000Z', stream: 'stdout', text: 'line 500' });
    expect(lines[999].text).toBe('line 1499');
    expect(texts(store.lines('other'))).toEqual(['x']);
  });

  it('U5: buffers partial lines per stream until newline or flush', () => {
    store = new LogStore({ logsDir: null });
    store.append('m', 'stdout', 'hel');
    store.append('m', 'stderr', 'err-a');
    store.append('m', 'stdout', 'lo\r\nwor');
    expect(store.lines('m')).toEqual([expect.objectContaining({ stream: 'stdout', text: 'hello' })]);
    store.append('m', 'stderr', 'b\n');
    store.append('m', 'stdout', 'ld\n\ntail');
    expect(texts(store.lines('m'))).toEqual(['hello', 'err-ab', 'world', '']);
    store.flush('m');
    expect(store.lines('m').at(-1)).toEqual(expect.objectContaining({ stream: 'stdout', text: 'tail' }));
    store.flush('m'); // nothing left: no empty line
    expect(store.lines('m')).toHaveLength(5);
  });

  it('U5: a UTF-8 character split across two chunks stays whole', () => {
    store = new LogStore({ logsDir: null });
    const bytes = Buffer.from('naïve ✓\n', 'utf8');
    const cut = bytes.indexOf(0xe2) + 1; // inside the 3-byte check mark
    store.append('m', 'stdout', bytes.subarray(0, cut));
    store.append('m', 'stdout', bytes.subarray(cut));
    expect(texts(store.lines('m'))).toEqual(['naïve ✓']);
  });

  it('U5: a runaway line without newline is cut instead of growing without bound', () => {
    store = new LogStore({ logsDir: null });
    store.append('m', 'stdout', 'x'.repeat(40 * 1024));
    expect(store.lines('m').length).toBe(2);
    store.flush('m');
    expect(store.lines('m').map((l) => l.text.length).reduce((a, b) => a + b)).toBe(40 * 1024);
  });

  it('U5: loadout lines are whole lines; kept until cleared', () => {
    store = new LogStore({ logsDir: null });
    store.append('m', 'loadout', 'starting backend');
    store.append('m', 'loadout', 'two\nlines\n');
    expect(texts(store.lines('m'))).toEqual(['starting backend', 'two', 'lines']);
    store.clear('m');
    expect(store.lines('m')).toEqual([]);
  });

  it('U5: subscribers get live lines of one model or of all; unsubscribe stops them; a throwing one is isolated', () => {
    store = new LogStore({ logsDir: null });
    const one: string[] = [];
    const all: string[] = [];
    store.subscribe('m', () => {
      throw new Error('broken view');
    });
    const offOne = store.subscribe('m', (model, line) => one.push(`${model}:${line.text}`));
    const offAll = store.subscribe(null, (model, line) => all.push(`${model}:${line.text}`));
    store.append('m', 'stdout', 'a\n');
    store.append('n', 'stderr', 'b\n');
    offOne();
    store.append('m', 'stdout', 'c\n');
    offAll();
    store.append('m', 'stdout', 'd\n');
    expect(one).toEqual(['m:a']);
    expect(all).toEqual(['m:a', 'n:b', 'm:c']);
    expect(texts(store.lines('m'))).toEqual(['a', 'c', 'd']);
  });

  it('U5: writes <logsDir>/<model>.log and rotates it to .log.1 at the size limit, keeping one old file', () => {
    const logsDir = join(dir, 'logs');
    store = new LogStore({ logsDir, maxFileBytes: 400 });
    for (let i = 0; i < 30; i++) store.append('m', 'stdout', `line number ${i}\n`);
    const files = readdirSync(logsDir).sort();
    expect(files).toEqual(['m.log', 'm.log.1']);
    const current = readFileSync(join(logsDir, 'm.log'), 'utf8');
    const old = readFileSync(join(logsDir, 'm.log.1'), 'utf8');
    expect(statSync(join(logsDir, 'm.log')).size).toBeLessThanOrEqual(400);
    expect(statSync(join(logsDir, 'm.log.1')).size).toBeLessThanOrEqual(400);
    expect(current).toMatch(/^\S+Z stdout: line number \d+$/m);
    expect(current.trimEnd().split('\n').at(-1)).toMatch(/line number 29$/);
    // The old file holds the lines just before the current file's first line.
    const firstCurrent = Number(/line number (\d+)/.exec(current)![1]);
    expect(old.trimEnd().split('\n').at(-1)).toMatch(new RegExp(`line number ${firstCurrent - 1}$`));
  });

  it('U5: appends to an existing log file and counts its size', () => {
    const logsDir = join(dir, 'logs');
    store = new LogStore({ logsDir, maxFileBytes: 100 });
    store.append('m', 'stdout', 'first\n');
    store.dispose();
    store = new LogStore({ logsDir, maxFileBytes: 100 });
    store.append('m', 'stdout', 'second\n');
    expect(readFileSync(join(logsDir, 'm.log'), 'utf8')).toMatch(/first\n.*second\n$/);
    store.append('m', 'stdout', `${'y'.repeat(60)}\n`);
    expect(existsSync(join(logsDir, 'm.log.1'))).toBe(true);
  });

  it('U5: odd model names become safe, distinct file names inside the logs folder', () => {
    const logsDir = join(dir, 'logs');
    store = new LogStore({ logsDir });
    for (const name of ['../escape', 'org/model:Q4 K', 'org_model_Q4_K', '.hidden']) store.append(name, 'stdout', 'x\n');
    const files = readdirSync(logsDir);
    expect(files).toHaveLength(4);
    for (const f of files) expect(f).toMatch(/^[A-Za-z0-9_][A-Za-z0-9._-]*\.log$/);
    expect(existsSync(join(dir, 'escape.log'))).toBe(false);
    expect(safeFileStem('plain-name_1.2')).toBe('plain-name_1.2');
    expect(safeFileStem('a/b')).not.toBe(safeFileStem('a_b'));
  });

  it('U5: a log folder that cannot be written never throws; the ring still works', () => {
    const blocker = join(dir, 'not-a-dir');
    writeFileSync(blocker, '');
    store = new LogStore({ logsDir: blocker });
    expect(() => store!.append('m', 'stderr', 'still here\n')).not.toThrow();
    expect(texts(store.lines('m'))).toEqual(['still here']);
  });

  it('dispose flushes partial lines to the file and ignores later output', () => {
    const logsDir = join(dir, 'logs');
    store = new LogStore({ logsDir });
    store.append('m', 'stdout', 'partial');
    store.dispose();
    store.append('m', 'stdout', 'late\n');
    expect(readFileSync(join(logsDir, 'm.log'), 'utf8')).toMatch(/stdout: partial\n$/);
  });

  it('Trust 17: after a restart the log view starts from the files (the old one too), bounded', () => {
    const logsDir = join(dir, 'logs');
    const clock = new FakeClock(Date.UTC(2026, 0, 2, 3, 4, 5));
    store = new LogStore({ logsDir, maxFileBytes: 1000, maxLines: 20, clock });
    for (let i = 0; i < 30; i++) store.append('m', i % 2 ? 'stderr' : 'stdout', `line ${i}\n`);
    store.append('m', 'loadout', 'starting backend\n');
    const before = store.lines('m');
    store.dispose();
    expect(existsSync(join(logsDir, 'm.log.1'))).toBe(true);

    store = new LogStore({ logsDir, maxFileBytes: 1000, maxLines: 20, clock });
    expect(store.lines('m')).toEqual(before);
    expect(before[0]).toEqual({ at: '2026-01-02T03:04:05.000Z', stream: 'stderr', text: 'line 11' });
    store.append('m', 'stdout', 'after restart\n');
    expect(texts(store.lines('m')).slice(-2)).toEqual(['starting backend', 'after restart']);
    expect(store.lines('m')).toHaveLength(20);
    expect(store.lines('never-logged')).toEqual([]);
  });

  it('Trust 17: a cleared log view stays cleared after a restart; the file keeps everything', () => {
    const logsDir = join(dir, 'logs');
    store = new LogStore({ logsDir });
    store.append('m', 'stdout', 'old\n');
    store.clear('m');
    expect(store.lines('m')).toEqual([]);
    store.append('m', 'stdout', 'new\n');
    store.dispose();
    store = new LogStore({ logsDir });
    expect(texts(store.lines('m'))).toEqual(['new']);
    expect(readFileSync(join(logsDir, 'm.log'), 'utf8')).toContain('stdout: old\n');
  });
});
