/**
 * Runs the real headless app for a browser test: `npm run serve -- --port 0` (as `node --import tsx
 * src/main/cli.ts`) on a fresh temp data and models folder with generated models, reads the URL
 * from its first stdout line, and stops it (SIGTERM, which stops every backend) afterwards.
 */
import { spawn } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { test as base, expect } from '@playwright/test';
import type { Page } from '@playwright/test';
import { WebSocket } from 'ws';
import { makeModel } from '../../src/main/core/gguf/makeModel';
import type { CommandName, Commands, Outcome } from '../../src/shared/contract';

export const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');
export const faultBackend = join(root, 'test/fixtures/faultBackend.mjs');

export interface AppOptions {
  /** File name -> YAML text, written into the models folder before start. */
  configs?: Record<string, string>;
  /** Tiny real GGUF models (file stem -> seed) for the built-in llama backend. */
  ggufs?: Record<string, number>;
  /**
   * External fault backends to register (name -> the stderr line it prints at start, or null).
   * The name `fault` is always registered.
   */
  faultBackends?: Record<string, string | null>;
  /** Remote backends to register: name -> host:port of a backend already running. */
  remoteBackends?: Record<string, string>;
  /** Extra `npm run serve` flags (e.g. ['--max-active', '2']). */
  args?: string[];
  /**
   * Runs on this folder (its data/, models/ and bin/) instead of a fresh temp one, and leaves it
   * in place on stop: a second start on the same folder is a restart of the app on the same data
   * (the caller removes the folder; see tempRoot()).
   */
  root?: string;
  /** Extra environment for the app process. */
  env?: Record<string, string>;
}

/** A fresh temp folder for `AppOptions.root` (remove it with rmSync when done). */
export function tempRoot(): string {
  return mkdtempSync(join(os.tmpdir(), 'loadout-e2e-'));
}

export interface App {
  url: string;
  origin: string;
  token: string;
  dataDir: string;
  modelsDir: string;
  /** Everything it printed on stdout so far. */
  output(): string;
  /** One contract call over the page's own bridge (for set-up and checks, not for what the test is about). */
  call<K extends CommandName>(name: K, ...args: Commands[K]['args']): Promise<Outcome<Commands[K]['result']>>;
  stop(): Promise<void>;
}

/** A fault-backend model config. */
export function faultModel(name: string, o: { groups?: string[]; options?: string[]; pinned?: boolean; backend?: string } = {}): string {
  const lines = [`name: ${name}`, `backend: ${o.backend ?? 'fault'}`];
  if (o.groups) lines.push(`concurrency_groups: [${o.groups.join(', ')}]`);
  if (o.options) lines.push('options:', ...o.options.map((x) => `  - "${x}"`));
  if (o.pinned) lines.push('pinned: true');
  return `${lines.join('\n')}\n`;
}

/** A program that prints `stderrLine` on stderr and then becomes the fault backend (same pid). */
function faultProgram(dir: string, name: string, stderrLine: string | null): string {
  const quote = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`;
  const lines = ['#!/bin/sh'];
  if (stderrLine) lines.push(`echo ${quote(stderrLine)} >&2`);
  lines.push(`exec ${quote(process.execPath)} ${quote(faultBackend)} "$@"`);
  const path = join(dir, `${name}.sh`);
  writeFileSync(path, `${lines.join('\n')}\n`);
  chmodSync(path, 0o755);
  return path;
}

export async function startApp(o: AppOptions = {}): Promise<App> {
  const tmp = o.root ?? tempRoot();
  const dataDir = join(tmp, 'data');
  const modelsDir = join(tmp, 'models');
  const binDir = join(tmp, 'bin');
  for (const d of [dataDir, modelsDir, binDir]) mkdirSync(d, { recursive: true });
  for (const [file, text] of Object.entries(o.configs ?? {})) writeFileSync(join(modelsDir, file), text);
  for (const [stem, seed] of Object.entries(o.ggufs ?? {})) await makeModel(join(modelsDir, `${stem}.gguf`), { preset: 'tiny', seed });
  // Registered before start, in the registry's own file format (src/main/core/backends/registry.ts).
  const backends = [
    ...Object.entries({ fault: null, ...o.faultBackends }).map(([name, line]) => ({ name, target: faultProgram(binDir, name, line), kind: 'program' })),
    ...Object.entries(o.remoteBackends ?? {}).map(([name, target]) => ({ name, target, kind: 'remote' })),
  ];
  writeFileSync(join(dataDir, 'backends-registry.json'), JSON.stringify({ version: 1, backends }, null, 2));

  const child: ChildProcess = spawn(process.execPath, ['--import', 'tsx', 'src/main/cli.ts', 'serve', '--port', '0', '--data', dataDir, '--models', modelsDir, ...(o.args ?? [])], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FORCE_COLOR: '0', ...o.env },
  });
  let out = '';
  let err = '';
  child.stderr!.on('data', (d) => (err += d));
  const exited = new Promise<void>((r) => child.once('exit', () => r()));
  const first = await new Promise<string>((resolveLine, reject) => {
    child.stdout!.on('data', (d) => {
      out += d;
      const nl = out.indexOf('\n');
      if (nl >= 0) resolveLine(out.slice(0, nl));
    });
    child.once('exit', (code) => reject(new Error(`npm run serve exited with ${code} before printing its URL: ${err}`)));
  });
  const m = /^Open (http:\/\/127\.0\.0\.1:(\d+))\/\?token=([A-Za-z0-9_-]+)$/.exec(first);
  if (!m) throw new Error(`unexpected first line from npm run serve: ${first}`);
  const [, origin, , token] = m;
  const url = `${origin}/?token=${token}`;

  let socket: Promise<WebSocket> | null = null;
  let nextId = 1;
  const pending = new Map<number, (o: Outcome<unknown>) => void>();
  const bridge = () =>
    (socket ??= new Promise((res, rej) => {
      const ws = new WebSocket(`${origin.replace('http', 'ws')}/ws?token=${token}`, { origin });
      ws.on('message', (d) => {
        const msg = JSON.parse(d.toString()) as { id?: number; outcome?: Outcome<unknown> };
        if (typeof msg.id === 'number' && msg.outcome) pending.get(msg.id)?.(msg.outcome);
      });
      ws.once('open', () => res(ws));
      ws.once('error', rej);
    }));

  let stopped = false;
  return {
    url,
    origin,
    token,
    dataDir,
    modelsDir,
    output: () => out,
    async call(name, ...args) {
      const ws = await bridge();
      const id = nextId++;
      return new Promise((res) => {
        pending.set(id, res as (o: Outcome<unknown>) => void);
        ws.send(JSON.stringify({ id, name, args }));
      });
    },
    async stop() {
      if (stopped) return;
      stopped = true;
      if (socket) (await socket.catch(() => null))?.terminate();
      if (child.exitCode === null && child.signalCode === null) {
        child.kill('SIGTERM');
        const timer = setTimeout(() => child.kill('SIGKILL'), 15_000);
        await exited;
        clearTimeout(timer);
      }
      if (!o.root) rmSync(tmp, { recursive: true, force: true });
    },
  };
}

/**
 * Starts the app again as a user restarts it: the same command on the same data dir and the same
 * port. `app` must have been started with `root` (so its folder outlives its stop) and stopped.
 */
export function restartApp(app: App, o: Omit<AppOptions, 'root'> = {}): Promise<App> {
  return startApp({ ...o, root: dirname(app.dataDir), args: [...(o.args ?? []), '--port', new URL(app.origin).port] });
}

export const screenshotDir = join(root, 'test-results', 'screenshots');

/** Keeps a screenshot of the page as a test artifact (test-results/screenshots/<name>.png). */
export async function keepScreenshot(page: Page, name: string): Promise<void> {
  await page.screenshot({ path: join(screenshotDir, `${name}.png`) });
}

/**
 * A screenshot the README shows: kept as a test artifact like any other, and written to
 * docs/screenshots/<readmeName>.png only by `npm run screenshots` (tests leave tracked files alone).
 */
export async function readmeScreenshot(page: Page, name: string, readmeName: string): Promise<void> {
  await keepScreenshot(page, name);
  if (process.env.LOADOUT_README_SCREENSHOTS === '1') await page.screenshot({ path: join(root, 'docs', 'screenshots', `${readmeName}.png`) });
}

/** A row of the models list. */
export const row = (page: Page, model: string) => page.locator(`.model-row[data-model="${model}"]`);

/** `app` fixture: options per test with `test.use({ appOptions: {...} })`. */
export const test = base.extend<{ appOptions: AppOptions; app: App }>({
  appOptions: [{}, { option: true }],
  app: async ({ appOptions }, use) => {
    const app = await startApp(appOptions);
    try {
      await use(app);
    } finally {
      await app.stop();
    }
  },
  page: async ({ page, app }, use) => {
    // Anything the page logs as an error is a bug worth seeing in the report.
    const errors: string[] = [];
    page.on('pageerror', (e) => errors.push(e.message));
    // Console errors too (a CSP violation shows up only there); a refused reconnect while the
    // server is down is expected.
    page.on('console', (m) => {
      if (m.type() === 'error' && !/WebSocket connection to .* failed|ERR_CONNECTION_REFUSED/.test(m.text())) errors.push(m.text());
    });
    await page.goto(app.url);
    await use(page);
    expect(errors, 'errors thrown in the page').toEqual([]);
  },
});

export { expect };

/** Opens a view from the top navigation. */
export async function openView(page: Page, name: 'Models' | 'LRU' | 'Nodes' | 'Groups' | 'Activity' | 'Logs' | 'Settings'): Promise<void> {
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name }).click();
}
