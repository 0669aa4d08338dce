/**
 * Convention 1: layers import only downward. The core runs in plain Node (it never imports
 * electron), shared code is pure TypeScript, and the renderer never reaches into main.
 */
import { readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve, dirname, sep } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');

function sourceFiles(dir: string): string[] {
  const abs = join(root, dir);
  let out: string[] = [];
  let names: string[] = [];
  try {
    names = readdirSync(abs);
  } catch {
    return [];
  }
  for (const name of names) {
    const p = join(abs, name);
    if (statSync(p).isDirectory()) out = out.concat(sourceFiles(relative(root, p)));
    else if (/\.(ts|tsx|mts|mjs|js)$/.test(name)) out.push(p);
  }
  return out;
}

/** Every module specifier a file imports (static, dynamic, require, export-from). */
export function importsOf(source: string): string[] {
  const specs: string[] = [];
  const re = /(?:import|export)\s[^'"]*?from\s*['"]([^'"]+)['"]|import\s*['"]([^'"]+)['"]|import\(\s*['"]([^'"]+)['"]\s*\)|require\(\s*['"]([^'"]+)['"]\s*\)/g;
  for (const m of source.matchAll(re)) specs.push(m[1] ?? m[2] ?? m[3] ?? m[4]);
  return specs;
}

function violations(dir: string, bad: (spec: string, file: string) => boolean): string[] {
  const out: string[] = [];
  for (const file of sourceFiles(dir)) {
    for (const spec of importsOf(readFileSync(file, 'utf8'))) if (bad(spec, file)) out.push(`${relative(root, file)} imports ${spec}`);
  }
  return out;
}

const isElectron = (spec: string) => spec === 'electron' || spec.startsWith('electron/') || spec.startsWith('@electron/');

/** True when the relative import `spec` of `file` lands in the folder `dir` (relative to the root). */
function reaches(spec: string, file: string, dir: string): boolean {
  if (!spec.startsWith('.')) return false;
  const target = resolve(dirname(file), spec);
  const folder = join(root, dir);
  return target === folder || target.startsWith(folder + sep);
}

describe('layers', () => {
  it('the import scanner sees every import form (so the checks below can fail)', () => {
    const src = `import a from 'electron';\nimport { b } from "x";\nimport 'side';\nconst c = await import('dyn');\nconst d = require('req');\nexport { e } from './e';`;
    expect(importsOf(src)).toEqual(['electron', 'x', 'side', 'dyn', 'req', './e']);
  });

  it('the folder check sees a relative import into another layer (so the checks below can fail)', () => {
    const backendFile = join(root, 'src/backends/llama/server.ts');
    expect(reaches('../../main/core/grpc/types', backendFile, 'src/main')).toBe(true);
    expect(reaches('../../wire', backendFile, 'src/main')).toBe(false);
    expect(reaches('../../mainly', backendFile, 'src/main')).toBe(false);
  });

  it('src/main/core never imports electron', () => {
    expect(violations('src/main/core', isElectron)).toEqual([]);
  });

  it('the built-in backend never imports electron', () => {
    expect(violations('src/backends', isElectron)).toEqual([]);
  });

  it('the built-in backend is its own program: it never imports the app (src/main); the wire is in src/wire', () => {
    // Its tests make their GGUF inputs with the app's test-model maker; nothing the program runs does.
    const testInput = (spec: string, file: string) =>
      file.endsWith('.test.ts') && resolve(dirname(file), spec) === join(root, 'src/main/core/gguf/makeModel');
    expect(violations('src/backends', (spec, file) => reaches(spec, file, 'src/main') && !testInput(spec, file))).toEqual([]);
  });

  it('src/wire is neutral: it imports neither side (src/main, src/backends) nor electron', () => {
    expect(
      violations('src/wire', (spec, file) => isElectron(spec) || reaches(spec, file, 'src/main') || reaches(spec, file, 'src/backends')),
    ).toEqual([]);
  });

  it('src/shared imports nothing but other shared files (no node:, no electron, no DOM libs)', () => {
    const shared = join(root, 'src/shared');
    expect(
      // A shared module's own test may use the test runner; nothing shipped imports it.
      violations('src/shared', (spec, file) => !(file.endsWith('.test.ts') && spec === 'vitest') && (!spec.startsWith('.') || !resolve(dirname(file), spec).startsWith(shared))),
    ).toEqual([]);
  });

  it('the renderer never imports main or preload code', () => {
    expect(violations('src/renderer', (spec, file) => spec.startsWith('.') && /src\/(main|preload)\//.test(resolve(dirname(file), spec) + '/'))).toEqual([]);
    expect(violations('src/renderer', (spec) => isElectron(spec) || spec.startsWith('node:'))).toEqual([]);
  });
});
