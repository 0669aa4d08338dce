/**
 * Packaging (issue 3, item 7): builds the app with electron-vite, packs it with electron-builder's
 * `--linux dir` around a stand-in Electron dist (no Electron binary can be downloaded here) and
 * checks what the package holds. Then runs the packaged backend the way the desktop app does
 * (L9: the app's binary as plain Node on app.asar.unpacked; plain `node` stands in for Electron's
 * node mode) through a real core, and quits through the desktop quit handler (U4, I4).
 * Last, the built main bundle boots against a stand-in `electron` module (issue 4): the tray,
 * the chat window, the global shortcut and close to tray, wired by main.ts to a real core.
 */
import { spawn, spawnSync } from 'node:child_process';
import type { ChildProcess } from 'node:child_process';
import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import { join, relative, resolve } from 'node:path';
import { pathToFileURL } from 'node:url';
import vm from 'node:vm';
import type { MenuItemConstructorOptions } from 'electron';
import { afterAll, beforeAll, describe, expect, it, vi } from 'vitest';
import { IPC_EVENT, IPC_INVOKE } from '../src/shared/contract';
import type { LoadoutBridge } from '../src/shared/contract';
import { DEMO_MODEL } from '../src/main/core/catalog/demoModel';
import { createCore } from '../src/main/core/createCore';
import { createBackendClient } from '../src/main/core/grpc/client';
import { electronBackendCommand } from '../src/main/electron/backendCommand';
import { FakeEmitter, fakeEvent } from '../src/main/electron/fakes';
import { installQuitHandler } from '../src/main/electron/quit';
import type { QuitApp } from '../src/main/electron/quit';
import { createStandInElectron } from '../src/main/electron/standInElectron';
import type { StandInElectron, StandInMenu } from '../src/main/electron/standInElectron';
import { freePort, pidAlive } from './fixtures/backends';

const root = resolve(__dirname, '..');
// The built main bundle imports `electron`; here that is the stand-in the last test sets up.
const electron = vi.hoisted(() => ({ current: null as unknown, served: null as unknown }));
vi.mock('electron', () => {
  if (!electron.current) throw new Error('the stand-in Electron is not set up');
  // The module is made once per run: later boots of the bundle get this same stand-in.
  electron.served = electron.current;
  return (electron.current as StandInElectron).module;
});
const bin = (name: string) => join(root, 'node_modules', '.bin', name);
// @electron/asar comes with electron-builder; its API is CommonJS.
const asar = (await import('@electron/asar')) as unknown as {
  listPackage(archive: string, options?: { isPack?: boolean }): string[];
  extractFile(archive: string, file: string): Buffer;
};

// electron-builder's file matching (app-builder-lib, CommonJS), for the targets we cannot pack here.
const requireCjs = createRequire(import.meta.url);
const fileMatcher = requireCjs('app-builder-lib/out/fileMatcher.js') as {
  getNodeModuleFileMatcher(appDir: string, dest: string, expand: (p: string) => string, platformOptions: object, packager: object): { createFilter(): (file: string, stat: { isDirectory(): boolean }) => boolean };
};
const macros = requireCjs('app-builder-lib/out/util/macroExpander.js') as {
  expandMacro(pattern: string, arch: string, appInfo: object, extra: { os: string }): string;
};
/** node-llama-cpp 3.21.1's prebuilt packages (its optionalDependencies). */
const LLAMA_CPP_PACKAGES = Object.keys(JSON.parse(readFileSync(join(root, 'node_modules/node-llama-cpp/package.json'), 'utf8')).optionalDependencies)
  .filter((name) => name.startsWith('@node-llama-cpp/'))
  .map((name) => name.slice('@node-llama-cpp/'.length))
  .sort();

let tmp = '';
let appDir = '';
let resources = '';
let entries: string[] = [];
const children: ChildProcess[] = [];

function run(command: string, args: string[]): void {
  const r = spawnSync(command, args, { cwd: root, encoding: 'utf8' });
  if (r.status !== 0) throw new Error(`${command} ${args.join(' ')} failed (${r.status}):\n${r.stdout}\n${r.stderr}`);
}

/** What electron-builder needs of an Electron dist for `dir`: the `electron` binary it renames. */
function standInElectronDist(dir: string): string {
  mkdirSync(dir, { recursive: true });
  writeFileSync(join(dir, 'electron'), '#!/bin/sh\necho "stand-in for the Electron binary"\nexit 1\n');
  chmodSync(join(dir, 'electron'), 0o755);
  writeFileSync(join(dir, 'LICENSE'), 'stand-in\n');
  writeFileSync(join(dir, 'version'), '41.7.1');
  return dir;
}

function walk(dir: string): string[] {
  const out: string[] = [];
  for (const name of readdirSync(dir)) {
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...walk(p));
    else out.push(p);
  }
  return out;
}

function pngSize(file: string): { width: number; height: number } {
  const b = readFileSync(file);
  expect(b.subarray(1, 4).toString('latin1')).toBe('PNG');
  return { width: b.readUInt32BE(16), height: b.readUInt32BE(20) };
}

beforeAll(() => {
  tmp = mkdtempSync(join(os.tmpdir(), 'loadout-pack-'));
  run(bin('electron-vite'), ['build']);
  const dist = standInElectronDist(join(tmp, 'electron-dist'));
  run(bin('electron-builder'), ['--linux', 'dir', '--publish', 'never', `-c.electronDist=${dist}`, `-c.directories.output=${join(tmp, 'dist')}`]);
  appDir = join(tmp, 'dist', 'linux-unpacked');
  resources = join(appDir, 'resources');
  entries = asar.listPackage(join(resources, 'app.asar')).map((e) => e.replace(/\\/g, '/'));
}, 120_000);

afterAll(() => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  if (tmp) rmSync(tmp, { recursive: true, force: true });
});

describe('electron-builder config', () => {
  it('app id, product name, and installers for Linux (AppImage, deb), macOS (dmg) and Windows (nsis)', () => {
    const build = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).build;
    expect(build).toMatchObject({ appId: 'dev.loadout.app', productName: 'Loadout', asar: true });
    expect(build.linux.target).toEqual(['AppImage', 'deb']);
    expect(build.linux.category).toBe('Utility');
    expect(build.mac.target).toEqual(['dmg']);
    expect(build.win.target).toEqual(['nsis']);
  });

  it('V14: each installer carries the llama.cpp binaries of its platform: Metal on macOS arm64, Vulkan on Windows and Linux x64, never CUDA (a pack fetched on first need)', () => {
    const build = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).build;
    const packed = (os: 'linux' | 'mac' | 'win', arch: string) => {
      // electron-builder's own matcher for node_modules, with the macros expanded as it does per target.
      const matcher = fileMatcher.getNodeModuleFileMatcher('/app', '/out', (p: string) => macros.expandMacro(p, arch, { productName: 'Loadout' }, { os }), {}, { config: build, debugLogger: { isEnabled: false } });
      const filter = matcher.createFilter();
      const file = { isDirectory: () => false };
      return LLAMA_CPP_PACKAGES.filter((name) => filter(`/app/node_modules/@node-llama-cpp/${name}/package.json`, file));
    };
    expect(packed('mac', 'arm64')).toEqual(['mac-arm64-metal']);
    expect(packed('mac', 'x64')).toEqual(['mac-x64']);
    expect(packed('win', 'x64')).toEqual(['win-x64', 'win-x64-vulkan']);
    expect(packed('win', 'arm64')).toEqual(['win-arm64']);
    expect(packed('linux', 'x64')).toEqual(['linux-x64', 'linux-x64-vulkan']);
    expect(packed('linux', 'arm64')).toEqual(['linux-arm64']);
  });

  it('icons: 512x512 for macOS/Windows, 512 and 256 for Linux', () => {
    expect(pngSize(join(root, 'build/icon.png'))).toEqual({ width: 512, height: 512 });
    expect(pngSize(join(root, 'build/icons/512x512.png'))).toEqual({ width: 512, height: 512 });
    expect(pngSize(join(root, 'build/icons/256x256.png'))).toEqual({ width: 256, height: 256 });
  });
});

describe('the packaged app (linux dir)', () => {
  it('the executable is named loadout, next to resources/app.asar', () => {
    expect(statSync(join(appDir, 'loadout')).mode & 0o111).not.toBe(0);
    expect(existsSync(join(appDir, 'electron'))).toBe(false);
    expect(statSync(join(resources, 'app.asar')).isFile()).toBe(true);
  });

  it('app.asar holds the built main, preload and renderer, the window icon and the package.json', () => {
    for (const f of ['/out/main/index.js', '/out/preload/index.cjs', '/out/renderer/index.html', '/package.json', '/icons/256x256.png']) expect(entries).toContain(f);
    const pkg = JSON.parse(asar.extractFile(join(resources, 'app.asar'), 'package.json').toString('utf8'));
    expect(pkg).toMatchObject({ name: 'loadout', productName: 'Loadout', main: 'out/main/index.js', type: 'module' });
    expect(pkg.devDependencies).toBeUndefined();
  });

  it('issue 4: the main bundle holds the tray, chat window and shortcut glue; its only image file is the shipped window icon', () => {
    const code = asar.extractFile(join(resources, 'app.asar'), 'out/main/index.js').toString('utf8');
    for (const text of ['Quit Loadout', 'chat-window-state.json', 'tray-hint-shown', 'The chat shortcut']) expect(code).toContain(text);
    // The tray icon is drawn in code (trayIcon.ts), so no image path can go missing from the package.
    const images = [...new Set([...code.matchAll(/["'`][^"'`]*\.(png|ico|icns)["'`]/g)].map((m) => m[0].slice(1, -1)))];
    expect(images).toEqual(['256x256.png']);
    expect(entries).toContain('/icons/256x256.png');
  });

  it('nothing from the checkout but the build: top level is out, proto, node_modules, icons, package.json', () => {
    const top = new Set(entries.map((e) => e.split('/')[1]));
    expect([...top].sort()).toEqual(['icons', 'node_modules', 'out', 'package.json', 'proto']);
    const unpackedTop = readdirSync(join(resources, 'app.asar.unpacked')).sort();
    expect(unpackedTop).toEqual(['node_modules', 'out', 'proto']);
    const all = [...entries, ...walk(join(resources, 'app.asar.unpacked')).map((p) => `/${relative(join(resources, 'app.asar.unpacked'), p)}`)];
    expect(all.filter((e) => /\.gguf$|\.map$|\.test\.[jt]s$/.test(e))).toEqual([]);
    expect(all.filter((e) => /^\/(src|test|e2e|scripts|build)\//.test(e))).toEqual([]);
    // The headless-only TypeScript runner stays out.
    expect(all.filter((e) => /^\/node_modules\/(tsx|esbuild|@esbuild)\//.test(e))).toEqual([]);
  });

  it('unpacked for the backend child: its bundle with node-llama-cpp inlined, the proto, node-llama-cpp\'s files and prebuilt binary, and "type": "module"', () => {
    const unpacked = join(resources, 'app.asar.unpacked');
    expect(existsSync(join(unpacked, 'out/main/backend/index.js'))).toBe(true);
    expect(existsSync(join(unpacked, 'proto/backend.proto'))).toBe(true);
    expect(existsSync(join(unpacked, 'node_modules/node-llama-cpp/package.json'))).toBe(true);
    // The prebuilt llama.cpp binaries npm installed for this machine (linux-x64, mac-arm64-metal, ...).
    const prebuilt = readdirSync(join(unpacked, 'node_modules/@node-llama-cpp'));
    const osName: Record<string, string> = { darwin: 'mac', win32: 'win' };
    expect(prebuilt.some((name) => name.startsWith(`${osName[process.platform] ?? process.platform}-${process.arch}`))).toBe(true);
    // V14: on Linux x64 the CPU and Vulkan builds with their binaries, no CUDA (a pack fetched on
    // first need), nothing for other architectures.
    if (process.platform === 'linux' && process.arch === 'x64') {
      expect(prebuilt.sort()).toEqual(['linux-x64', 'linux-x64-vulkan']);
      for (const name of prebuilt) expect(existsSync(join(unpacked, `node_modules/@node-llama-cpp/${name}/bins/${name}/llama-addon.node`))).toBe(true);
    }
    expect(prebuilt.filter((name) => /cuda/.test(name))).toEqual([]);
    expect(existsSync(join(unpacked, 'node_modules/@grpc/grpc-js/package.json'))).toBe(true);
    expect(JSON.parse(readFileSync(join(unpacked, 'out/package.json'), 'utf8'))).toEqual({ type: 'module' });
    // Every relative import of the backend's bundle and its chunks, static or dynamic, resolves
    // inside the unpacked folder; node-llama-cpp is inlined there, not imported from node_modules.
    const seen = new Set<string>();
    const visit = (file: string) => {
      if (seen.has(file)) return;
      seen.add(file);
      expect(existsSync(file), `${relative(unpacked, file)} is unpacked`).toBe(true);
      const code = readFileSync(file, 'utf8');
      expect(code).not.toMatch(/^import[^\n]*from\s*"node-llama-cpp"|import\("node-llama-cpp"\)/m);
      for (const m of code.matchAll(/(?:from\s*|import\()"(\.[^"]+)"/g)) visit(resolve(file, '..', m[1]));
    };
    visit(join(unpacked, 'out/main/backend/index.js'));
    expect([...seen].some((file) => readFileSync(file, 'utf8').includes('node_modules/node-llama-cpp/dist/bindings/getLlama.js'))).toBe(true);
  });

  it('the preload is one CommonJS file that needs only electron and exposes invoke and onEvent, nothing else', async () => {
    const code = asar.extractFile(join(resources, 'app.asar'), 'out/preload/index.cjs').toString('utf8');
    const exposed: Record<string, unknown> = {};
    const sent: unknown[][] = [];
    const ipcListeners = new FakeEmitter();
    const electron = {
      contextBridge: { exposeInMainWorld: (key: string, api: unknown) => (exposed[key] = api) },
      ipcRenderer: {
        invoke: async (...args: unknown[]) => (sent.push(args), { ok: true, value: 'answered' }),
        on: (channel: string, l: (...a: unknown[]) => void) => ipcListeners.on(channel, l),
        removeListener: (channel: string, l: (...a: unknown[]) => void) => ipcListeners.removeListener(channel, l),
      },
    };
    const required: string[] = [];
    const requireShim = (id: string) => {
      required.push(id);
      if (id === 'electron') return electron;
      throw new Error(`a sandboxed preload cannot require "${id}"`);
    };
    // A fresh context with no Node globals, like a sandboxed preload's.
    const wrapper = vm.runInNewContext(`(function (require, module, exports) {${code}\n})`, {}, { filename: 'index.cjs' });
    const module = { exports: {} };
    wrapper(requireShim, module, module.exports);

    expect(required).toEqual(['electron']);
    expect(Object.keys(exposed)).toEqual(['loadout']);
    const bridge = exposed.loadout as LoadoutBridge;
    expect(Object.keys(bridge).sort()).toEqual(['invoke', 'onEvent']);

    expect(await bridge.invoke('load', DEMO_MODEL)).toEqual({ ok: true, value: 'answered' });
    expect(sent).toEqual([[IPC_INVOKE, 'load', [DEMO_MODEL]]]);
    const refused = await (bridge.invoke as (name: string, ...args: unknown[]) => Promise<unknown>)('openDevTools');
    expect(refused).toEqual({ ok: false, error: { code: 'invalid', message: 'unknown command "openDevTools"' } });
    expect(sent).toHaveLength(1);

    const got: unknown[][] = [];
    const off = bridge.onEvent((...args: unknown[]) => void got.push(args));
    ipcListeners.emit(IPC_EVENT, fakeEvent({ sender: 'ipcRenderer itself' }), { type: 'removed', name: 'x' });
    off();
    ipcListeners.emit(IPC_EVENT, fakeEvent(), { type: 'removed', name: 'y' });
    // The page gets the event only: never the IPC event object (its `sender` is ipcRenderer).
    expect(got).toEqual([[{ type: 'removed', name: 'x' }]]);
    expect(ipcListeners.listenerCount(IPC_EVENT)).toBe(0);
  });
});

describe('the built backend runs without the checkout', () => {
  it('out/main/backend/index.js under plain node answers Health', async () => {
    const addr = `127.0.0.1:${await freePort()}`;
    const child = spawn(process.execPath, [join(root, 'out/main/backend/index.js'), '--addr', addr], { stdio: ['pipe', 'ignore', 'pipe'] });
    children.push(child);
    let stderr = '';
    child.stderr!.on('data', (d) => (stderr += d));
    const client = createBackendClient(addr);
    try {
      await client.waitReady({ timeoutMs: 10_000 });
    } catch (e) {
      throw new Error(`${(e as Error).message}\nbackend stderr:\n${stderr}`);
    } finally {
      client.close();
    }
    const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
    child.kill('SIGTERM');
    expect(await exited).toBe(0);
  });

  it('L9, U4: the desktop command loads the demo model from app.asar.unpacked; quitting leaves no backend', async () => {
    const home = join(tmp, 'run');
    const mainFile = join(resources, 'app.asar', 'out', 'main', 'index.js');
    // process.execPath (node) stands in for Electron's binary; ELECTRON_RUN_AS_NODE=1 is what makes
    // Electron's binary behave as node, and node ignores it.
    const command = electronBackendCommand(process.execPath, mainFile);
    expect(command).toEqual({ command: process.execPath, args: [join(resources, 'app.asar.unpacked/out/main/backend/index.js')], env: { ELECTRON_RUN_AS_NODE: '1' } });
    const core = await createCore({ dataDir: join(home, 'data'), overrides: { models_dir: join(home, 'models') }, builtinCommand: () => command, cores: 1 });
    let quitted: () => void = () => {};
    const done = new Promise<void>((r) => (quitted = r));
    try {
      const row = await core.commands.load(DEMO_MODEL);
      expect(row.state).toBe('ready');
      const pid = row.pid!;
      if (process.platform === 'linux') {
        expect(readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0')).toContain(command.args[0]);
        expect(readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0')).toContain('ELECTRON_RUN_AS_NODE=1');
      }

      // The desktop quit path: the first quit waits for dispose, then the app really quits.
      const app = new (class extends FakeEmitter {
        quit() {
          const event = fakeEvent();
          this.emit('before-quit', event);
          if (!event.defaultPrevented) quitted();
        }
      })();
      installQuitHandler(app as unknown as QuitApp, () => core.dispose());
      app.quit();
      await done;
      expect(pidAlive(pid)).toBe(false);
    } finally {
      await core.dispose();
    }
  });
});

describe('the built main process against a stand-in Electron (issue 4)', () => {
  it('tray, chat window, global shortcut and close to tray are wired to a real core; Quit from the tray stops the backend (U4)', async () => {
    const data = join(tmp, 'glue-data');
    mkdirSync(data, { recursive: true });
    writeFileSync(join(data, 'settings.json'), JSON.stringify({ api_port: 0, warm_standby: false, close_to_tray: true }));
    const standIn = createStandInElectron(root);
    electron.current = standIn;
    const { state } = standIn;
    const signals = ['SIGTERM', 'SIGINT', 'SIGHUP'] as const;
    const listenersBefore = new Map(signals.map((s) => [s, process.listeners(s)]));
    const envBefore = process.env.LOADOUT_DATA_DIR;
    process.env.LOADOUT_DATA_DIR = data;
    const pageUrl = pathToFileURL(join(root, 'out/renderer/index.html')).href;
    const menuLabels = (menu: StandInMenu | null) => (menu?.template ?? []).map((i) => i.label ?? i.role ?? i.type);
    const click = (menu: StandInMenu | null, label: string) => {
      const item = menu?.template.find((i) => i.label === label);
      if (!item) throw new Error(`no "${label}" in ${JSON.stringify(menuLabels(menu))}`);
      (item.click as () => void)();
    };
    const openChatItem = () => ((state.appMenu!.template.find((m) => m.label === '&File')!.submenu as MenuItemConstructorOptions[])[0]);
    try {
      await import(pathToFileURL(join(root, 'out/main/index.js')).href);
      await state.until(() => state.windows[0]?.visible === true, 'the main window');
      const main = state.windows[0];
      expect(main.loaded).toEqual([pageUrl]);

      // The tray lists the demo model written on first run; nothing is loaded yet.
      expect(state.trays).toHaveLength(1);
      const tray = state.trays[0];
      expect(menuLabels(tray.menu)).toEqual([DEMO_MODEL, 'separator', 'Unload All', 'separator', 'Open Chat', 'Show Window', 'separator', 'Quit Loadout']);
      expect(tray.toolTip).toBe('Loadout — nothing loaded');

      // The chat shortcut is registered and shown in File > Open Chat; pressing it opens the chat window once.
      expect([...state.globalShortcut.registered.keys()]).toEqual(['CommandOrControl+Shift+L']);
      expect(openChatItem()).toMatchObject({ label: 'Open Chat', accelerator: 'CommandOrControl+Shift+L' });
      state.globalShortcut.press('CommandOrControl+Shift+L');
      await state.until(() => state.windows[1]?.visible === true, 'the chat window');
      const chat = state.windows[1];
      expect(chat.loaded).toEqual([`${pageUrl}?window=chat#/chat`]);
      expect(chat.options).toMatchObject({
        title: 'Loadout Chat',
        webPreferences: { preload: join(root, 'out/preload/index.cjs'), sandbox: true, contextIsolation: true, nodeIntegration: false },
      });
      state.globalShortcut.press('CommandOrControl+Shift+L');
      click(tray.menu, 'Open Chat');
      expect(state.windows).toHaveLength(2);

      // A click on the model in the tray loads it through the real loader and backend.
      click(tray.menu, DEMO_MODEL);
      await state.until(() => menuLabels(tray.menu)[0] === `${DEMO_MODEL} — ready`, 'the model to show as ready in the tray');
      expect(tray.toolTip).toMatch(/^Loadout — 1 loaded · \d+(\.\d)? (MB|GB) in use$/);
      // Both windows' pages got the model's events.
      for (const w of [main, chat]) expect(w.sent.some(([channel, event]) => channel === IPC_EVENT && (event as { type: string }).type === 'model')).toBe(true);
      const invoke = state.ipcHandlers.get(IPC_INVOKE)!;
      const fromPage = { senderFrame: { url: pageUrl } };
      const fromChat = { senderFrame: { url: chat.loaded[0] } };
      const snap = (await invoke(fromChat, 'snapshot', [])) as { ok: true; value: { models: { name: string; pid: number | null }[] } };
      const pid = snap.value.models.find((m) => m.name === DEMO_MODEL)!.pid!;
      expect(pidAlive(pid)).toBe(true);

      // Close to tray: closing hides the window and says so once; Show Window brings it back.
      main.close();
      expect({ destroyed: main.destroyed, visible: main.visible }).toEqual({ destroyed: false, visible: false });
      expect(state.notifications).toEqual([expect.objectContaining({ title: 'Loadout is still running' })]);
      expect(existsSync(join(data, 'tray-hint-shown'))).toBe(true);
      click(tray.menu, 'Show Window');
      expect(main.visible).toBe(true);
      main.close();
      expect(state.notifications).toHaveLength(1);
      // Closing the chat window just closes it.
      chat.close();
      expect(chat.destroyed).toBe(true);

      // A new shortcut in the settings replaces the old one, in the menu too; a bad one is told.
      await invoke(fromPage, 'updateSettings', [{ chat_shortcut: 'Alt+Shift+K' }]);
      expect([...state.globalShortcut.registered.keys()]).toEqual(['Alt+Shift+K']);
      expect(openChatItem()).toMatchObject({ accelerator: 'Alt+Shift+K' });
      await invoke(fromPage, 'updateSettings', [{ chat_shortcut: 'Ctrl+Shft+K' }]);
      expect(state.globalShortcut.registered.size).toBe(0);
      expect(openChatItem()).not.toHaveProperty('accelerator');
      expect(state.notifications.at(-1)).toMatchObject({ title: 'The chat shortcut does not work' });

      // Quit from the tray: the backend stops, the hidden window closes for real, the app quits.
      click(tray.menu, 'Quit Loadout');
      await state.until(() => state.quitted, 'the app to quit');
      expect(pidAlive(pid)).toBe(false);
      expect(tray.destroyed).toBe(true);
      expect(state.windows.every((w) => w.destroyed)).toBe(true);
      expect(state.errorBoxes).toEqual([]);
    } finally {
      if (!state.quitted) {
        standIn.app.quit();
        await state.until(() => state.quitted, 'the app to quit after a failure').catch(() => {});
      }
      if (envBefore === undefined) delete process.env.LOADOUT_DATA_DIR;
      else process.env.LOADOUT_DATA_DIR = envBefore;
      // main.ts routes termination signals to app.quit; give this worker its own back.
      for (const s of signals) for (const l of process.listeners(s)) if (!listenersBefore.get(s)!.includes(l)) process.removeListener(s, l);
    }
  }, 60_000);
});

describe('the built main process as a worker (`loadout worker ...`)', () => {
  it('the packaged binary launched with `worker --help` runs the bundled worker entry (out/main/cli.js) and exits 0; no window, no tray', async () => {
    // The stand-in the bundle was first booted with (the module is mocked once), else a new one.
    if (!electron.served) electron.current = createStandInElectron(root);
    const standIn = (electron.served ?? electron.current) as StandInElectron;
    const { state } = standIn;
    const windowsBefore = state.windows.length;
    const traysBefore = state.trays.length;
    state.exitCode = null;
    const argvBefore = process.argv;
    const out: string[] = [];
    const write = vi.spyOn(process.stdout, 'write').mockImplementation((s) => (out.push(String(s)), true));
    try {
      process.argv = [join(appDir, 'loadout'), 'worker', '--help'];
      // Its own URL: a fresh instance of the bundle, not one a test above booted.
      await import(`${pathToFileURL(join(root, 'out/main/index.js')).href}?launch=cli`);
      await state.until(() => state.exitCode !== null, 'the app to exit');
      expect(state.exitCode).toBe(0);
      expect(out.join('')).toContain('Usage: npm run worker');
      expect(state.windows).toHaveLength(windowsBefore);
      expect(state.trays).toHaveLength(traysBefore);
    } finally {
      write.mockRestore();
      process.argv = argvBefore;
    }
  });
});
