/**
 * The build inlines node-llama-cpp into the backend's chunk (electron.vite.config.ts), and
 * node-llama-cpp finds its llama.cpp folder and binaries from its modules' own URLs. A real vite
 * build of a stand-in package checks that an inlined module still sees its own file, from a chunk
 * in another folder, wherever the project is moved; the packaging test loads a model through the
 * real inlined node-llama-cpp.
 */
import { spawnSync } from 'node:child_process';
import { cpSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { build, type Plugin } from 'vite';
import { afterAll, describe, expect, it } from 'vitest';
import { keepModuleUrls } from '../vite.module-urls';

const dirs: string[] = [];
afterAll(() => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true });
});

function transform(plugin: Plugin, code: string, id: string): string | null {
  const hook = plugin.transform as (code: string, id: string) => { code: string } | null;
  return hook.call({}, code, id)?.code ?? null;
}

describe('keepModuleUrls', () => {
  it('an inlined package module reads its own file from import.meta.url, from a chunk elsewhere, after the project moves', async () => {
    const root = mkdtempSync(join(os.tmpdir(), 'loadout-module-urls-'));
    dirs.push(root);
    const pkg = join(root, 'node_modules', 'fake-llama');
    mkdirSync(join(pkg, 'dist', 'bindings'), { recursive: true });
    writeFileSync(join(pkg, 'package.json'), JSON.stringify({ name: 'fake-llama', type: 'module', exports: './dist/index.js' }));
    writeFileSync(join(pkg, 'dist', 'index.js'), 'export { binaryFolder, ownFile } from "./bindings/locate.js";\n');
    // As node-llama-cpp does: its own __dirname from import.meta.url, and a require of its own.
    writeFileSync(
      join(pkg, 'dist', 'bindings', 'locate.js'),
      [
        'import path from "node:path";',
        'import { createRequire } from "node:module";',
        'import { fileURLToPath } from "node:url";',
        'const __dirname = path.dirname(fileURLToPath(import.meta.url));',
        'const require = createRequire(import.meta.url);',
        'export const ownFile = fileURLToPath(import.meta.url);',
        'export const binaryFolder = path.join(__dirname, "..", "..", "bins");',
        'export const version = require("../../package.json").name;',
        '',
      ].join('\n'),
    );
    mkdirSync(join(root, 'src'));
    writeFileSync(join(root, 'src', 'entry.js'), 'const m = await import("fake-llama");\nconsole.log(JSON.stringify({ ownFile: m.ownFile, binaryFolder: m.binaryFolder }));\n');
    await build({
      root,
      configFile: false,
      logLevel: 'silent',
      plugins: [keepModuleUrls(root)],
      ssr: { noExternal: true },
      build: { ssr: join(root, 'src', 'entry.js'), outDir: join(root, 'out', 'main'), rollupOptions: { output: { format: 'es', entryFileNames: 'backend/[name].js', chunkFileNames: 'chunks/[name].js' } } },
    });
    // The packaged app keeps out/ and node_modules/ side by side somewhere else entirely.
    const moved = mkdtempSync(join(os.tmpdir(), 'loadout-module-urls-moved-'));
    dirs.push(moved);
    cpSync(join(root, 'out'), join(moved, 'out'), { recursive: true });
    cpSync(join(root, 'node_modules'), join(moved, 'node_modules'), { recursive: true });
    writeFileSync(join(moved, 'package.json'), JSON.stringify({ type: 'module' }));
    const run = spawnSync(process.execPath, [join(moved, 'out', 'main', 'backend', 'entry.js')], { encoding: 'utf8' });
    expect(run.stderr).toBe('');
    expect(JSON.parse(run.stdout)).toEqual({
      ownFile: join(moved, 'node_modules', 'fake-llama', 'dist', 'bindings', 'locate.js'),
      binaryFolder: join(moved, 'node_modules', 'fake-llama', 'bins'),
    });
  });

  it("renames an ES module's own __dirname, __filename and require (electron-vite declares them chunk-wide), never a property or a CommonJS global", () => {
    const plugin = keepModuleUrls('/app');
    const esm = [
      'import path from "node:path";',
      'const __filename = "f"; const __dirname = path.dirname(__filename);',
      'const require = make();',
      'export const x = { __dirname: 1, require: require("a") };',
      'export const y = obj.require + obj.__dirname + require.resolve("b");',
    ].join('\n');
    expect(transform(plugin, esm, '/app/node_modules/p/dist/a.js')).toBe(
      [
        'import path from "node:path";',
        'const __module___filename = "f"; const __module___dirname = path.dirname(__module___filename);',
        'const __module_require = make();',
        'export const x = { __dirname: 1, require: __module_require("a") };',
        'export const y = obj.require + obj.__dirname + __module_require.resolve("b");',
      ].join('\n'),
    );
    // CommonJS: __dirname is the module's global; our own sources are not touched either.
    expect(transform(plugin, 'var p = require("path"); module.exports = p.join(__dirname, "x");', '/app/node_modules/c/index.js')).toBeNull();
    expect(transform(plugin, 'import a from "b";\nconst __dirname = import.meta.url;', '/app/src/main.ts')).toBeNull();
  });
});
