import type { MenuItemConstructorOptions } from 'electron';
import { describe, expect, it } from 'vitest';
import type { Failure, ModelRow } from '../../shared/model';
import { fakeRow, fakeSnapshot } from './fakes';
import { buildTrayMenu, formatMemory, modelItem, shortFailure, toElectronTemplate, trayTooltip, unloadAllTargets } from './tray';
import type { TrayAction, TrayMenuItem } from './tray';

const GB = 1024 ** 3;
const row = fakeRow;
const snapshot = fakeSnapshot;

const failure = (code: Failure['code'], message: string, extra: Partial<Failure> = {}): Failure => ({ code, message, exitCode: null, signal: null, stderr: null, ...extra });

/** The fixed tail every menu ends with. */
const tail = (unloadAll: boolean): TrayMenuItem[] => [
  { type: 'separator' },
  { type: 'normal', label: 'Unload All', enabled: unloadAll, action: { kind: 'unloadAll' } },
  { type: 'separator' },
  { type: 'normal', label: 'Open Chat', enabled: true, action: { kind: 'openChat' } },
  { type: 'normal', label: 'Show Window', enabled: true, action: { kind: 'showWindow' } },
  { type: 'separator' },
  { type: 'normal', label: 'Quit Loadout', enabled: true, action: { kind: 'quit' } },
];

describe('a model in the tray menu, per state (L14)', () => {
  const load: TrayAction = { kind: 'load', model: 'm' };
  const unload: TrayAction = { kind: 'unload', model: 'm' };
  const cancel: TrayAction = { kind: 'cancel', model: 'm' };
  it.each<[string, ModelRow, Record<string, unknown>]>([
    ['unloaded: unchecked, click loads', row('m'), { label: 'm', checked: false, enabled: true, action: load }],
    ['starting: click cancels (L12)', row('m', 'starting'), { label: 'm — starting… (click to cancel)', checked: false, action: cancel }],
    ['loading without progress', row('m', 'loading'), { label: 'm — loading… (click to cancel)', checked: false, action: cancel }],
    ['loading with progress, whole percent', row('m', 'loading', { progress: 0.426 }), { label: 'm — loading 42% (click to cancel)', action: cancel }],
    ['loading progress is clamped', row('m', 'loading', { progress: 1.3 }), { label: 'm — loading 100% (click to cancel)' }],
    ['ready: checked, click unloads', row('m', 'ready'), { label: 'm — ready', checked: true, enabled: true, action: unload }],
    ['busy: checked, click unloads (after running requests)', row('m', 'busy', { inFlight: 1 }), { label: 'm — busy', checked: true, action: unload }],
    ['busy with several requests', row('m', 'busy', { inFlight: 3 }), { label: 'm — busy (3 requests)', checked: true }],
    ['stopping: shown, not clickable', row('m', 'stopping'), { label: 'm — unloading…', checked: false, enabled: false }],
    [
      'failed: says why in short, full reason as tooltip; click retries (L13: a user load always tries again)',
      row('m', 'failed', { failure: failure('backend_crashed', 'The backend of m crashed while loading (SIGSEGV).', { signal: 'SIGSEGV' }) }),
      { label: 'm — failed: crashed (SIGSEGV)', checked: false, enabled: true, action: load, toolTip: 'The backend of m crashed while loading (SIGSEGV).' },
    ],
  ])('%s', (_name, r, expected) => {
    const item = modelItem(r);
    expect(item).toMatchObject({ type: 'checkbox', ...expected });
    if (expected.enabled === false) expect(item).not.toHaveProperty('action');
  });
});

describe('a failure in a few words', () => {
  it.each<[Failure | null, string]>([
    [null, 'failed'],
    [failure('backend_crashed', 'x', { exitCode: 134 }), 'crashed (exit 134)'],
    [failure('backend_crashed', 'x'), 'crashed'],
    [failure('timeout', 'Loading m took longer than 60 s.'), 'timed out'],
    [failure('memory', 'm needs 8 GB; 2 GB are free.'), 'not enough memory'],
    [failure('backend_failed', 'The model file is not a GGUF file. Check the download.'), 'The model file is not a GGUF file'],
    [failure('backend_failed', 'llama.cpp could not load the tensors of this model because of an unknown architecture'), 'llama.cpp could not load the tensors of…'],
  ])('%j -> %s', (f, expected) => {
    expect(shortFailure({ failure: f })).toBe(expected);
  });
});

describe('the tray menu (issue 4, item 7)', () => {
  it('lists usable models with their state, loaded ones first, then the fixed actions', () => {
    const items = buildTrayMenu(
      snapshot([
        row('zeta'),
        row('alpha'),
        row('beta', 'ready'),
        row('broken', 'unloaded', { status: 'error', error: 'bad yaml' }),
        row('off', 'unloaded', { status: 'disabled' }),
        row('later', 'unloaded', { status: 'not_downloaded' }),
        row('gamma', 'loading', { progress: 0.5 }),
      ]),
    );
    expect(items.map((i) => (i.type === 'separator' ? '---' : i.label))).toEqual([
      'beta — ready',
      'gamma — loading 50% (click to cancel)',
      'alpha',
      'zeta',
      '---',
      'Unload All',
      '---',
      'Open Chat',
      'Show Window',
      '---',
      'Quit Loadout',
    ]);
  });

  it('a loaded model stays listed even when its config went bad, so it can be unloaded', () => {
    const items = buildTrayMenu(snapshot([row('m', 'ready', { status: 'error', error: 'bad yaml' })]));
    expect(items[0]).toMatchObject({ label: 'm — ready', action: { kind: 'unload', model: 'm' } });
  });

  it('Unload All is disabled when nothing is loaded or loading, enabled otherwise', () => {
    const enabled = (models: ModelRow[]) => buildTrayMenu(snapshot(models)).find((i) => i.type !== 'separator' && i.label === 'Unload All');
    expect(enabled([row('a'), row('b', 'failed')])).toMatchObject({ enabled: false });
    expect(enabled([row('a', 'stopping')])).toMatchObject({ enabled: false });
    expect(enabled([row('a', 'loading')])).toMatchObject({ enabled: true });
    expect(enabled([row('a', 'busy')])).toMatchObject({ enabled: true });
  });

  it('no models: one item that opens the window, then the fixed actions', () => {
    expect(buildTrayMenu(snapshot([]))).toEqual([{ type: 'normal', label: 'No models yet — add some in the window…', enabled: true, action: { kind: 'showWindow' } }, ...tail(false)]);
  });

  it('many models: all loaded ones plus the first others up to the cap, then "N more in the window…"', () => {
    const models = [...Array.from({ length: 30 }, (_, i) => row(`m${String(i).padStart(2, '0')}`)), row('x-ready', 'ready'), row('y-busy', 'busy', { inFlight: 1 })];
    const items = buildTrayMenu(snapshot(models), { maxModels: 5 });
    const labels = items.filter((i) => i.type !== 'separator').map((i) => (i as { label: string }).label);
    expect(labels.slice(0, 6)).toEqual(['x-ready — ready', 'y-busy — busy', 'm00', 'm01', 'm02', '27 more in the window…']);
    expect(items[5]).toEqual({ type: 'normal', label: '27 more in the window…', enabled: true, action: { kind: 'showWindow' } });
    // Loaded ones are never cut, even past the cap.
    const loaded = Array.from({ length: 7 }, (_, i) => row(`l${i}`, 'ready'));
    const capped = buildTrayMenu(snapshot([...loaded, row('other')]), { maxModels: 5 });
    expect(capped.filter((i) => i.type === 'checkbox')).toHaveLength(7);
    expect(capped[7]).toMatchObject({ label: '1 more in the window…' });
  });

  it('shows a valid chat shortcut beside Open Chat', () => {
    const items = buildTrayMenu(snapshot([]), { chatShortcut: 'CommandOrControl+Shift+L' });
    expect(items.find((i) => i.type !== 'separator' && i.label === 'Open Chat')).toMatchObject({ accelerator: 'CommandOrControl+Shift+L' });
  });

  it('is the same data for the same snapshot (so the controller can skip rebuilding)', () => {
    const s = snapshot([row('a', 'ready'), row('b')]);
    expect(JSON.stringify(buildTrayMenu(s))).toBe(JSON.stringify(buildTrayMenu(structuredClone(s))));
  });

  it('Unload All acts on loaded and loading models, not on stopping or idle ones', () => {
    expect(unloadAllTargets(snapshot([row('a', 'ready'), row('b', 'busy'), row('c', 'loading'), row('d', 'starting'), row('e', 'stopping'), row('f'), row('g', 'failed')]))).toEqual([
      'a',
      'b',
      'c',
      'd',
    ]);
  });
});

describe('the tray tooltip', () => {
  it.each<[string, ModelRow[], string]>([
    ['nothing', [row('a'), row('b', 'failed')], 'Loadout — nothing loaded'],
    [
      'measured memory (RSS + VRAM) where there is a process, else the estimate',
      [
        row('a', 'ready', { memory: { estimateBytes: 9 * GB, rssBytes: 1 * GB, vramBytes: 0.5 * GB, vramEstimateBytes: null } }),
        row('b', 'busy', { memory: { estimateBytes: 2 * GB, rssBytes: null, vramBytes: null, vramEstimateBytes: null } }),
        row('c', 'unloaded', { memory: { estimateBytes: 50 * GB, rssBytes: null, vramBytes: null, vramEstimateBytes: null } }),
      ],
      'Loadout — 2 loaded · 3.5 GB in use',
    ],
    [
      'a loading model counts toward memory and is named',
      [row('a', 'ready', { memory: { estimateBytes: null, rssBytes: 512 * 1024 ** 2, vramBytes: null, vramEstimateBytes: null } }), row('b', 'loading', { memory: { estimateBytes: GB, rssBytes: null, vramBytes: null, vramEstimateBytes: null } })],
      'Loadout — 1 loaded · 1 loading · 1.5 GB in use',
    ],
    ['no memory figures at all', [row('a', 'ready')], 'Loadout — 1 loaded'],
  ])('%s', (_name, models, expected) => {
    expect(trayTooltip(snapshot(models))).toBe(expected);
  });

  it.each([
    [300 * 1024 ** 2, '300 MB'],
    [1, '1 MB'],
    [1.25 * GB, '1.3 GB'],
    [123 * GB, '123 GB'],
  ])('formatMemory(%d) = %s', (bytes, text) => {
    expect(formatMemory(bytes)).toBe(text);
  });
});

describe('the Electron adapter', () => {
  const items: TrayMenuItem[] = [
    { type: 'checkbox', label: 'R&D — ready', checked: true, enabled: true, action: { kind: 'unload', model: 'R&D' } },
    { type: 'checkbox', label: 'x — failed: crashed', checked: false, enabled: true, action: { kind: 'load', model: 'x' }, toolTip: 'long reason' },
    { type: 'checkbox', label: 'y — unloading…', checked: false, enabled: false },
    { type: 'separator' },
    { type: 'normal', label: 'Open Chat', enabled: true, action: { kind: 'openChat' }, accelerator: 'CommandOrControl+Shift+L' },
  ];

  it('maps items to menu items whose clicks run the item action', () => {
    const ran: TrayAction[] = [];
    const template = toElectronTemplate(items, (a) => ran.push(a), 'linux');
    expect(template.map(({ click: _click, ...rest }) => rest)).toEqual([
      { type: 'checkbox', label: 'R&&D — ready', enabled: true, checked: true },
      { type: 'checkbox', label: 'x — failed: crashed', enabled: true, checked: false, toolTip: 'long reason' },
      { type: 'checkbox', label: 'y — unloading…', enabled: false, checked: false },
      { type: 'separator' },
      // The global shortcut is registered by the shortcut module, not by the menu.
      { type: 'normal', label: 'Open Chat', enabled: true, accelerator: 'CommandOrControl+Shift+L', registerAccelerator: false },
    ]);
    for (const item of template) (item.click as (() => void) | undefined)?.();
    expect(ran).toEqual([{ kind: 'unload', model: 'R&D' }, { kind: 'load', model: 'x' }, { kind: 'openChat' }]);
    expect(template[2].click).toBeUndefined();
  });

  it('macOS shows "&" as written', () => {
    const [first] = toElectronTemplate(items, () => {}, 'darwin') as MenuItemConstructorOptions[];
    expect(first.label).toBe('R&D — ready');
  });
});
