/**
 * Where Loadout finds a `llama-server` binary (Engine 1): the `llama_server_path` setting, then PATH
 * (Homebrew, winget and distro packages put one there), then the newest one `npm run
 * build-llama-server` built under the data folder. And what it is: its `--version` and the GPU
 * devices its `--list-devices` names, which decide whether the GUI may call it faster (clar. 9).
 */
import { execFile } from 'node:child_process';
import { accessSync, constants, readdirSync, statSync } from 'node:fs';
import { delimiter, join } from 'node:path';
import { defaultDataDir } from '../../paths';

export const LLAMA_SERVER_EXE = process.platform === 'win32' ? 'llama-server.exe' : 'llama-server';

/** The folder the build script writes one llama.cpp version into. */
export function builtLlamaServerDir(version: string, dataDir: string = defaultDataDir()): string {
  return join(dataDir, 'llama-server', version);
}

export interface LocateOptions {
  /** The `llama_server_path` setting ('' for none). */
  configured: string;
  dataDir: string;
  env?: NodeJS.ProcessEnv;
}

export interface FoundLlamaServer {
  path: string;
  source: 'setting' | 'path' | 'built';
}

function isExecutable(path: string): boolean {
  try {
    if (!statSync(path).isFile()) return false;
    accessSync(path, constants.X_OK);
    return true;
  } catch {
    return false;
  }
}

/** The binary to run, or null with why (for the error a load gives). */
export function locateLlamaServer(o: LocateOptions): { found: FoundLlamaServer } | { found: null; why: string } {
  if (o.configured) {
    if (isExecutable(o.configured)) return { found: { path: o.configured, source: 'setting' } };
    return { found: null, why: `the llama_server_path setting points at ${o.configured}, which is not an executable file: fix it in Settings > Backends` };
  }
  for (const dir of ((o.env ?? process.env).PATH ?? '').split(delimiter)) {
    if (dir && isExecutable(join(dir, LLAMA_SERVER_EXE))) return { found: { path: join(dir, LLAMA_SERVER_EXE), source: 'path' } };
  }
  const builtRoot = join(o.dataDir, 'llama-server');
  let versions: string[] = [];
  try {
    versions = readdirSync(builtRoot).sort().reverse();
  } catch {
    // none built
  }
  for (const v of versions) {
    const p = join(builtRoot, v, LLAMA_SERVER_EXE);
    if (isExecutable(p)) return { found: { path: p, source: 'built' } };
  }
  return {
    found: null,
    why: `no ${LLAMA_SERVER_EXE} was found: install llama.cpp (it puts llama-server on PATH), set its path in Settings > Backends, or build one with \`npm run build-llama-server\``,
  };
}

export interface LlamaServerInfo {
  path: string;
  source: FoundLlamaServer['source'];
  /** The first line of `--version`, e.g. "version: 0 (v0.4.0)". */
  version: string;
  /** GPU devices from `--list-devices` ("CUDA0: NVIDIA ..."); empty for a CPU-only build. */
  devices: string[];
}

/** Runs `--version` and `--list-devices` (each exits at once); null when the binary does not run. */
export async function probeLlamaServer(found: FoundLlamaServer, timeoutMs = 10_000): Promise<LlamaServerInfo | null> {
  const run = (arg: string) =>
    new Promise<string | null>((resolve) => {
      execFile(found.path, [arg], { encoding: 'utf8', timeout: timeoutMs, windowsHide: true }, (err, stdout, stderr) =>
        resolve(err ? null : `${stdout}\n${stderr}`),
      );
    });
  const [version, listed] = await Promise.all([run('--version'), run('--list-devices')]);
  if (version === null) return null;
  return { path: found.path, source: found.source, version: versionLine(version), devices: devicesOf(listed ?? '') };
}

export function versionLine(output: string): string {
  const lines = output.split('\n').map((l) => l.trim()).filter(Boolean);
  return lines.find((l) => /^version:/i.test(l)) ?? lines[0] ?? 'unknown version';
}

/** The device lines under "Available devices:" ("(none)" for a CPU-only build). */
export function devicesOf(output: string): string[] {
  const lines = output.split('\n');
  const start = lines.findIndex((l) => /^Available devices:/.test(l.trim()));
  if (start < 0) return [];
  return lines
    .slice(start + 1)
    .map((l) => l.trim())
    .filter((l) => l && l !== '(none)' && /^\S+: /.test(l));
}

/**
 * Clarification 9: the GUI calls llama-server faster only where it runs on the same kind of device
 * as the built-in engine would: both on the CPU, or both on a GPU. `builtinGpu` null is unknown.
 */
export function isFasterThanBuiltin(info: Pick<LlamaServerInfo, 'devices'>, builtinUsesGpu: boolean | null): boolean {
  if (builtinUsesGpu === null) return false;
  return info.devices.length > 0 === builtinUsesGpu;
}
