import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath, pathToFileURL } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoadoutError } from '../../../shared/errors';
import { waitUntil } from '../../../../test/fixtures/backends';
import { acquireInstanceLock } from './instanceLock';
import { processStartTime } from './procInfo';

let dir: string;
let other: ChildProcess | undefined;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'loadout-lock-'));
});
afterEach(async () => {
  if (other && other.exitCode === null && other.signalCode === null) {
    const gone = new Promise((r) => other!.once('exit', r));
    other.kill('SIGKILL');
    await gone;
  }
  other = undefined;
  rmSync(dir, { recursive: true, force: true });
});

async function deadPid(): Promise<number> {
  const c = spawn(process.execPath, ['-e', ''], { stdio: 'ignore' });
  await new Promise((r) => c.once('exit', r));
  return c.pid as number;
}

describe('acquireInstanceLock', () => {
  it('U4: a second Loadout on the same data folder is refused with a clear message', async () => {
    // The first "Loadout" is a real other process holding the lock through this very module.
    const modulePath = resolve(fileURLToPath(import.meta.url), '../instanceLock.ts');
    const script = join(dir, 'holder.mts');
    writeFileSync(
      script,
      `import { acquireInstanceLock } from ${JSON.stringify(pathToFileURL(modulePath).href)};\n` +
        `acquireInstanceLock(${JSON.stringify(dir)});\nconsole.log('locked');\nprocess.stdin.resume();\n`,
    );
    const tsx = pathToFileURL(createRequire(import.meta.url).resolve('tsx')).href;
    other = spawn(process.execPath, ['--import', tsx, script], { stdio: ['pipe', 'pipe', 'inherit'] });
    let out = '';
    other.stdout!.setEncoding('utf8').on('data', (d: string) => (out += d));
    await waitUntil(() => out.includes('locked'), 'the first instance to take the lock', { timeoutMs: 10_000 });

    let error: unknown;
    try {
      acquireInstanceLock(dir);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(LoadoutError);
    expect((error as LoadoutError).code).toBe('invalid');
    expect((error as LoadoutError).message).toBe(
      `Another Loadout (pid ${other.pid}) is already using the data folder ${dir}. Quit it first, or start this one with another --data folder.`,
    );
    // The refused attempt left the owner's lock alone.
    expect(readFileSync(join(dir, 'loadout.lock'), 'utf8').split('\n')[0]).toBe(String(other.pid));
  });

  it('U4: takes the lock, writes its pid, and release removes it', () => {
    const lock = acquireInstanceLock(join(dir, 'new', 'data'));
    const path = join(dir, 'new', 'data', 'loadout.lock');
    expect(readFileSync(path, 'utf8').split('\n')[0]).toBe(String(process.pid));
    lock.release();
    expect(existsSync(path)).toBe(false);
    lock.release(); // twice is fine
    const again = acquireInstanceLock(join(dir, 'new', 'data'));
    again.release();
  });

  it('U4: a stale lock (dead pid, garbage, or a pid reused by another program) is taken over', async () => {
    const path = join(dir, 'loadout.lock');
    for (const stale of [`${await deadPid()}\n`, 'garbage', '', `1\n${(Number(processStartTime(1) ?? 0) + 1).toString()}\n`]) {
      writeFileSync(path, stale);
      const lock = acquireInstanceLock(dir);
      expect(readFileSync(path, 'utf8').split('\n')[0]).toBe(String(process.pid));
      lock.release();
    }
  });

  it('release leaves a lock that is no longer ours alone', () => {
    const lock = acquireInstanceLock(dir);
    const path = join(dir, 'loadout.lock');
    writeFileSync(path, '1\n');
    lock.release();
    expect(readFileSync(path, 'utf8')).toBe('1\n');
  });
});
