/**
 * "Add model" in the core (G40): the LocalAI YAML is written before the download starts, so the
 * row is listed before any byte arrives; an existing config or name is never overwritten. A real
 * core, the engine against the fake Hub on loopback, and the model then loaded by the real backend.
 */
import { readFileSync, readdirSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import type { CoreEvent } from '../src/shared/model';
import { installLoopbackGuard, startFakeHub, type FakeHub } from './fixtures/fakeHub';
import { disposeAll, startTestCore, waitUntil } from './harness';

let hub: FakeHub;
let guard: ReturnType<typeof installLoopbackGuard>;

beforeEach(async () => {
  guard = installLoopbackGuard();
  hub = await startFakeHub();
});

afterEach(async () => {
  await disposeAll();
  await hub.close();
  guard.uninstall();
  expect(guard.refused).toEqual([]);
});

describe('addModel', () => {
  it('G40: writes the YAML (name, parameters.model, download_files with the sha256) first; the row is listed before the first byte, then turns ok and loads', async () => {
    const { uri, sha256 } = await hub.addFile('me/Tiny-GGUF', 'tiny-Q4_K_M.gguf');
    const t = await startTestCore({ settings: { hf_endpoint: hub.endpoint, download_reserve: 0 } });
    const { model, jobs } = await t.core.commands.addModel({ name: 'Tiny-Q4_K_M', files: [{ uri, sha256 }] });
    expect(model).toBe('Tiny-Q4_K_M');
    expect(jobs).toMatchObject([{ model: 'Tiny-Q4_K_M', target: 'tiny-Q4_K_M.gguf', sha256: { expected: sha256, source: 'config' } }]);
    expect(parse(readFileSync(join(t.modelsDir, 'Tiny-Q4_K_M.yaml'), 'utf8'))).toEqual({
      name: 'Tiny-Q4_K_M',
      parameters: { model: uri },
      download_files: [{ filename: 'tiny-Q4_K_M.gguf', uri, sha256 }],
    });

    // The row's first event comes before any byte of its download.
    const rowAt = t.events.findIndex((e: CoreEvent) => e.type === 'model' && e.row.name === 'Tiny-Q4_K_M');
    const firstBytesAt = t.events.findIndex((e: CoreEvent) => e.type === 'download' && e.job.receivedBytes > 0);
    expect(rowAt).toBeGreaterThanOrEqual(0);
    expect(firstBytesAt === -1 || rowAt < firstBytesAt).toBe(true);
    expect(t.events[rowAt]).toMatchObject({ row: { status: 'not_downloaded' } });

    await waitUntil(() => (t.row('Tiny-Q4_K_M').status === 'ok' ? true : null), 'the downloaded model to be listed', { timeoutMs: 20_000 });
    expect(readdirSync(t.modelsDir).filter((f) => f.includes('.part'))).toEqual([]);
    await t.core.commands.load('Tiny-Q4_K_M');
    expect(t.row('Tiny-Q4_K_M').state).toBe('ready');
  }, 60_000);

  it('G40: never overwrites a config or takes a model name; a refused URI writes nothing', async () => {
    const { uri } = await hub.addFile('me/Tiny-GGUF', 'tiny-Q4_K_M.gguf');
    const t = await startTestCore({ settings: { hf_endpoint: hub.endpoint, download_reserve: 0 }, ggufs: { tiny: 3 } });
    writeFileSync(join(t.modelsDir, 'mine.yaml'), '# my own notes\n');
    const before = readdirSync(t.modelsDir).sort();

    await expect(t.core.commands.addModel({ name: 'tiny', files: [{ uri }] })).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('already exists') });
    await expect(t.core.commands.addModel({ name: 'mine', files: [{ uri }] })).rejects.toMatchObject({ code: 'invalid', message: expect.stringContaining('mine.yaml already exists') });
    expect(readFileSync(join(t.modelsDir, 'mine.yaml'), 'utf8')).toBe('# my own notes\n');
    await expect(t.core.commands.addModel({ name: 'x', files: [{ uri: 'ftp://host/x.gguf' }] })).rejects.toMatchObject({ code: 'invalid' });
    await expect(t.core.commands.addModel({ name: 'x', files: [{ uri: 'huggingface://me/r/config.yaml' }] })).rejects.toMatchObject({ code: 'invalid' });
    await expect(t.core.commands.addModel({ name: 'x', files: [{ uri, sha256: 'abc' }] })).rejects.toMatchObject({ code: 'invalid' });
    await expect(t.core.commands.addModel({ name: 'x', files: [] })).rejects.toMatchObject({ code: 'invalid' });
    expect(readdirSync(t.modelsDir).sort()).toEqual(before);
    expect(t.core.commands.downloads()).toEqual([]);
  }, 30_000);
});
