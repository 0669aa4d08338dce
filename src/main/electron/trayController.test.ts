import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import { LoadoutError } from '../../shared/errors';
import type { CoreEvent, ModelRow } from '../../shared/model';
import { defaultSettings } from '../../shared/settings';
import { FakeClock } from '../core/clock';
import { Emitter } from '../core/emitter';
import { FakeTray, fakeRow, fakeSnapshot } from './fakes';
import { TrayController } from './trayController';

interface FakeMenu {
  template: MenuItemConstructorOptions[];
}

function deferred<T>() {
  let resolve!: (v: T) => void;
  let reject!: (e: unknown) => void;
  const promise = new Promise<T>((res, rej) => {
    resolve = res;
    reject = rej;
  });
  return { promise, resolve, reject };
}

/** A core whose models the test sets, recording the commands the tray sends. */
function setup(opts: { platform?: NodeJS.Platform; models?: ModelRow[] } = {}) {
  const clock = new FakeClock();
  const events = new Emitter<CoreEvent>();
  let models = opts.models ?? [fakeRow('a'), fakeRow('b', 'ready')];
  let shortcut: string | null = null;
  const calls: string[] = [];
  const errors: [string, string][] = [];
  let snapshots = 0;
  let loadResult: () => Promise<ModelRow> = async () => fakeRow('x', 'ready');
  let unloadResult: (name: string) => Promise<ModelRow> = async (name) => fakeRow(name);
  let openChat: () => void = () => void calls.push('openChat');
  const tray = new FakeTray<FakeMenu>();
  const controller = new TrayController<FakeMenu>({
    createTray: () => tray,
    buildMenu: (template) => ({ template }),
    commands: {
      snapshot: () => (snapshots++, fakeSnapshot(models)),
      load: (name, o) => (calls.push(`load ${name} ${o?.origin}`), loadResult()),
      unload: (name) => (calls.push(`unload ${name}`), unloadResult(name)),
      cancelLoad: (name) => {
        calls.push(`cancel ${name}`);
        if (name === 'gone') throw new LoadoutError('not_found', 'There is no model named "gone".');
        return fakeRow(name);
      },
    },
    subscribe: (l) => events.on(l),
    openChat: () => openChat(),
    showWindow: () => void calls.push('showWindow'),
    quit: () => void calls.push('quit'),
    reportError: (title, message) => void errors.push([title, message]),
    chatShortcut: () => shortcut,
    platform: opts.platform ?? 'linux',
    clock,
  });
  const labels = () => tray.menu!.template.map((i) => (i.type === 'separator' ? '---' : i.label));
  const click = (label: string) => {
    const item = tray.menu!.template.find((i) => i.label === label);
    if (!item) throw new Error(`no item "${label}" in ${JSON.stringify(labels())}`);
    (item.click as () => void)();
  };
  return {
    clock,
    events,
    tray,
    controller,
    calls,
    errors,
    labels,
    click,
    snapshots: () => snapshots,
    setModels: (m: ModelRow[]) => (models = m),
    setShortcut: (s: string | null) => (shortcut = s),
    onLoad: (f: () => Promise<ModelRow>) => (loadResult = f),
    onUnload: (f: (name: string) => Promise<ModelRow>) => (unloadResult = f),
    onOpenChat: (f: () => void) => (openChat = f),
    modelEvent: (r: ModelRow) => events.emit({ type: 'model', row: r }),
  };
}

const flush = () => new Promise<void>((r) => setImmediate(r));

describe('TrayController: rendering', () => {
  it('creates the tray with the menu and tooltip of the current snapshot', () => {
    const t = setup();
    expect(t.labels()).toEqual(['b — ready', 'a', '---', 'Unload All', '---', 'Open Chat', 'Show Window', '---', 'Quit Loadout']);
    expect(t.tray.toolTip).toBe('Loadout — 1 loaded');
    expect(t.controller.menuBuilds).toBe(1);
  });

  it('coalesces a burst of state events into one rebuild after ~100 ms', () => {
    const t = setup();
    for (let p = 0; p <= 20; p++) {
      t.setModels([fakeRow('a', 'loading', { progress: p / 20 }), fakeRow('b', 'ready')]);
      t.modelEvent(fakeRow('a', 'loading', { progress: p / 20 }));
      t.clock.advance(4);
    }
    // 84 ms in: nothing rebuilt yet.
    expect(t.controller.menuBuilds).toBe(1);
    t.clock.advance(16);
    expect(t.controller.menuBuilds).toBe(2);
    expect(t.labels()[0]).toBe('a — loading 100% (click to cancel)');
    // Nothing pending after that.
    t.clock.advance(1000);
    expect(t.controller.menuBuilds).toBe(2);
  });

  it('a steady stream of events renders at most once per 100 ms, never starving the menu', () => {
    const t = setup();
    for (let ms = 0; ms < 1000; ms += 10) {
      t.setModels([fakeRow('a', 'loading', { progress: ms / 1000 }), fakeRow('b', 'ready')]);
      t.modelEvent(fakeRow('a', 'loading'));
      t.clock.advance(10);
    }
    expect(t.controller.menuBuilds).toBeGreaterThanOrEqual(9);
    expect(t.controller.menuBuilds).toBeLessThanOrEqual(11);
  });

  it('does not rebuild the native menu when the menu data did not change; the tooltip updates on its own', () => {
    const t = setup({ models: [fakeRow('a', 'ready')] });
    t.setModels([fakeRow('a', 'ready', { memory: { estimateBytes: null, rssBytes: 2 * 1024 ** 3, vramBytes: null, vramEstimateBytes: null }, lastUsed: 'now' })]);
    t.modelEvent(fakeRow('a', 'ready'));
    t.clock.advance(100);
    expect(t.controller.menuBuilds).toBe(1);
    expect(t.tray.menusSet).toBe(1);
    expect(t.tray.toolTip).toBe('Loadout — 1 loaded · 2.0 GB in use');
  });

  it('ignores events that cannot change the menu (chat tokens, logs, requests)', () => {
    const t = setup();
    const before = t.snapshots();
    t.events.emit({ type: 'log', model: 'a', line: { at: 'now', stream: 'stdout', text: 'x' } });
    t.events.emit({ type: 'request', entry: { at: 'now', client: 'c', method: 'GET', path: '/', model: null, status: 200, tokens: null, durationMs: 1, error: null } });
    t.clock.advance(500);
    expect(t.snapshots()).toBe(before);
  });

  it('a model removed from the catalog leaves the menu; a settings change shows the new chat shortcut', () => {
    const t = setup();
    t.setModels([fakeRow('b', 'ready')]);
    t.events.emit({ type: 'removed', name: 'a' });
    t.clock.advance(100);
    expect(t.labels()).not.toContain('a');
    t.setShortcut('Alt+Space');
    t.events.emit({ type: 'settings', settings: { ...defaultSettings(), chat_shortcut: 'Alt+Space' } });
    t.clock.advance(100);
    expect(t.tray.menu!.template.find((i) => i.label === 'Open Chat')).toMatchObject({ accelerator: 'Alt+Space', registerAccelerator: false });
  });
});

describe('TrayController: actions', () => {
  it('clicking an unloaded or failed model loads it as a user load (L13); a ready one unloads; a loading one cancels (L12)', async () => {
    const t = setup({ models: [fakeRow('u'), fakeRow('f', 'failed'), fakeRow('r', 'ready'), fakeRow('l', 'loading')] });
    t.click('u');
    t.click('f — failed: failed');
    t.click('r — ready');
    t.click('l — loading… (click to cancel)');
    await flush();
    expect(t.calls).toEqual(['load u user', 'load f user', 'unload r', 'cancel l']);
    expect(t.errors).toEqual([]);
  });

  it('a failed load becomes an error report, never an unhandled rejection; a cancelled one is not an error', async () => {
    const t = setup({ models: [fakeRow('m')] });
    t.onLoad(async () => {
      throw new LoadoutError('memory', 'm needs 8 GB of memory; 3 GB are free. Unload a model or lower its context size.');
    });
    t.click('m');
    await flush();
    expect(t.errors).toEqual([['Could not load m', 'm needs 8 GB of memory; 3 GB are free. Unload a model or lower its context size.']]);
    t.onLoad(async () => {
      throw new LoadoutError('cancelled', 'Loading m was cancelled.');
    });
    t.click('m');
    await flush();
    expect(t.errors).toHaveLength(1);
  });

  it('unload and cancel failures are reported too', async () => {
    const t = setup({ models: [fakeRow('r', 'ready'), fakeRow('gone', 'starting')] });
    t.onUnload(async () => {
      throw new Error('disk on fire');
    });
    t.click('r — ready');
    t.click('gone — starting… (click to cancel)');
    await flush();
    expect(t.errors).toEqual([
      ['Could not unload r', 'disk on fire'],
      ['Could not cancel loading gone', 'There is no model named "gone".'],
    ]);
  });

  it('Unload All unloads every loaded or loading model at once and reports failures in one message', async () => {
    const t = setup({ models: [fakeRow('a', 'ready'), fakeRow('b', 'busy'), fakeRow('c', 'loading'), fakeRow('d'), fakeRow('e', 'stopping')] });
    const slow = deferred<ModelRow>();
    t.onUnload((name) => {
      if (name === 'a') return slow.promise;
      if (name === 'b') return Promise.reject(new LoadoutError('timeout', 'b did not stop within 30 s; it was killed.'));
      if (name === 'c') return Promise.reject(new LoadoutError('cancelled', 'Loading c was cancelled.'));
      return Promise.resolve(fakeRow(name));
    });
    const done = t.controller.run({ kind: 'unloadAll' });
    await flush();
    // All three started together, without waiting for the slow one.
    expect(t.calls).toEqual(['unload a', 'unload b', 'unload c']);
    expect(t.errors).toEqual([]);
    slow.resolve(fakeRow('a'));
    await done;
    expect(t.errors).toEqual([['Could not unload a model', 'b: b did not stop within 30 s; it was killed.']]);
  });

  it('Open Chat, Show Window and Quit call their functions; one that throws is reported', async () => {
    const t = setup();
    t.click('Open Chat');
    t.click('Show Window');
    t.click('Quit Loadout');
    expect(t.calls).toEqual(['openChat', 'showWindow', 'quit']);
    t.onOpenChat(() => {
      throw new Error('no display');
    });
    t.click('Open Chat');
    await flush();
    expect(t.errors).toEqual([['Open Chat failed', 'no display']]);
  });

  it('a left click on the icon shows the window on Windows and Linux; on macOS it opens the menu (no listener)', () => {
    for (const platform of ['win32', 'linux'] as const) {
      const t = setup({ platform });
      t.tray.emit('click');
      expect(t.calls).toEqual(['showWindow']);
    }
    const mac = setup({ platform: 'darwin' });
    expect(mac.tray.listenerCount('click')).toBe(0);
  });
});

describe('TrayController: dispose', () => {
  it('destroys the tray, unsubscribes, and drops a pending render', () => {
    const t = setup();
    t.modelEvent(fakeRow('a', 'loading'));
    expect(t.events.size).toBe(1);
    t.controller.dispose();
    expect(t.tray.destroyed).toBe(true);
    expect(t.events.size).toBe(0);
    const before = t.snapshots();
    t.clock.advance(1000);
    expect(t.snapshots()).toBe(before);
    // Twice is harmless (quit paths can overlap).
    t.controller.dispose();
  });
});
