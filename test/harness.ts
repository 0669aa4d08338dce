/**
 * A real core for integration tests: its own temp data dir and models dir, real catalog, real
 * backend processes (the fault backend and/or the built-in llama backend on generated models).
 */
import { mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import type { LoadoutError } from '../src/shared/errors';
import type { CoreEvent, ModelRow, ModelState, Settings } from '../src/shared/model';
import type { Clock } from '../src/main/core/clock';
import { createCore } from '../src/main/core/createCore';
import type { Core } from '../src/main/core/createCore';
import { makeModel } from '../src/main/core/gguf/makeModel';
import { faultBackendPath, pidAlive, waitUntil, writeFaultProgram } from './fixtures/backends';

export { pidAlive, waitUntil };

export interface TestCoreOptions {
  /** File name -> YAML text, written into the models dir before the core starts. */
  configs?: Record<string, string>;
  /** Bare tiny GGUF models to generate (file stem -> seed). */
  ggufs?: Record<string, number>;
  settings?: Partial<Settings>;
  /** External backends to register: name -> env for a fault backend wrapper ({} = a healthy one). */
  faultBackends?: Record<string, Record<string, string>>;
  clock?: Clock;
  watchdogIntervalMs?: number;
  cores?: number;
}

export interface TestCore {
  core: Core;
  dataDir: string;
  modelsDir: string;
  events: CoreEvent[];
  /** Every state each model went through, in order (E1). */
  states(name: string): ModelState[];
  row(name: string): ModelRow;
  waitState(name: string, state: ModelState, timeoutMs?: number): Promise<ModelRow>;
  dispose(): Promise<void>;
}

const live = new Set<TestCore>();

/** A fault-backend model config: `fault(name, { groups, options, pinned, backend })`. */
export function faultModel(name: string, o: { groups?: string[]; options?: string[]; pinned?: boolean; backend?: string; ttl?: number; extra?: string } = {}): string {
  const lines = [`name: ${name}`, `backend: ${o.backend ?? 'fault'}`];
  if (o.groups) lines.push(`concurrency_groups: [${o.groups.join(', ')}]`);
  if (o.options) lines.push('options:', ...o.options.map((x) => `  - "${x}"`));
  if (o.pinned) lines.push('pinned: true');
  if (o.ttl !== undefined) lines.push(`ttl: ${o.ttl}`);
  if (o.extra) lines.push(o.extra);
  return `${lines.join('\n')}\n`;
}

export async function startTestCore(o: TestCoreOptions = {}): Promise<TestCore> {
  const root = mkdtempSync(join(os.tmpdir(), 'loadout-test-'));
  const dataDir = join(root, 'data');
  const modelsDir = join(root, 'models');
  mkdirSync(modelsDir, { recursive: true });
  for (const [file, text] of Object.entries(o.configs ?? {})) writeFileSync(join(modelsDir, file), text);
  for (const [stem, seed] of Object.entries(o.ggufs ?? {})) await makeModel(join(modelsDir, `${stem}.gguf`), { preset: 'tiny', seed });
  const programs: Record<string, string> = {};
  mkdirSync(join(root, 'bin'), { recursive: true });
  for (const [name, env] of Object.entries(o.faultBackends ?? { fault: {} })) {
    programs[name] = Object.keys(env).length === 0 ? faultBackendPath() : writeFaultProgram(join(root, 'bin'), env);
  }
  const core = await createCore({
    dataDir,
    // No warm standby backend unless a test asks: it would start a llama.cpp process per core.
    overrides: { models_dir: modelsDir, warm_standby: false, ...o.settings },
    clock: o.clock,
    demoModel: false,
    watchdogIntervalMs: o.watchdogIntervalMs ?? 100,
    cores: o.cores ?? 2,
  });
  for (const [name, target] of Object.entries(programs)) core.commands.addBackend({ name, target });
  const events: CoreEvent[] = [];
  core.events.on((e) => events.push(e));
  const t: TestCore = {
    core,
    dataDir,
    modelsDir,
    events,
    states: (name) =>
      events
        .filter((e): e is Extract<CoreEvent, { type: 'model' }> => e.type === 'model' && e.row.name === name)
        .map((e) => e.row.state)
        .filter((s, i, all) => i === 0 || all[i - 1] !== s),
    row: (name) => core.commands.row(name),
    waitState: (name, state, timeoutMs = 10_000) => waitUntil(() => (core.commands.row(name).state === state ? core.commands.row(name) : null), `${name} to be ${state}`, { timeoutMs }),
    dispose: async () => {
      live.delete(t);
      await core.dispose();
      rmSync(root, { recursive: true, force: true });
    },
  };
  live.add(t);
  return t;
}

/** afterEach: dispose every core a test left running (and with it every backend). */
export async function disposeAll(): Promise<void> {
  await Promise.all([...live].map((t) => t.dispose()));
}

/** Pids of every process whose command line contains `needle` (to prove none is left: I4). */
export function processesMatching(needle: string): number[] {
  const out: number[] = [];
  for (const name of readdirSync('/proc')) {
    if (!/^\d+$/.test(name)) continue;
    try {
      const cmd = readFileSync(`/proc/${name}/cmdline`, 'utf8').replace(/\0/g, ' ');
      if (cmd.includes(needle) && pidAlive(Number(name))) out.push(Number(name));
    } catch {
      // gone
    }
  }
  return out;
}

/** The error a promise rejects with (fails the test if it resolves). */
export async function rejection(p: Promise<unknown>): Promise<LoadoutError> {
  try {
    await p;
  } catch (e) {
    return e as LoadoutError;
  }
  throw new Error('expected the promise to reject');
}

/** True when `p` settles before the event loop gets to I/O (decided at once, no process work). */
export function beforeAnyIo(p: Promise<unknown>): Promise<boolean> {
  return Promise.race([p.then(() => true), new Promise<boolean>((r) => setImmediate(() => r(false)))]);
}

/** Drains a stream in the background; resolves with its text or its error. */
export function consume(it: AsyncIterable<{ text: string }>): Promise<{ text: string; error: LoadoutError | null }> {
  return (async () => {
    let text = '';
    try {
      for await (const c of it) text += c.text;
      return { text, error: null };
    } catch (e) {
      return { text, error: e as LoadoutError };
    }
  })();
}
