/**
 * The desktop app end to end, in Playwright's Electron mode: the real Electron binary, the built
 * app (`electron-vite build`), a temp data folder. Runs wherever the Electron binary is installed;
 * here (no binary can be downloaded) it skips with one line saying why.
 */
import { _electron as electron, expect, test } from '@playwright/test';
import type { ElectronApplication, Page } from '@playwright/test';
import { spawn, spawnSync } from 'node:child_process';
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { LoadoutBridge } from '../../src/shared/contract';
import type { ModelRow, ServerStatus } from '../../src/shared/model';

const root = resolve(dirname(fileURLToPath(import.meta.url)), '../..');

/** The Electron binary `npm install` downloads, or null when it was skipped. */
function electronBinary(): string | null {
  try {
    const path = createRequire(import.meta.url)('electron') as unknown as string;
    return typeof path === 'string' && existsSync(path) ? path : null;
  } catch {
    return null;
  }
}

const binary = electronBinary();
const SKIP_REASON = 'Electron binary not installed (ELECTRON_SKIP_BINARY_DOWNLOAD): run npm install with network access to run the desktop e2e';
test.skip(!binary, SKIP_REASON);
// The list reporter shows skipped tests without their reason: say it, once per process that
// loads this file.
if (!binary) console.log(`e2e/electron skipped: ${SKIP_REASON}`);

type Outcome<T> = { ok: true; value: T } | { ok: false; error: { code: string; message: string } };

/** Calls the preload bridge from the page, as the renderer does. */
function invoke<T>(page: Page, name: string, ...args: unknown[]): Promise<Outcome<T>> {
  return page.evaluate(
    ([n, a]) => (window as unknown as { loadout: { invoke(name: string, ...args: unknown[]): Promise<unknown> } }).loadout.invoke(n as string, ...(a as unknown[])),
    [name, args] as const,
  ) as Promise<Outcome<T>>;
}

function pidAlive(pid: number): boolean {
  try {
    process.kill(pid, 0);
    return true;
  } catch (e) {
    return (e as NodeJS.ErrnoException).code === 'EPERM';
  }
}

let dataDir = '';
let app: ElectronApplication | null = null;

function launchArgs(): string[] {
  // Containers run as root, where Chromium refuses to start without this.
  const sandbox = process.getuid?.() === 0 ? ['--no-sandbox'] : [];
  return [root, ...sandbox, '--data', dataDir];
}

test.beforeAll(() => {
  const r = spawnSync(join(root, 'node_modules/.bin/electron-vite'), ['build'], { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`electron-vite build failed:\n${r.stdout}\n${r.stderr}`);
});

test.beforeEach(() => {
  dataDir = mkdtempSync(join(os.tmpdir(), 'loadout-electron-e2e-'));
  // Port 0: the local API picks a free port, so a Loadout already running on 8765 does not matter.
  writeFileSync(join(dataDir, 'settings.json'), JSON.stringify({ api_port: 0 }));
});

test.afterEach(async () => {
  await app?.close().catch(() => {});
  app = null;
  rmSync(dataDir, { recursive: true, force: true });
});

test('desktop app: window, secure page, demo model through the preload bridge, local API, clean quit (U4, I4)', async () => {
  app = await electron.launch({ executablePath: binary!, args: launchArgs(), env: { ...process.env, LOADOUT_DATA_DIR: dataDir } });
  const page = await app.firstWindow();
  await expect(page).toHaveTitle('Loadout');
  expect(await app.evaluate(({ app: electronApp }) => electronApp.getPath('userData'))).toBe(dataDir);

  // The page sees the contract's two functions and no Node.
  const surface = await page.evaluate(() => ({
    bridge: Object.keys((window as unknown as { loadout: LoadoutBridge }).loadout ?? {}).sort(),
    require: typeof (window as unknown as { require?: unknown }).require,
    process: typeof (window as unknown as { process?: unknown }).process,
  }));
  expect(surface).toEqual({ bridge: ['invoke', 'onEvent'], require: 'undefined', process: 'undefined' });

  // Navigation away and new windows are blocked.
  const before = page.url();
  expect(await page.evaluate(() => window.open('https://example.com/') === null)).toBe(true);
  await page.evaluate(() => {
    window.location.href = 'https://example.com/';
  });
  // A blocked navigation has no event to await: give a real one ample time to happen.
  await expect(page.waitForURL('https://example.com/**', { timeout: 3000 })).rejects.toThrow();
  expect(page.url()).toBe(before);
  expect(app.windows()).toHaveLength(1);

  // The demo model, written on first run, loads in a backend run by Electron's own binary (L9).
  const loaded = await invoke<ModelRow>(page, 'load', 'demo');
  expect(loaded).toMatchObject({ ok: true, value: { name: 'demo', state: 'ready' } });
  const pid = (loaded as { value: ModelRow }).value.pid!;
  expect(pidAlive(pid)).toBe(true);

  // The local API is on, on 127.0.0.1, and lists the model.
  const status = await invoke<ServerStatus>(page, 'serverStatus');
  expect(status).toMatchObject({ ok: true, value: { listening: true, host: '127.0.0.1' } });
  const models = await (await fetch(`${(status as { value: ServerStatus }).value.url}/v1/models`)).json();
  expect(JSON.stringify(models)).toContain('"demo"');

  // Quit: every backend is stopped before the app exits.
  await app.close();
  app = null;
  expect(pidAlive(pid)).toBe(false);
  const state = JSON.parse(readFileSync(join(dataDir, 'window-state.json'), 'utf8'));
  expect(state).toMatchObject({ width: expect.any(Number), height: expect.any(Number) });
});

test('a second launch on the same data folder exits and leaves the first one running', async () => {
  app = await electron.launch({ executablePath: binary!, args: launchArgs() });
  const page = await app.firstWindow();
  await expect(page).toHaveTitle('Loadout');
  const second = spawn(binary!, launchArgs(), { stdio: 'ignore' });
  const code = await new Promise<number | null>((r) => second.once('exit', (c) => r(c)));
  expect(code).toBe(0);
  expect(await page.title()).toBe('Loadout');
  expect(await invoke(page, 'settings')).toMatchObject({ ok: true });
});

/** Clicks File > Open Chat in the application menu, as a user would. */
async function clickOpenChat(electronApp: ElectronApplication): Promise<void> {
  await electronApp.evaluate(({ Menu }) => {
    const find = (items: Electron.MenuItem[]): Electron.MenuItem | undefined =>
      items.map((i) => (i.label === 'Open Chat' ? i : i.submenu ? find(i.submenu.items) : undefined)).find(Boolean);
    find(Menu.getApplicationMenu()!.items)!.click();
  });
}

test('chat window: File > Open Chat opens one chat-only window that answers from the demo model and shares the conversation with the main window', async () => {
  app = await electron.launch({ executablePath: binary!, args: launchArgs() });
  const page = await app.firstWindow();
  await expect(page).toHaveTitle('Loadout');
  const opened = app.waitForEvent('window');
  await clickOpenChat(app);
  const chat = await opened;
  await expect(chat).toHaveURL(/window=chat/);
  await expect(chat.getByRole('navigation', { name: 'Views' })).toHaveCount(0);

  await chat.getByRole('button', { name: '+ New chat' }).first().click();
  await chat.locator('.picker-button').click();
  await chat.getByRole('listbox', { name: 'Models' }).getByRole('option', { name: /^demo\b/ }).click();
  const box = chat.getByRole('textbox', { name: 'Message' });
  await box.fill('Hello');
  await box.press('Enter');
  // The demo model has random weights: any answer with stats is a real one.
  await expect(chat.locator('.msg-assistant:not(.msg-streaming)').last()).toContainText('tokens/s', { timeout: 60_000 });

  // One chat window: opening it again focuses the same one.
  await clickOpenChat(app);
  expect(app.windows()).toHaveLength(2);

  // The main window's chat pane shows the same conversation (the core owns it).
  await page.getByRole('navigation', { name: 'Views' }).getByRole('link', { name: 'Chat' }).click();
  await expect(page.getByText('Hello').first()).toBeVisible();
});
