/** The store's one reducer: events folded into the snapshot keep rows, LRU, groups and pending consistent (E1, E2). */
import { describe, expect, it } from 'vitest';
import type { CoreEvent, DownloadJob, ModelRow, RequestLogEntry, Snapshot } from '../../../shared/model';
import { samplingDefaults } from '../../../shared/model';
import { defaultSettings } from '../../../shared/settings';
import { JOURNAL_LIMIT, LOG_LIMIT, REQUEST_LIMIT, applyEvent, applySnapshot, emptyCoreState } from './applyEvent';
import { conflictsOf, filterNames, modelCounts, slotInfo } from './selectors';

function row(name: string, o: Partial<ModelRow> = {}): ModelRow {
  return {
    name,
    status: 'ok',
    error: null,
    backend: 'llama-cpp',
    file: `/m/${name}.gguf`,
    sizeBytes: 1000,
    groups: [],
    pinned: false,
    state: 'unloaded',
    failure: null,
    pid: null,
    address: null,
    loadedAt: null,
    loadStartedAt: null,
    lastUsed: null,
    inFlight: 0,
    queued: 0,
    progress: null,
    memory: { estimateBytes: 2000, rssBytes: null, vramBytes: null, vramEstimateBytes: null },
    ttl: null,
    contextSize: null,
    parallel: 1,
    configPath: null,
    gguf: null,
    reloadPending: false,
    templateWarning: null,
    sampling: samplingDefaults(undefined),
    remote: false,
    placement: null,
    ...o,
  };
}

const at = (s: number) => new Date(Date.UTC(2026, 10, 27, 12, 0, s)).toISOString();

function snapshot(models: ModelRow[], lru: string[] = []): Snapshot {
  const groups: Record<string, string[]> = {};
  for (const m of models) for (const g of m.groups) (groups[g] ??= []).push(m.name);
  return { models, lru, groups, pending: [], settings: { ...defaultSettings(), max_active_models: 2 } };
}

const fold = (events: CoreEvent[], snap: Snapshot) => events.reduce(applyEvent, applySnapshot(emptyCoreState, snap));

describe('applyEvent', () => {
  it('E1: a model event replaces its row; LRU order follows lastUsed among resident models; pending follows starting/loading', () => {
    const s = fold(
      [
        { type: 'model', row: row('a', { state: 'ready', lastUsed: at(1) }) },
        { type: 'model', row: row('b', { state: 'loading', progress: 0.5 }) },
        { type: 'model', row: row('c', { state: 'ready', lastUsed: at(0) }) },
      ],
      snapshot([row('a'), row('b'), row('c')]),
    );
    expect(s.lru).toEqual(['c', 'a']);
    expect(s.pending).toEqual(['b']);
    expect(s.models.b.progress).toBe(0.5);
    // Using c moves it to the end.
    const used = applyEvent(s, { type: 'model', row: row('c', { state: 'busy', lastUsed: at(5), inFlight: 1 }) });
    expect(used.lru).toEqual(['a', 'c']);
    // Unloading a drops it from the LRU.
    expect(applyEvent(used, { type: 'model', row: row('a', { state: 'stopping' }) }).lru).toEqual(['c']);
  });

  it('derived lists keep their identity when an event does not change them (views that select them do not re-render)', () => {
    const s = fold([], snapshot([row('a', { state: 'ready', lastUsed: at(1) }), row('b', { groups: ['g'] })], ['a']));
    const next = applyEvent(s, { type: 'model', row: row('a', { state: 'ready', lastUsed: at(1), memory: { estimateBytes: 1, rssBytes: 5, vramBytes: null, vramEstimateBytes: null } }) });
    expect(next.lru).toBe(s.lru);
    expect(next.groups).toBe(s.groups);
    expect(next.pending).toBe(s.pending);
    expect(next.names).toBe(s.names);
    expect(next.models.a.memory.rssBytes).toBe(5);
  });

  it('C6: a new model is inserted in name order; a removed one leaves rows, LRU and groups; group edits regroup', () => {
    let s = fold([], snapshot([row('b', { groups: ['g'] }), row('d', { groups: ['g'], state: 'ready', lastUsed: at(0) })], ['d']));
    s = applyEvent(s, { type: 'model', row: row('c', { groups: ['g', 'h'] }) });
    expect(s.names).toEqual(['b', 'c', 'd']);
    expect(s.groups).toEqual({ g: ['b', 'c', 'd'], h: ['c'] });
    s = applyEvent(s, { type: 'removed', name: 'd' });
    expect(s.names).toEqual(['b', 'c']);
    expect(s.lru).toEqual([]);
    expect(s.groups).toEqual({ g: ['b', 'c'], h: ['c'] });
    s = applyEvent(s, { type: 'model', row: row('b', { groups: ['h'] }) });
    expect(s.groups).toEqual({ g: ['c'], h: ['b', 'c'] });
    expect(applyEvent(s, { type: 'removed', name: 'nope' })).toBe(s);
  });

  it('E2: journal entries and log lines append, bounded; settings and server status replace', () => {
    let s = fold([], snapshot([row('a')]));
    for (let i = 0; i < JOURNAL_LIMIT + 5; i++) s = applyEvent(s, { type: 'journal', entry: { at: at(0), model: 'a', reason: 'lru', sentence: `n${i}`, by: 'b' } });
    expect(s.journal).toHaveLength(JOURNAL_LIMIT);
    expect(s.journal.at(-1)!.sentence).toBe(`n${JOURNAL_LIMIT + 4}`);
    for (let i = 0; i < LOG_LIMIT + 3; i++) s = applyEvent(s, { type: 'log', model: 'a', line: { at: at(0), stream: 'stderr', text: `l${i}` } });
    expect(s.logs.a).toHaveLength(LOG_LIMIT);
    expect(s.logs.a[0].text).toBe('l3');
    s = applyEvent(s, { type: 'settings', settings: { ...defaultSettings(), max_active_models: 7 } });
    expect(s.settings!.max_active_models).toBe(7);
    s = applyEvent(s, { type: 'server', status: { listening: true, url: 'http://127.0.0.1:1', host: '127.0.0.1', port: 1, error: null, apiKeySet: false } });
    expect(s.server!.port).toBe(1);
  });

  it('Trust 1: the settings file problem comes from the snapshot and goes when a settings event says it is resolved', () => {
    let s = applySnapshot(emptyCoreState, { ...snapshot([row('a')]), settingsProblem: 'settings.json cannot be used' });
    expect(s.settingsProblem).toBe('settings.json cannot be used');
    s = applyEvent(s, { type: 'settings', settings: defaultSettings(), settingsProblem: null });
    expect(s.settingsProblem).toBeNull();
  });

  it('G34: download jobs come from the snapshot (so a reload shows them) and follow download events; a cancelled one leaves', () => {
    const job = (id: string, o: Partial<DownloadJob> = {}): DownloadJob => ({ id, model: 'a', uri: 'huggingface://o/r/a.gguf', target: 'a.gguf', state: 'downloading', error: null, notice: null, totalBytes: 10, receivedBytes: 1, bytesPerSec: 1, etaSeconds: 9, sha256: { expected: null, source: null, actual: null }, unverified: false, ...o });
    let s = applySnapshot(emptyCoreState, { ...snapshot([row('a')]), downloads: [job('j1', { state: 'paused' })] });
    expect(s.downloads.j1.state).toBe('paused');
    s = applyEvent(s, { type: 'download', job: job('j1', { receivedBytes: 5 }) });
    s = applyEvent(s, { type: 'download', job: job('j2') });
    expect(Object.keys(s.downloads).sort()).toEqual(['j1', 'j2']);
    expect(s.downloads.j1.receivedBytes).toBe(5);
    s = applyEvent(s, { type: 'download', job: job('j2', { state: 'cancelled' }) });
    expect(Object.keys(s.downloads)).toEqual(['j1']);
  });

  it('V12: the GPUs come from the snapshot ([] without a GPU, unknown from an older core) and a gpus event replaces them', () => {
    expect(applySnapshot(emptyCoreState, snapshot([row('a')])).gpus).toBeNull();
    expect(applySnapshot(emptyCoreState, { ...snapshot([row('a')]), gpus: [] }).gpus).toEqual([]);
    const cuda = { type: 'cuda' as const, names: ['RTX 4090'], totalBytes: 24, freeBytes: 20, usedByLoadoutBytes: 0, unified: false };
    const s = applySnapshot(emptyCoreState, { ...snapshot([row('a')]), gpus: [cuda] });
    const next = applyEvent(s, { type: 'gpus', gpus: [{ ...cuda, freeBytes: 12, usedByLoadoutBytes: 6 }] });
    expect(next.gpus).toEqual([{ ...cuda, freeBytes: 12, usedByLoadoutBytes: 6 }]);
    // Rows are untouched: the models list does not re-render for a VRAM reading.
    expect(next.models).toBe(s.models);
  });

  it('V14: the GPU line (the CUDA pack) comes with the snapshot and each gpus event', () => {
    const s = applySnapshot(emptyCoreState, { ...snapshot([row('a')]), gpus: [], gpuNotice: 'Fetching the CUDA pack' });
    expect(s.gpuNotice).toBe('Fetching the CUDA pack');
    expect(applyEvent(s, { type: 'gpus', gpus: [], notice: 'The CUDA pack is installed' }).gpuNotice).toBe('The CUDA pack is installed');
    expect(applyEvent(s, { type: 'gpus', gpus: [] }).gpuNotice).toBeNull();
  });

  it('API request log: request events append oldest first, capped at the core\'s 500; a server event replaces the status', () => {
    const req = (i: number, o: Partial<RequestLogEntry> = {}): RequestLogEntry => ({
      at: at(i % 60),
      client: '127.0.0.1',
      method: 'POST',
      path: '/v1/chat/completions',
      model: 'a',
      status: 200,
      tokens: i,
      durationMs: 12.5,
      error: null,
      ...o,
    });
    let s = fold([], snapshot([row('a')]));
    expect(s.requests).toEqual([]);
    s = applyEvent(s, { type: 'request', entry: req(0) });
    s = applyEvent(s, { type: 'request', entry: req(1, { status: 404, model: 'nope', error: 'not_found: no such model' }) });
    expect(s.requests.map((r) => r.status)).toEqual([200, 404]);
    expect(s.requests[1].error).toContain('no such model');
    for (let i = 2; i < REQUEST_LIMIT + 7; i++) s = applyEvent(s, { type: 'request', entry: req(i) });
    expect(REQUEST_LIMIT).toBe(500);
    expect(s.requests).toHaveLength(REQUEST_LIMIT);
    expect(s.requests[0].tokens).toBe(7);
    expect(s.requests.at(-1)!.tokens).toBe(REQUEST_LIMIT + 6);
    // The other slices keep their identity: views that do not show requests do not re-render.
    const before = s;
    s = applyEvent(s, { type: 'request', entry: req(1) });
    expect(s.journal).toBe(before.journal);
    expect(s.models).toBe(before.models);

    const up = { listening: true, url: 'http://127.0.0.1:8765', host: '127.0.0.1', port: 8765, error: null, apiKeySet: true };
    s = applyEvent(s, { type: 'server', status: up });
    expect(s.server).toEqual(up);
    s = applyEvent(s, { type: 'server', status: { ...up, listening: false, url: null, port: null, error: 'port 8765 is in use' } });
    expect(s.server!.listening).toBe(false);
    expect(s.server!.error).toBe('port 8765 is in use');
    // A snapshot (reconnect) does not wipe the request log; the connect step reloads it.
    expect(applySnapshot(s, snapshot([row('a')])).requests).toBe(s.requests);
  });
});

describe('selectors', () => {
  it('L6: slots count occupying local models; the next to go is the least recently used unpinned idle one', () => {
    const s = fold(
      [],
      snapshot(
        [
          row('a', { state: 'ready', lastUsed: at(0), pinned: true }),
          row('b', { state: 'busy', lastUsed: at(1), inFlight: 1 }),
          row('c', { state: 'ready', lastUsed: at(2) }),
          row('d', { state: 'loading' }),
          row('r', { state: 'ready', lastUsed: at(0), remote: true }),
        ],
        ['r', 'a', 'b', 'c'],
      ),
    );
    expect(slotInfo(s.models, s.names, s.lru, s.settings)).toEqual({ used: 4, loaded: 4, loading: 1, cap: 2, next: 'c' });
  });

  it('Trust 10: a model still loading holds a slot but is not counted or filtered as loaded', () => {
    const s = fold([], snapshot([row('a', { state: 'ready' }), row('b', { state: 'starting' }), row('c', { state: 'loading' }), row('d', { state: 'stopping' })]));
    expect(slotInfo(s.models, s.names, s.lru, s.settings)).toMatchObject({ used: 4, loaded: 1, loading: 2 });
    expect(filterNames(s.models, s.names, '', 'loaded')).toEqual(['a']);
  });

  it('search matches every word in name, backend, groups or quantization; filters narrow', () => {
    const s = fold([], snapshot([row('qwen-30b', { groups: ['gpu-heavy'] }), row('llama-8b', { state: 'failed' }), row('phi', { status: 'error', error: 'bad yaml' }), row('tiny', { pinned: true })]));
    expect(filterNames(s.models, s.names, 'gpu', 'all')).toEqual(['qwen-30b']);
    expect(filterNames(s.models, s.names, 'llama 8b', 'all')).toEqual(['llama-8b']);
    expect(filterNames(s.models, s.names, '', 'problems')).toEqual(['llama-8b', 'phi']);
    expect(filterNames(s.models, s.names, '', 'pinned')).toEqual(['tiny']);
    expect(filterNames(s.models, s.names, '', 'all')).toBe(s.names);
    expect(conflictsOf({ ...s.models, b: row('b', { groups: ['gpu-heavy', 'x'] }) }, { 'gpu-heavy': ['qwen-30b', 'b'], x: ['b'] }, 'b')).toEqual(['qwen-30b']);
  });

  it('the filter and header counts match the filters, and are not redone for events that change no model (1,000 rows counted per log line slowed every event)', () => {
    let s = fold([], snapshot([row('a', { state: 'ready', pinned: true }), row('b', { state: 'failed' }), row('c', { state: 'loading' }), row('p', { status: 'error', error: 'bad' }), row('r', { state: 'busy', remote: true })]));
    const counts = modelCounts(s.models, s.names);
    for (const f of ['all', 'loaded', 'problems', 'pinned'] as const) expect(counts[f]).toBe(filterNames(s.models, s.names, '', f).length);
    expect(counts).toMatchObject({ used: 2, loading: 1 });
    s = applyEvent(s, { type: 'log', model: 'a', line: { at: at(1), stream: 'stderr', text: 'x' } });
    expect(modelCounts(s.models, s.names)).toBe(counts);
    s = applyEvent(s, { type: 'model', row: row('b', { state: 'ready' }) });
    expect(modelCounts(s.models, s.names)).toMatchObject({ loaded: 3, problems: 1 });
  });

  it('the warm standby process comes from the snapshot and follows its events', () => {
    let s = applySnapshot(emptyCoreState, { models: [], lru: [], groups: {}, pending: [], settings: null as never, standby: { pid: 7, backend: 'llama-cpp' } });
    expect(s.standby).toEqual({ pid: 7, backend: 'llama-cpp' });
    s = applyEvent(s, { type: 'standby', standby: null });
    expect(s.standby).toBeNull();
    s = applyEvent(s, { type: 'standby', standby: { pid: 9, backend: 'llama-cpp' } });
    expect(s.standby?.pid).toBe(9);
  });
});
