import { mkdirSync, mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { afterEach, expect, it } from 'vitest';
import { createCore, type Core } from '../src/main/core/createCore';
import { waitUntil } from './fixtures/backends';

let root: string;
let core: Core | undefined;

afterEach(async () => {
  await core?.dispose();
  core = undefined;
  rmSync(root, { recursive: true, force: true });
});

it('a problem the catalog finds after start reaches the host (it used to be kept only in the start-up list)', async () => {
  root = mkdtempSync(join(tmpdir(), 'loadout-notices-'));
  const models = join(root, 'models');
  mkdirSync(models);
  const late: string[] = [];
  core = await createCore({ dataDir: join(root, 'data'), overrides: { models_dir: models }, demoModel: false, cores: 1, onNotice: (n) => late.push(n) });
  expect(late).toEqual([]);
  // Deeper than the walk goes (C1's bound): the rescan says so once.
  mkdirSync(join(models, ...Array.from({ length: 20 }, (_, i) => `d${i}`)), { recursive: true });
  await waitUntil(() => late.some((n) => n.includes(models)), 'the catalog to report the bound it hit');
  expect(core.notices.some((n) => n.includes('deep'))).toBe(false);
});
