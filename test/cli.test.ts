/** The headless entry: flags, the first line contract, the page, refusal of foreign hosts, clean exit. */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, existsSync, writeFileSync } from 'node:fs';
import { request } from 'node:http';
import { createServer } from 'node:net';
import os from 'node:os';
import { join, resolve } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { parseArgs } from '../src/main/cli';
import { defaultDataDir } from '../src/main/core/paths';

const root = resolve(__dirname, '..');
const children: ChildProcess[] = [];
const dirs: string[] = [];

afterEach(() => {
  for (const c of children.splice(0)) if (c.exitCode === null) c.kill('SIGKILL');
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function tmp(): string {
  const d = mkdtempSync(join(os.tmpdir(), 'loadout-cli-'));
  dirs.push(d);
  return d;
}

/** Runs `npm run serve`'s command (tsx on src/main/cli.ts) and resolves with its first stdout line. */
function serve(args: string[]): Promise<{ child: ChildProcess; first: string; output: () => string }> {
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main/cli.ts', 'serve', ...args], { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.push(child);
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  return new Promise((resolvePromise, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolvePromise({ child, first: out.slice(0, nl), output: () => out });
    });
    child.once('exit', (code) => reject(new Error(`serve exited with ${code}: ${err}`)));
  });
}

function get(url: string, headers: Record<string, string> = {}): Promise<{ status: number; body: string }> {
  return new Promise((res, rej) => {
    const req = request(url, { headers }, (r) => {
      let body = '';
      r.on('data', (d) => (body += d));
      r.on('end', () => res({ status: r.statusCode!, body }));
    });
    req.on('error', rej);
    req.end();
  });
}

describe('CLI flags', () => {
  it('every setting has a flag; aliases and booleans work; flags override for this run', () => {
    expect(parseArgs(['serve', '--models', '/m', '--data=/d', '--port', '0', '--max-active', '2', '--idle-timeout', '90', '--api-lan', '--no-memory-reclaimer'])).toEqual({
      command: 'serve',
      overrides: { models_dir: '/m', data_dir: '/d', api_port: 0, max_active_models: 2, idle_timeout: 90, api_lan: true, memory_reclaimer: false },
    });
    expect(parseArgs(['--max-active-models=3', '--api-allowed-origins', 'http://a,http://b']).overrides).toEqual({ max_active_models: 3, api_allowed_origins: ['http://a', 'http://b'] });
  });

  it('bad flags are refused with a message that says what is wrong', () => {
    expect(() => parseArgs(['--max-active', '-1'])).toThrow(/max_active_models must be a whole number/);
    expect(() => parseArgs(['--bogus'])).toThrow(/unknown flag --bogus/);
    expect(() => parseArgs(['--port'])).toThrow(/--port needs a value/);
    expect(() => parseArgs(['--port', '70000'])).toThrow(/port number/);
    expect(() => parseArgs(['--start-timeout', '3000000'])).toThrow('--start-timeout: start_timeout must be at most 604800 seconds (one week) (got "3000000")');
    expect(() => parseArgs(['--memory-budget', '8XB'])).toThrow(/--memory-budget: memory_budget must be a size in bytes, or a number with a unit such as 512MB or 8GB/);
  });

  it('sizes take a unit (x1024)', () => {
    expect(parseArgs(['--memory-budget', '8GB', '--api-body-limit=4MiB']).overrides).toEqual({ memory_budget: 8 * 1024 ** 3, api_body_limit: 4 * 1024 ** 2 });
  });
});

describe('npm run serve', () => {
  it('--help lists every flag, says where the data folder is by default, and exits 0', () => {
    const home = tmp();
    const env = { ...process.env, XDG_CONFIG_HOME: home, APPDATA: home };
    const res = spawnSync(process.execPath, ['--import', 'tsx', 'src/main/cli.ts', 'serve', '--help'], { cwd: root, encoding: 'utf8', env });
    expect(res.status).toBe(0);
    const dataLine = res.stdout.split('\n').find((l) => l.trimStart().startsWith('--data-dir'));
    expect(dataLine).toContain(`(default ${defaultDataDir(process.platform, env)})`);
    expect(dataLine).not.toContain('(default "")');
    expect(res.stdout).toMatch(/--models-dir, --models\s+folder scanned for models \(default <data>\/models\)/);
  });

  it('prints the URL first, serves the page only with the token, refuses foreign hosts, writes the demo model, exits on SIGTERM', async () => {
    const data = tmp();
    const { child, first } = await serve(['--port', '0', '--data', data]);
    const m = /^Open (http:\/\/127\.0\.0\.1:(\d+)\/\?token=([A-Za-z0-9_-]+))$/.exec(first);
    expect(m, first).not.toBeNull();
    const [, url, port] = m!;
    const page = await get(url);
    expect(page.status).toBe(200);
    expect(page.body).toContain('<div id="root">');
    expect((await get(`http://127.0.0.1:${port}/`)).status).toBe(401);
    expect((await get(url, { host: `evil.example:${port}` })).status).toBe(403);
    expect(existsSync(join(data, 'models', 'demo.gguf'))).toBe(true);
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
    expect(existsSync(join(data, 'loadout.lock'))).toBe(false);
  });

  it('a port in use gets a clear error and exit code 1', async () => {
    const blocker = createServer().listen(0, '127.0.0.1');
    await new Promise((r) => blocker.once('listening', r));
    const port = (blocker.address() as { port: number }).port;
    try {
      const err = await serve(['--port', String(port), '--data', tmp()]).catch((e: Error) => e.message);
      expect(err).toMatch(/exited with 1: loadout: port \d+ is already in use.*--port 0/s);
    } finally {
      blocker.close();
    }
  });

  it('Trust 1: a settings file that cannot be read stops serve with status 2 naming the file, and is kept as it was', async () => {
    const data = tmp();
    const text = '{ "api_key": "sesame", }\n';
    writeFileSync(join(data, 'settings.json'), text);
    const err = await serve(['--port', '0', '--data', data, '--no-warm-standby']).catch((e: Error) => e.message);
    expect(err).toContain(`exited with 2: loadout: not starting: ${join(data, 'settings.json')} cannot be used (it is not valid JSON`);
    expect(readFileSync(join(data, 'settings.json'), 'utf8')).toBe(text);
    expect(existsSync(join(data, 'loadout.lock'))).toBe(false);
  });
});
