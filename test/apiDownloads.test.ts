/**
 * Downloads through the HTTP API (downloads-spec sections 4 and 6): a real core and server, the
 * engine against the fake Hugging Face on loopback, and the downloaded model loaded by the real
 * built-in backend.
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { createCore } from '../src/main/core/createCore';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import type { CoreEvent, DownloadJob, Settings } from '../src/shared/model';
import { startHttpServer, type HttpServerHandle } from '../src/main/core/server/httpServer';
import { installLoopbackGuard, startFakeHub, type FakeHub } from './fixtures/fakeHub';
import { disposeAll, startTestCore, waitUntil, type TestCore } from './harness';

let hub: FakeHub;
let guard: ReturnType<typeof installLoopbackGuard>;
const servers: HttpServerHandle[] = [];

beforeEach(async () => {
  guard = installLoopbackGuard();
  hub = await startFakeHub();
});

afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
  await hub.close();
  guard.uninstall();
  expect(guard.refused).toEqual([]); // G46
});

const TINY_YAML = (uri: string) => `name: tiny\nparameters:\n  model: ${uri}\ncontext_size: 512\nthreads: 1\n`;

async function start(uri: string, settings: Partial<Settings> = {}): Promise<{ t: TestCore; api: (method: string, path: string, body?: unknown) => Promise<{ status: number; headers: Headers; json: any }> }> {
  const t = await startTestCore({ configs: { 'tiny.yaml': TINY_YAML(uri) }, settings: { hf_endpoint: hub.endpoint, download_reserve: 0, ...settings } });
  const server = await startHttpServer(t.core, { port: 0, ui: false });
  servers.push(server);
  const api = async (method: string, path: string, body?: unknown) => {
    const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method, headers: body === undefined ? {} : { 'content-type': 'application/json' }, body: body === undefined ? undefined : JSON.stringify(body) });
    return { status: res.status, headers: res.headers, json: await res.json() };
  };
  return { t, api };
}

const complete = { model: 'tiny', prompt: 'Once upon a time', max_tokens: 4, temperature: 0 };

describe('/api/downloads', () => {
  it('G36, G35, G29, G8: a not-downloaded model answers 409 with what to download; POST /api/downloads fetches it from the Hub, it is published and /v1/completions answers', async () => {
    const { uri } = await hub.addFile('test/tiny-GGUF', 'tiny-Q4_K_M.gguf');
    const { t, api } = await start(uri);
    expect(t.row('tiny').status).toBe('not_downloaded');

    for (const [path, body] of [['/v1/completions', complete], ['/api/models/tiny/load', {}]] as const) {
      const r = await api('POST', path, body);
      expect(r.status, path).toBe(409);
      expect(r.json.error.code).toBe('not_downloaded');
      expect(r.json.error.download).toMatchObject({ uris: [uri], action: 'POST /api/downloads' });
    }
    await expect(t.core.commands.load('tiny')).rejects.toMatchObject({ code: 'not_downloaded' });

    const started = await api('POST', '/api/downloads', { model: 'tiny' });
    expect(started.status).toBe(201);
    const job = started.json.jobs[0] as DownloadJob;
    expect(job).toMatchObject({ model: 'tiny', uri, target: 'tiny-Q4_K_M.gguf' });
    const again = await api('POST', '/api/downloads', { uri });
    expect([200, 201]).toContain(again.status);
    if (again.status === 200) expect(again.json.jobs[0].id).toBe(job.id);

    const done = await waitUntil(async () => {
      const r = await api('GET', `/api/downloads/${job.id}`);
      return r.json.state === 'done' ? (r.json as DownloadJob) : null;
    }, 'the download to finish', { timeoutMs: 20_000 });
    expect(done.sha256.actual).toBe(done.sha256.expected);
    await t.waitState('tiny', 'unloaded');
    await waitUntil(() => (t.row('tiny').status === 'ok' ? true : null), 'the catalog to list the published file', { timeoutMs: 5_000 });
    expect(readdirSync(t.modelsDir).filter((f) => f.includes('.part'))).toEqual([]);
    expect(t.events.some((e: CoreEvent) => e.type === 'download' && e.job.id === job.id && e.job.state === 'done')).toBe(true);
    expect((await api('GET', '/api/state')).json.downloads.map((j: DownloadJob) => j.id)).toContain(job.id);

    const answer = await api('POST', '/v1/completions', complete);
    expect(answer.status).toBe(200);
    expect(answer.json.choices[0].text.length).toBeGreaterThan(0);
  }, 60_000);

  it('G36: while its download runs a load answers 503 downloading with Retry-After and progress; paused, 409 naming resume; DELETE cancels', async () => {
    const { uri } = await hub.addFile('test/tiny-GGUF', 'tiny-Q4_K_M.gguf', { knobs: { stallAfter: 4096, stallTimes: 1 } });
    const { t, api } = await start(uri);
    const job = (await api('POST', '/api/downloads', { repo: 'test/tiny-GGUF', file: 'tiny-Q4_K_M.gguf' })).json.jobs[0] as DownloadJob;
    await waitUntil(async () => ((await api('GET', `/api/downloads/${job.id}`)).json.receivedBytes >= 4096 ? true : null), 'bytes to arrive', { timeoutMs: 10_000 });

    const busy = await api('POST', '/v1/completions', complete);
    expect(busy.status).toBe(503);
    expect(busy.json.error.code).toBe('downloading');
    expect(Number(busy.headers.get('retry-after'))).toBeGreaterThanOrEqual(1);
    const viaApi = await api('POST', '/api/models/tiny/load', {});
    expect(viaApi.status).toBe(503);
    expect(viaApi.json.error.download.jobs[0]).toMatchObject({ id: job.id, receivedBytes: 4096 });

    expect((await api('POST', `/api/downloads/${job.id}/pause`)).json.state).toBe('paused');
    const paused = await api('POST', '/api/models/tiny/load', {});
    expect(paused.status).toBe(409);
    expect(paused.json.error.message).toContain(`/api/downloads/${job.id}/resume`);

    expect((await api('DELETE', `/api/downloads/${job.id}`)).json.state).toBe('cancelled');
    expect(readdirSync(t.modelsDir).filter((f) => f.includes('.part'))).toEqual([]);
    expect((await api('GET', `/api/downloads/${job.id}`)).status).toBe(404);
  }, 30_000);

  it('G37: with auto_download a /v1 request starts the download; past api_load_wait it is 503 downloading, and once published the model answers', async () => {
    const { uri } = await hub.addFile('test/tiny-GGUF', 'tiny-Q4_K_M.gguf', { knobs: { stallAfter: 4096, stallTimes: 1 } });
    const { t, api } = await start(uri, { auto_download: true, api_load_wait: 1 });
    const waiting = await api('POST', '/v1/completions', complete);
    expect(waiting.status).toBe(503);
    expect(waiting.json.error).toMatchObject({ code: 'downloading', download: { uris: [uri] } });
    const job = (await api('GET', '/api/downloads')).json[0] as DownloadJob;
    expect(job).toMatchObject({ model: 'tiny', state: 'downloading' });

    // The stalled transfer is picked up again (the fake stalls once), then the request loads it.
    await api('POST', `/api/downloads/${job.id}/pause`);
    await api('POST', `/api/downloads/${job.id}/resume`);
    await t.core.commands.updateSettings({ api_load_wait: 30 });
    const answer = await api('POST', '/v1/completions', complete);
    expect(answer.status).toBe(200);
    expect(answer.json.choices[0].text.length).toBeGreaterThan(0);
  }, 60_000);

  it('G20, G33: changing models_dir pauses the old folder\'s downloads in place; switching back resumes them', async () => {
    const { uri } = await hub.addFile('test/tiny-GGUF', 'tiny-Q4_K_M.gguf', { knobs: { stallAfter: 4096, stallTimes: 1 } });
    const { t, api } = await start(uri);
    const job = (await api('POST', '/api/downloads', { uri })).json.jobs[0] as DownloadJob;
    await waitUntil(async () => ((await api('GET', `/api/downloads/${job.id}`)).json.receivedBytes >= 4096 ? true : null), 'bytes to arrive', { timeoutMs: 10_000 });
    const other = join(t.dataDir, 'other-models');
    mkdirSync(other);
    expect((await api('PUT', '/api/settings', { models_dir: other })).status).toBe(200);
    expect((await api('GET', '/api/downloads')).json).toEqual([]);
    expect(readdirSync(t.modelsDir).sort()).toEqual(['tiny-Q4_K_M.gguf.part', 'tiny-Q4_K_M.gguf.part.json', 'tiny.yaml']);

    await api('PUT', '/api/settings', { models_dir: t.modelsDir });
    await waitUntil(async () => ((await api('GET', `/api/downloads/${job.id}`)).json.state === 'done' ? true : null), 'the download to resume and finish', { timeoutMs: 20_000 });
    await waitUntil(() => (t.row('tiny').status === 'ok' ? true : null), 'the model to be listed', { timeoutMs: 5_000 });
  }, 30_000);

  it('G24, G25: {"model"} downloads with the sha256 its config pins in download_files, which outranks the caller\'s and the Hub\'s', async () => {
    const { uri } = await hub.addFile('test/tiny-GGUF', 'tiny-Q4_K_M.gguf');
    const pinned = 'a'.repeat(64);
    const t = await startTestCore({
      configs: { 'tiny.yaml': `${TINY_YAML(uri)}download_files:\n- filename: tiny-Q4_K_M.gguf\n  sha256: ${pinned}\n  uri: ${uri}\n` },
      settings: { hf_endpoint: hub.endpoint, download_reserve: 0 },
    });
    const [job] = t.core.commands.startDownload({ model: 'tiny', sha256: 'b'.repeat(64) }).jobs;
    const failed = await waitUntil(() => {
      const j = t.core.commands.downloads().find((x) => x.id === job.id);
      return j?.state === 'failed' ? j : null;
    }, 'the download to fail', { timeoutMs: 10_000 });
    expect(failed.error?.code).toBe('checksum_mismatch');
    expect(failed.sha256).toMatchObject({ expected: pinned, source: 'config' });
    expect(t.row('tiny').status).toBe('not_downloaded');
  });

  it('G1, G3, G35, G38: client mistakes are 400 with the reason; an unreachable Hub is 502 upstream', async () => {
    const { api } = await start('huggingface://test/none/none.gguf');
    const scheme = await api('POST', '/api/downloads', { uri: 'ftp://example.com/m.gguf' });
    expect(scheme.status).toBe(400);
    expect(scheme.json.error.message).toContain('huggingface://');
    const unsafe = await api('POST', '/api/downloads', { uri: 'huggingface://o/r/config.yaml' });
    expect(unsafe.status).toBe(400);
    expect(unsafe.json.error.message).toContain('Unsafe download target');
    expect((await api('POST', '/api/downloads', { uri: 'huggingface://o/r/m.gguf', name: '../m.gguf' })).status).toBe(400);
    expect((await api('POST', '/api/downloads', {})).status).toBe(400);
    expect((await api('POST', '/api/downloads', { uri: 'huggingface://o/r/m.gguf', sha256: 'abc' })).status).toBe(400);
    expect((await api('GET', '/api/hub/search')).status).toBe(400);

    await hub.addFile('test/tiny-GGUF', 'tiny-Q4_K_M.gguf');
    const search = await api('GET', '/api/hub/search?q=tiny');
    expect(search.status).toBe(200);
    expect(search.json.map((m: { id: string }) => m.id)).toEqual(['test/tiny-GGUF']);
    const files = await api('GET', '/api/hub/files?repo=test/tiny-GGUF');
    expect(files.json.groups[0]).toMatchObject({ quant: 'Q4_K_M', mmproj: false, fit: 'fits' });
    expect(files.json.defaultQuant).toBe('Q4_K_M');

    expect((await api('PUT', '/api/settings', { hf_endpoint: 'http://127.0.0.1:1' })).status).toBe(200);
    const offline = await api('GET', '/api/hub/search?q=tiny');
    expect(offline.status).toBe(502);
    expect(offline.json.error.code).toBe('upstream');
  }, 30_000);

  it('G44: HF_ENDPOINT and HF_TOKEN are the defaults below the saved file; the token still reads as "set"', async () => {
    const dataDir = mkdtempSync(join(tmpdir(), 'loadout-env-'));
    const core = await createCore({ dataDir, demoModel: false, overrides: { warm_standby: false }, env: { HF_ENDPOINT: hub.endpoint, HF_TOKEN: hub.token } });
    try {
      expect(core.commands.settings()).toMatchObject({ hf_endpoint: hub.endpoint, hf_token: 'set' });
      await hub.addFile('test/tiny-GGUF', 'tiny-Q4_K_M.gguf');
      expect((await core.commands.hubFiles('test/tiny-GGUF')).files.map((f) => f.path)).toEqual(['tiny-Q4_K_M.gguf']);
      expect(hub.requests.at(-1)).toMatchObject({ server: 'hub', authorization: true });
    } finally {
      await core.dispose();
    }
    // A bad HF_ENDPOINT is reported and ignored; the core still starts.
    const bad = await createCore({ dataDir, demoModel: false, overrides: { warm_standby: false }, env: { HF_ENDPOINT: 'hf.example' } });
    try {
      expect(bad.commands.settings().hf_endpoint).toBe('https://huggingface.co');
      expect(bad.notices.join('\n')).toContain('HF_ENDPOINT is ignored');
    } finally {
      await bad.dispose();
      rmSync(dataDir, { recursive: true, force: true });
    }
  });

  it('G44, clarifications 6: hf_token is write-only (reads show "set"), PUT "set" keeps it, and a gated download uses it', async () => {
    const { uri } = await hub.addFile('test/gated', 'tiny-Q8_0.gguf', { gated: true });
    const { t, api } = await start(uri);
    expect((await api('GET', '/api/settings')).json.hf_token).toBe('');

    const put = await api('PUT', '/api/settings', { hf_token: hub.token });
    expect(put.json.hf_token).toBe('set');
    expect((await api('GET', '/api/settings')).json.hf_token).toBe('set');
    expect((await api('GET', '/api/state')).json.settings.hf_token).toBe('set');
    await api('PUT', '/api/settings', { hf_token: 'set', idle_timeout: 5 });
    expect(JSON.parse(readFileSync(join(t.dataDir, 'settings.json'), 'utf8')).hf_token).toBe(hub.token);

    const job = (await api('POST', '/api/downloads', { model: 'tiny' })).json.jobs[0] as DownloadJob;
    await waitUntil(async () => ((await api('GET', `/api/downloads/${job.id}`)).json.state === 'done' ? true : null), 'the gated download to finish', { timeoutMs: 20_000 });
    const shown = JSON.stringify([t.events, (await api('GET', '/api/downloads')).json, t.core.commands.snapshot()]);
    expect(shown).not.toContain(hub.token);
  }, 30_000);
});
