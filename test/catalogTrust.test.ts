/** The catalog through the core: what a user sees when files in the models folder compete or are hostile (Trust 11, 12). */
import { writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { makeModel } from '../src/main/core/gguf/makeModel';
import { disposeAll, faultModel, startTestCore, waitUntil } from './harness';

afterEach(disposeAll);

describe('the models folder through the core', () => {
  it('Trust 11: a new YAML with a running model\'s name does not take it: the model keeps running on its own settings, the newcomer is the error row', async () => {
    const t = await startTestCore({ configs: { 'z-owner.yaml': faultModel('twin') } });
    await t.core.commands.load('twin');
    await t.waitState('twin', 'ready');
    // Sorts before the owner by path, and changes a load parameter.
    writeFileSync(join(t.modelsDir, 'a-newcomer.yaml'), faultModel('twin', { extra: 'context_size: 99' }));
    const newcomer = await waitUntil(() => t.core.commands.snapshot().models.find((m) => m.name === 'twin (a-newcomer.yaml)') ?? null, 'the newcomer row');
    expect(newcomer.status).toBe('error');
    expect(newcomer.error).toMatch(/^duplicate name twin: also defined in z-owner\.yaml\. Rename one of them\./);
    const twin = t.row('twin');
    expect(twin).toMatchObject({ state: 'ready', status: 'ok', reloadPending: false });
    expect(twin.configPath).toBe(join(t.modelsDir, 'z-owner.yaml'));
  });

  it('Trust 12: a 15 MB chat template in a GGUF keeps the state small: the row carries its size only', async () => {
    const t = await startTestCore();
    const template = `{# ${'x'.repeat(15 * 1024 * 1024)} #}{{ messages }}`;
    await makeModel(join(t.modelsDir, 'wordy.gguf'), { preset: 'tiny', seed: 1, chatTemplate: template });
    const row = await waitUntil(() => t.core.commands.snapshot().models.find((m) => m.name === 'wordy') ?? null, 'the wordy row');
    expect(row.gguf?.chatTemplateBytes).toBe(Buffer.byteLength(template));
    expect(JSON.stringify(t.core.commands.snapshot()).length).toBeLessThan(50_000);
  });
});
