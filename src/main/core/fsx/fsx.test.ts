/** The core's one atomic file write and one serial queue (House A6). */
import * as nodeFs from 'node:fs';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { SerialQueue } from './serialQueue';
import { storageError } from './storageError';
import { fullDiskFs } from './fullDiskFs';
import { writeFileAtomic, writeFileAtomicSync } from './writeFileAtomic';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'loadout-fsx-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

describe('writeFileAtomicSync', () => {
  it('replaces the content, syncing the file before the rename and leaving no temp file', () => {
    const file = join(dir, 'a.json');
    writeFileSync(file, 'old');
    const fs = fullDiskFs(1e9);
    writeFileAtomicSync(file, 'new content', { fs });
    expect(readFileSync(file, 'utf8')).toBe('new content');
    expect(fs.calls.slice(0, 3)).toEqual(['write', 'fsync', 'rename']);
    expect(readdirSync(dir)).toEqual(['a.json']);
  });

  it('a disk that fills up mid-write keeps the old content, removes the temp file and rethrows', () => {
    const file = join(dir, 'a.json');
    writeFileSync(file, 'old');
    expect(() => writeFileAtomicSync(file, 'a longer new content', { fs: fullDiskFs(4) })).toThrow(/ENOSPC/);
    expect(readFileSync(file, 'utf8')).toBe('old');
    expect(readdirSync(dir)).toEqual(['a.json']);
  });

  it('a new file on a full disk is never left empty', () => {
    const file = join(dir, 'new.jsonl');
    expect(() => writeFileAtomicSync(file, '{"x":1}\n', { fs: fullDiskFs(0) })).toThrow(/ENOSPC/);
    expect(readdirSync(dir)).toEqual([]);
  });

  it('durable: false skips the flushes (state a power cut makes moot), still atomic', () => {
    const file = join(dir, 'pids.json');
    const fs = fullDiskFs(1e9);
    writeFileAtomicSync(file, 'x', { fs, durable: false });
    expect(fs.calls).toEqual(['write', 'rename']);
    expect(readFileSync(file, 'utf8')).toBe('x');
  });

  it('creates the folder and honours the mode', () => {
    const file = join(dir, 'sub', 'secret');
    writeFileAtomicSync(file, 'x', { mode: 0o600 });
    if (process.platform !== 'win32') expect(nodeFs.statSync(file).mode & 0o777).toBe(0o600);
  });
});

describe('writeFileAtomic (async)', () => {
  it('replaces the content; a failed rename leaves the old file and no temp file', async () => {
    const file = join(dir, 'a.yaml');
    await writeFileAtomic(file, 'one');
    expect(readFileSync(file, 'utf8')).toBe('one');
    nodeFs.mkdirSync(join(dir, 'taken'));
    nodeFs.writeFileSync(join(dir, 'taken', 'x'), '');
    await expect(writeFileAtomic(join(dir, 'taken'), 'two')).rejects.toThrow();
    expect(readdirSync(dir).sort()).toEqual(['a.yaml', 'taken']);
  });
});

describe('storageError', () => {
  it('ENOSPC and EDQUOT are disk_space (507); anything else keeps its fallback code', () => {
    expect(storageError(Object.assign(new Error('x'), { code: 'ENOSPC' }), 'Settings not saved', '/d').code).toBe('disk_space');
    expect(storageError(Object.assign(new Error('x'), { code: 'EDQUOT' }), 'Settings not saved', '/d').code).toBe('disk_space');
    expect(storageError(Object.assign(new Error('x'), { code: 'EACCES' }), 'Settings not saved', '/d').code).toBe('invalid');
  });
});

describe('SerialQueue', () => {
  it('runs tasks one at a time in order; a failure does not stop the next', async () => {
    const q = new SerialQueue();
    const seen: string[] = [];
    let running = 0;
    const task = (name: string, fail = false) => async () => {
      running++;
      expect(running).toBe(1);
      await new Promise((r) => setImmediate(r));
      seen.push(name);
      running--;
      if (fail) throw new Error(name);
      return name;
    };
    const a = q.run(task('a'));
    const b = q.run(task('b', true));
    const c = q.run(task('c'));
    await expect(a).resolves.toBe('a');
    await expect(b).rejects.toThrow('b');
    await expect(c).resolves.toBe('c');
    await q.idle();
    expect(seen).toEqual(['a', 'b', 'c']);
  });
});
