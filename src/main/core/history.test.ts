/** Trust 17: the core keeps the API request log and the journal across a restart (files in the data dir). */
import { existsSync, mkdtempSync, rmSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, beforeEach, expect, it } from 'vitest';
import type { RequestLogEntry } from '../../shared/model';
import { createCore } from './createCore';

let dir = '';
beforeEach(() => {
  dir = mkdtempSync(join(os.tmpdir(), 'loadout-history-core-'));
});
afterEach(() => rmSync(dir, { recursive: true, force: true }));

const start = () => createCore({ dataDir: dir, demoModel: false, overrides: { warm_standby: false } });

it('the request log survives a restart of the core; the journal is kept in the data dir', async () => {
  const entry: RequestLogEntry = { at: '2026-01-01T00:00:00.000Z', client: '127.0.0.1 curl', method: 'POST', path: '/v1/chat/completions', model: 'a', status: 200, tokens: 5, durationMs: 12, error: null };
  const first = await start();
  try {
    first.commands.recordRequest(entry);
  } finally {
    await first.dispose();
  }
  expect(existsSync(join(dir, 'requests.jsonl'))).toBe(true);
  const second = await start();
  try {
    expect(second.commands.requestLog()).toEqual([entry]);
    expect(second.commands.journal()).toEqual([]);
  } finally {
    await second.dispose();
  }
});
