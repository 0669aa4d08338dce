/** U4/I4: no backend outlives the app, even when the app is killed outright. */
import { spawn } from 'node:child_process';
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { faultBackendPath, pidAlive, waitUntil, writeFaultProgram } from './fixtures/backends';
import { childPids, readCmdline } from '../src/main/core/backends/procInfo';
import { faultModel } from './harness';

const root = resolve(__dirname, '..');
const dirs: string[] = [];
const leftovers: number[] = [];
afterEach(() => {
  for (const pid of leftovers.splice(0)) {
    try {
      process.kill(-pid, 'SIGKILL');
    } catch {
      // already gone
    }
  }
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

/** The app's reaper: its /bin/sh child (Linux: found through /proc). */
function reaperOf(app: number): number {
  const pid = childPids(app).find((c) => readCmdline(c)?.[0] === '/bin/sh');
  if (!pid) throw new Error(`no reaper under the app (pid ${app})`);
  return pid;
}

function runCore(dataDir: string, modelsDir: string, program: string, models: string[], extra: Record<string, string> = {}) {
  const backends = Object.entries(extra).map(([name, target]) => `--backend=${name}=${target}`);
  const child = spawn(process.execPath, ['--import', 'tsx', 'test/fixtures/coreProcess.ts', dataDir, modelsDir, program, ...backends, ...models], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const ready = new Promise<Record<string, number>>((res, rej) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const m = /ready (.*)\n/.exec(out);
      if (m) res(JSON.parse(m[1]));
    });
    child.once('exit', (code) => rej(new Error(`core exited ${code}: ${err}`)));
  });
  return { child, ready, output: () => out };
}

describe('the app killed outright', () => {
  it('U4: built-in-style backends notice their parent is gone and exit within a few seconds', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'loadout-kill-'));
    dirs.push(dir);
    const models = join(dir, 'models');
    mkdirSync(models);
    writeFileSync(join(models, 'a.yaml'), faultModel('a'));
    writeFileSync(join(models, 'b.yaml'), faultModel('b'));
    const app = runCore(join(dir, 'data'), models, faultBackendPath(), ['a', 'b']);
    const pids = Object.values(await app.ready);
    leftovers.push(...pids);
    expect(pids.every(pidAlive)).toBe(true);
    app.child.kill('SIGKILL');
    await waitUntil(() => pids.every((p) => !pidAlive(p)), 'backends to exit after the app died', { timeoutMs: 5000 });
  });

  it('Trust 9: a SIGSTOPped backend and one that cannot watch its parent do not outlive the app\'s SIGKILL', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'loadout-kill-'));
    dirs.push(dir);
    const models = join(dir, 'models');
    mkdirSync(models);
    writeFileSync(join(models, 'a.yaml'), faultModel('a'));
    writeFileSync(join(models, 'x.yaml'), faultModel('x', { backend: 'external' }));
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const external = writeFaultProgram(bin, { FAULT_NO_PARENT_WATCH: '1' });
    const app = runCore(join(dir, 'data'), models, faultBackendPath(), ['a', 'x'], { external });
    const { a: stopped, x: unwatching } = await app.ready;
    leftovers.push(stopped, unwatching);
    process.kill(stopped, 'SIGSTOP'); // it cannot run its own parent watch now
    app.child.kill('SIGKILL');
    await waitUntil(() => !pidAlive(stopped) && !pidAlive(unwatching), 'both backends to be gone after the app died', { timeoutMs: 5000 });
  });

  // Linux: the test finds the reaper through /proc.
  it.skipIf(process.platform !== 'linux')('U4: a backend that cannot watch its parent is killed by the next start (pid file + command line match)', async () => {
    const dir = mkdtempSync(join(os.tmpdir(), 'loadout-kill-'));
    dirs.push(dir);
    const models = join(dir, 'models');
    mkdirSync(models);
    writeFileSync(join(models, 'a.yaml'), faultModel('a'));
    // A wrapper that runs the backend detached from our stdin and outlives its parent check:
    // an external program in the sense of U4 (it cannot watch its parent).
    const bin = join(dir, 'bin');
    mkdirSync(bin);
    const program = writeFaultProgram(bin, { FAULT_NO_PARENT_WATCH: '1' });
    const first = runCore(join(dir, 'data'), models, program, ['a']);
    const { a: pid } = await first.ready;
    leftovers.push(pid);
    // The app and its reaper die together (an OOM kill of both, say): only the pid file is left.
    const reaper = reaperOf(first.child.pid!);
    process.kill(reaper, 'SIGKILL');
    first.child.kill('SIGKILL');
    await new Promise((r) => setTimeout(r, 1500));
    expect(pidAlive(pid)).toBe(true);
    const second = runCore(join(dir, 'data'), models, program, []);
    await second.ready;
    expect(second.output()).toMatch(/stopped 1 backend process\(es\) left over from a previous run/);
    expect(pidAlive(pid)).toBe(false);
    second.child.kill('SIGTERM');
  });
});
