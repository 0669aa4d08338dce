import { chmodSync, existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { LoadoutError } from '../../../shared/errors';
import { builtinLlamaCommand, bundledBackendEntry, LLAMA_BACKEND_OVERRIDE } from './builtin';
import { BackendRegistry } from './registry';

let dir: string;

beforeEach(() => {
  dir = mkdtempSync(join(tmpdir(), 'loadout-registry-'));
});
afterEach(() => {
  rmSync(dir, { recursive: true, force: true });
});

const fakeBuiltin = () => ({ command: '/usr/bin/node', args: ['/app/backend.js'], env: { A: '1' } });

function program(name: string, mode = 0o755): string {
  const path = join(dir, name);
  writeFileSync(path, '#!/bin/sh\nexit 0\n');
  chmodSync(path, mode);
  return path;
}

function errorOf(fn: () => unknown): LoadoutError {
  try {
    fn();
  } catch (e) {
    expect(e).toBeInstanceOf(LoadoutError);
    return e as LoadoutError;
  }
  throw new Error('expected an error');
}

describe('BackendRegistry', () => {
  it('L8: resolves the built-in llama-cpp backend and its aliases', () => {
    const reg = new BackendRegistry({ dataDir: null, builtinCommand: fakeBuiltin });
    const expected = { kind: 'program', name: 'llama-cpp', command: '/usr/bin/node', args: ['/app/backend.js'], env: { A: '1' } };
    expect(reg.resolve('llama-cpp')).toEqual(expected);
    expect(reg.resolve('llama')).toEqual(expected);
    expect(reg.resolve('LLAMA-CPP')).toEqual(expected);
    expect(reg.list()).toEqual([{ name: 'llama-cpp', target: 'built-in', kind: 'program', builtin: true }]);
  });

  it('L8: an unknown backend names what to do and the known ones', () => {
    const reg = new BackendRegistry({ dataDir: null, builtinCommand: fakeBuiltin });
    reg.add({ name: 'box', target: 'gpu-box.local:50051' });
    const e = errorOf(() => reg.resolve('whisper'));
    expect(e.code).toBe('invalid');
    expect(e.message).toBe(
      'unknown backend "whisper": add it in Settings > Backends (a program path or host:port), or use one of: llama-cpp, box',
    );
  });

  it('L8: adds a program backend (spawned) and a remote one (host:port), inferring the kind', () => {
    const reg = new BackendRegistry({ dataDir: null, builtinCommand: fakeBuiltin });
    const exe = program('grpc-server');
    expect(reg.add({ name: 'localai-llama', target: exe })).toEqual({ name: 'localai-llama', target: exe, kind: 'program', builtin: false });
    expect(reg.add({ name: 'box', target: '192.168.1.20:50051' }).kind).toBe('remote');
    expect(reg.add({ name: 'v6', target: '[::1]:50051' }).kind).toBe('remote');
    expect(reg.resolve('localai-llama')).toEqual({ kind: 'program', name: 'localai-llama', command: exe, args: [] });
    expect(reg.resolve('box')).toEqual({ kind: 'remote', name: 'box', address: '192.168.1.20:50051' });
    expect(reg.list().map((e) => e.name)).toEqual(['llama-cpp', 'localai-llama', 'box', 'v6']);
  });

  it('L8: rejects bad programs and addresses with messages that say what to do', () => {
    const reg = new BackendRegistry({ dataDir: null, builtinCommand: fakeBuiltin });
    const missing = join(dir, 'nope');
    expect(errorOf(() => reg.add({ name: 'a', target: missing })).message).toBe(
      `backend program ${missing} does not exist: check the path`,
    );
    const notExec = program('plain', 0o644);
    expect(errorOf(() => reg.add({ name: 'a', target: notExec })).message).toBe(
      `backend program ${notExec} is not executable: make it executable (chmod +x ${notExec})`,
    );
    expect(errorOf(() => reg.add({ name: 'a', target: dir })).message).toMatch(/is not a file/);
    expect(errorOf(() => reg.add({ name: 'a', target: 'bin/server' })).message).toMatch(/must be an absolute path/);
    expect(errorOf(() => reg.add({ name: 'a', target: 'host:99999', kind: 'remote' })).message).toMatch(
      /is not a host:port address: write it like/,
    );
    expect(errorOf(() => reg.add({ name: 'a', target: 'just-a-host', kind: 'remote' })).code).toBe('invalid');
    expect(errorOf(() => reg.add({ name: 'bad name', target: 'h:1' })).message).toMatch(/is not valid: use letters/);
    expect(errorOf(() => reg.add({ name: 'llama', target: 'h:1' })).message).toMatch(/built-in backend's name/);
    expect(reg.list()).toHaveLength(1);
  });

  it('L8: removes external backends, never the built-in one', () => {
    const reg = new BackendRegistry({ dataDir: null, builtinCommand: fakeBuiltin });
    reg.add({ name: 'box', target: 'h:1' });
    reg.remove('box');
    expect(reg.list()).toHaveLength(1);
    expect(errorOf(() => reg.remove('llama-cpp')).code).toBe('invalid');
    expect(errorOf(() => reg.remove('box')).code).toBe('not_found');
  });

  it('L8: candidates for a file: llama-cpp first for .gguf, then user programs; remotes only by name', () => {
    const reg = new BackendRegistry({ dataDir: null, builtinCommand: fakeBuiltin });
    reg.add({ name: 'other', target: program('other-server') });
    reg.add({ name: 'box', target: 'h:1' });
    expect(reg.candidatesFor('/m/model.Q4_K_M.GGUF')).toEqual(['llama-cpp', 'other']);
    expect(reg.candidatesFor('/m/whisper.bin')).toEqual(['other']);
  });

  it('L8: saves to backends-registry.json and loads it back; a damaged file is reported, not fatal', () => {
    const reg = new BackendRegistry({ dataDir: dir, builtinCommand: fakeBuiltin });
    const exe = program('srv');
    reg.add({ name: 'srv', target: exe });
    reg.add({ name: 'box', target: 'h:1' });
    expect(JSON.parse(readFileSync(join(dir, 'backends-registry.json'), 'utf8')).backends).toHaveLength(2);
    expect(existsSync(join(dir, 'backends.json'))).toBe(false); // that name is the pid file's

    const again = new BackendRegistry({ dataDir: dir, builtinCommand: fakeBuiltin });
    expect(again.load()).toEqual([]);
    expect(again.list()).toEqual(reg.list());

    writeFileSync(join(dir, 'backends-registry.json'), JSON.stringify({ backends: [{ name: 'ok', target: 'h:2', kind: 'remote' }, { name: 3 }] }));
    const partial = new BackendRegistry({ dataDir: dir, builtinCommand: fakeBuiltin });
    const problems = partial.load();
    expect(problems).toHaveLength(1);
    expect(problems[0]).toMatch(/skipped a malformed backend entry/);
    expect(partial.list().map((e) => e.name)).toEqual(['llama-cpp', 'ok']);

    writeFileSync(join(dir, 'backends-registry.json'), '{not json');
    const broken = new BackendRegistry({ dataDir: dir, builtinCommand: fakeBuiltin });
    expect(broken.load()[0]).toMatch(/is not valid JSON/);
    expect(broken.list()).toHaveLength(1);
    expect(broken.resolve('llama').name).toBe('llama-cpp');
  });
});

describe('builtinLlamaCommand', () => {
  const saved = process.env[LLAMA_BACKEND_OVERRIDE];
  afterEach(() => {
    if (saved === undefined) delete process.env[LLAMA_BACKEND_OVERRIDE];
    else process.env[LLAMA_BACKEND_OVERRIDE] = saved;
    delete (process.versions as Record<string, string | undefined>).electron;
  });

  it('L9: from sources, runs src/backends/llama/main.ts with this node and tsx loader', () => {
    delete process.env[LLAMA_BACKEND_OVERRIDE];
    const cmd = builtinLlamaCommand();
    const root = resolve(fileURLToPath(import.meta.url), '../../../../..');
    expect(cmd.command).toBe(process.execPath);
    expect(cmd.args).toHaveLength(3);
    expect(cmd.args[0]).toBe('--import');
    expect(cmd.args[1]).toMatch(/^file:\/\/.*\/node_modules\/tsx\/dist\/loader\.mjs$/);
    expect(existsSync(fileURLToPath(cmd.args[1]))).toBe(true);
    expect(cmd.args[2]).toBe(join(root, 'src/backends/llama/main.ts'));
    expect(cmd.env).toEqual({});
  });

  it('L9: inside Electron, runs as node (ELECTRON_RUN_AS_NODE) and an override file is honoured', () => {
    (process.versions as Record<string, string>).electron = '41.7.1';
    process.env[LLAMA_BACKEND_OVERRIDE] = '/opt/loadout/backend.mjs';
    expect(builtinLlamaCommand()).toEqual({
      command: process.execPath,
      args: ['/opt/loadout/backend.mjs'],
      env: { ELECTRON_RUN_AS_NODE: '1' },
    });
    process.env[LLAMA_BACKEND_OVERRIDE] = '/src/backends/llama/main.ts';
    expect(builtinLlamaCommand().args[0]).toBe('--import');
  });

  it('L9: a packaged app runs the backend bundle from app.asar.unpacked', () => {
    const app = join(dir, 'resources');
    mkdirSync(join(app, 'app.asar.unpacked', 'out', 'backend'), { recursive: true });
    writeFileSync(join(app, 'app.asar.unpacked', 'out', 'backend', 'index.js'), '');
    const here = join(app, 'app.asar', 'out', 'main', 'index.js');
    expect(bundledBackendEntry(here)).toBe(join(app, 'app.asar.unpacked', 'out', 'backend', 'index.js'));
    // A chunk one level deeper finds the same file.
    expect(bundledBackendEntry(join(app, 'app.asar', 'out', 'main', 'chunks', 'x.js'))).toBe(
      join(app, 'app.asar.unpacked', 'out', 'backend', 'index.js'),
    );
    // Not packaged (electron-vite preview): out/backend/index.js next to out/main.
    expect(bundledBackendEntry(join(dir, 'out', 'main', 'index.js'))).toBe(join(dir, 'out', 'backend', 'index.js'));
  });
});
