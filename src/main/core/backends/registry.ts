/**
 * The backend registry (L8): the built-in `llama-cpp` backend plus external backends the user adds,
 * each a program path (spawned as `<program> --addr 127.0.0.1:<port>`, e.g. a LocalAI backend
 * binary) or a `host:port` (remote: no process). Saved to `<data dir>/backends-registry.json`.
 */
import { accessSync, constants, readFileSync, statSync } from 'node:fs';
import { extname, isAbsolute, join } from 'node:path';
import { LoadoutError } from '../../../shared/errors';
import type { BackendEntry } from '../../../shared/model';
import { builtinLlamaCommand, type BuiltinCommand } from './builtin';
import { writeFileAtomicSync } from '../fsx/writeFileAtomic';
import type { LlamaServerBackend, ResolvedBackend } from './types';
import { locateLlamaServer } from './llamaServer/locate';
import { defaultDataDir } from '../paths';

export const BUILTIN_BACKEND = 'llama-cpp';
/** llama.cpp's own server, one process per model (Engine 1): `backend: llama-server` in a config. */
export const LLAMA_SERVER_BACKEND = 'llama-server';

/** Other names configs use for the built-in backend (LocalAI's among them). */
const ALIASES: Record<string, string> = { llama: BUILTIN_BACKEND, 'llama.cpp': BUILTIN_BACKEND };

export interface BackendRegistryOptions {
  /** Where the registry is saved; null keeps it in memory (tests, dry runs). */
  dataDir: string | null;
  /** The built-in backend's command line (default: `builtinLlamaCommand`). */
  builtinCommand?: () => BuiltinCommand;
  /** Finds the llama-server binary when a load starts (default: PATH, then the built one). */
  locateLlamaServer?: LlamaServerBackend['locate'];
}

/** What the user gives when adding a backend; `kind` is inferred from the target when left out. */
export interface NewBackend {
  name: string;
  target: string;
  kind?: BackendEntry['kind'];
}

export class BackendRegistry {
  private readonly file: string | null;
  private readonly builtinCommand: () => BuiltinCommand;
  private readonly locateLlamaServer: LlamaServerBackend['locate'];
  private readonly external = new Map<string, BackendEntry>();

  constructor(options: BackendRegistryOptions) {
    this.file = options.dataDir ? join(options.dataDir, 'backends-registry.json') : null;
    this.builtinCommand = options.builtinCommand ?? builtinLlamaCommand;
    const dataDir = options.dataDir ?? defaultDataDir();
    this.locateLlamaServer = options.locateLlamaServer ?? (() => locateLlamaServer({ configured: '', dataDir }));
  }

  /** The built-in backend first, then the user's in the order they were added. */
  list(): BackendEntry[] {
    return [{ name: BUILTIN_BACKEND, target: 'built-in', kind: 'program', builtin: true }, ...this.external.values()];
  }

  /** The registered name a config's `backend` refers to (aliases, any case), or null. */
  canonicalName(name: string): string | null {
    const n = name.trim();
    const lower = n.toLowerCase();
    if (lower === BUILTIN_BACKEND || ALIASES[lower]) return ALIASES[lower] ?? BUILTIN_BACKEND;
    if (lower === LLAMA_SERVER_BACKEND) return LLAMA_SERVER_BACKEND;
    if (this.external.has(n)) return n;
    for (const key of this.external.keys()) if (key.toLowerCase() === lower) return key;
    return null;
  }

  /** How to start a backend by name; throws `invalid` for an unknown name. */
  resolve(name: string): ResolvedBackend {
    const canonical = this.canonicalName(name);
    if (canonical === LLAMA_SERVER_BACKEND) return { kind: 'llama-server', name: LLAMA_SERVER_BACKEND, locate: this.locateLlamaServer };
    if (canonical === BUILTIN_BACKEND) {
      const { command, args, env } = this.builtinCommand();
      return { kind: 'program', name: BUILTIN_BACKEND, command, args, env };
    }
    const entry = canonical ? this.external.get(canonical) : undefined;
    if (!entry) {
      const known = this.list().map((e) => e.name).join(', ');
      throw new LoadoutError(
        'invalid',
        `unknown backend "${name}": add it in Settings > Backends (a program path or host:port), or use one of: ${known}`,
      );
    }
    return entry.kind === 'remote'
      ? { kind: 'remote', name: entry.name, address: entry.target }
      : { kind: 'program', name: entry.name, command: entry.target, args: [] };
  }

  /**
   * Backends to try, in order, for a model whose config names none (L8): `llama-cpp` first for a
   * GGUF, then the user's programs. Remote hosts are left out: they serve one model at a time and
   * are only used when a config names them.
   */
  candidatesFor(file: string): string[] {
    const programs = [...this.external.values()].filter((e) => e.kind === 'program').map((e) => e.name);
    return extname(file).toLowerCase() === '.gguf' ? [BUILTIN_BACKEND, ...programs] : programs;
  }

  /** Adds (or replaces) an external backend after checking it; saved at once. */
  add(input: NewBackend): BackendEntry {
    const name = input.name.trim();
    const target = input.target.trim();
    if (!/^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$/.test(name)) {
      throw new LoadoutError(
        'invalid',
        `backend name "${input.name}" is not valid: use letters, digits, ".", "_" or "-" (at most 64 characters)`,
      );
    }
    if (this.canonicalName(name) === BUILTIN_BACKEND) {
      throw new LoadoutError('invalid', `"${name}" is the built-in backend's name; pick another name`);
    }
    if (name.toLowerCase() === LLAMA_SERVER_BACKEND) {
      throw new LoadoutError('invalid', `"${name}" names llama.cpp's own server (backend: llama-server); pick another name, or set llama_server_path to choose its program`);
    }
    const kind = input.kind ?? (looksLikeHostPort(target) && !isAbsolute(target) ? 'remote' : 'program');
    if (kind === 'remote') checkHostPort(target);
    else checkProgram(target);
    const existing = this.canonicalName(name);
    if (existing && existing !== name) this.external.delete(existing);
    const entry: BackendEntry = { name, target, kind, builtin: false };
    this.external.set(name, entry);
    this.save();
    return entry;
  }

  /** Removes an external backend; the built-in one cannot be removed. */
  remove(name: string): void {
    const canonical = this.canonicalName(name);
    if (canonical === BUILTIN_BACKEND) throw new LoadoutError('invalid', 'the built-in llama-cpp backend cannot be removed');
    if (!canonical) throw new LoadoutError('not_found', `no backend named "${name}"`);
    this.external.delete(canonical);
    this.save();
  }

  /**
   * Reads the saved registry. A missing file is an empty registry; a damaged file or entry is
   * skipped and reported (returned), never fatal: the built-in backend always works.
   */
  load(): string[] {
    if (!this.file) return [];
    let raw: string;
    try {
      raw = readFileSync(this.file, 'utf8');
    } catch {
      return [];
    }
    const problems: string[] = [];
    let list: unknown[] = [];
    try {
      const parsed = JSON.parse(raw) as { backends?: unknown };
      if (parsed && Array.isArray(parsed.backends)) list = parsed.backends;
      else problems.push(`${this.file} has no "backends" list; starting with the built-in backend only`);
    } catch (e) {
      problems.push(`${this.file} is not valid JSON (${(e as Error).message}); starting with the built-in backend only`);
    }
    this.external.clear();
    for (const item of list) {
      const e = item as Partial<BackendEntry>;
      if (
        typeof e?.name !== 'string' ||
        typeof e.target !== 'string' ||
        (e.kind !== 'program' && e.kind !== 'remote') ||
        this.canonicalName(e.name) === BUILTIN_BACKEND ||
        e.name.toLowerCase() === LLAMA_SERVER_BACKEND
      ) {
        problems.push(`${this.file}: skipped a malformed backend entry ${JSON.stringify(item)}`);
        continue;
      }
      // Not re-validated here: a program that went missing is reported when it is used.
      this.external.set(e.name, { name: e.name, target: e.target, kind: e.kind, builtin: false });
    }
    return problems;
  }

  /** Writes the external backends (the built-in one is implied). */
  save(): void {
    if (!this.file) return;
    const backends = [...this.external.values()].map(({ name, target, kind }) => ({ name, target, kind }));
    try {
      writeFileAtomicSync(this.file, `${JSON.stringify({ version: 1, backends }, null, 2)}\n`);
    } catch (e) {
      throw new LoadoutError('invalid', `could not save the backend list to ${this.file}: ${(e as Error).message}`);
    }
  }
}

const HOST_PORT = /^(\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9]([A-Za-z0-9.-]*[A-Za-z0-9])?):(\d{1,5})$/;

function looksLikeHostPort(target: string): boolean {
  return HOST_PORT.test(target);
}

function checkHostPort(target: string): void {
  const m = HOST_PORT.exec(target);
  const port = m ? Number(m[3]) : NaN;
  if (!m || port < 1 || port > 65535) {
    throw new LoadoutError(
      'invalid',
      `"${target}" is not a host:port address: write it like 192.168.1.20:50051 or gpu-box.local:50051`,
    );
  }
}

function checkProgram(path: string): void {
  if (!isAbsolute(path)) {
    throw new LoadoutError(
      'invalid',
      `backend program "${path}" must be an absolute path (for example /opt/localai/backends/llama-cpp/grpc-server), or a host:port for a remote backend`,
    );
  }
  let isFile = false;
  try {
    isFile = statSync(path).isFile();
  } catch {
    throw new LoadoutError('invalid', `backend program ${path} does not exist: check the path`);
  }
  if (!isFile) throw new LoadoutError('invalid', `backend program ${path} is not a file: point at the program itself`);
  try {
    accessSync(path, constants.X_OK);
  } catch {
    throw new LoadoutError('invalid', `backend program ${path} is not executable: make it executable (chmod +x ${path})`);
  }
}
