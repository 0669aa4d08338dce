/**
 * Postinstall: lets node-llama-cpp 3.21.1 skip its binary self-test for a binary that already
 * passed it (issue 15, clarifications 9).
 *
 * Before loading a prebuilt binary on Linux, getLlama forks a child that loads it and reports
 * back, about 0.5-1 s of every backend's start; nothing in its options turns that off. The patch
 * wraps `testBindingBinary` in `dist/bindings/utils/testBindingBinary.js`: when the environment
 * variable PASSED_BINARY_TESTS_ENV names a folder, a pass is remembered there under a key made of the
 * binary's path, size and mtime (and the GPU type), and the same binary is not tested again.
 * Without the variable the file behaves exactly as shipped.
 *
 * The file is only changed when it is byte for byte the one this patch was made for (checked by
 * hash); any other version is left alone with a warning, and the self-test keeps running.
 */
import { createHash } from 'node:crypto';
import { readFileSync, writeFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { PASSED_BINARY_TESTS_ENV } from '../src/backends/llama/runtime';

export const TARGET = join('dist', 'bindings', 'utils', 'testBindingBinary.js');
const SHIPPED_SHA256 = '87857f7fcddbf87c4d14a32331f88b3fefb5c40471f7b0151e94d46d881d6354';

const EXPORTED = 'export async function testBindingBinary(';
const IMPORTS = 'import * as loadoutFs from "node:fs";\nimport { createHash as loadoutHash } from "node:crypto";\n';
const WRAPPER = `
// Loadout patch (scripts/patch-node-llama-cpp.ts): remember a passed self-test per binary.
export async function testBindingBinary(bindingBinaryPath, extBackendsPath, gpu, testTimeout, pipeOutputOnNode) {
    const run = () => testBindingBinaryEveryTime(bindingBinaryPath, extBackendsPath, gpu, testTimeout, pipeOutputOnNode);
    const folder = process.env.${PASSED_BINARY_TESTS_ENV};
    if (!folder)
        return run();
    let marker;
    try {
        const files = [bindingBinaryPath, extBackendsPath].filter((p) => p != null).map((p) => {
            const stat = loadoutFs.statSync(p);
            return [p, stat.size, stat.mtimeMs];
        });
        const key = JSON.stringify({ files, gpu, platform: process.platform, arch: process.arch, node: process.versions.modules });
        marker = path.join(folder, loadoutHash("sha256").update(key).digest("hex").slice(0, 32));
        if (loadoutFs.existsSync(marker))
            return true;
    }
    catch {
        marker = undefined;
    }
    const passed = await run();
    if (passed && marker != null) {
        try {
            loadoutFs.mkdirSync(folder, { recursive: true });
            loadoutFs.writeFileSync(marker, "passed\\n");
        }
        catch {
            // Not remembered: the next start tests again.
        }
    }
    return passed;
}
`;

const sha256 = (text: string): string => createHash('sha256').update(text).digest('hex');

export function patchedText(shipped: string): string {
  return IMPORTS + shipped.replace(EXPORTED, 'async function testBindingBinaryEveryTime(') + WRAPPER;
}

/** The shipped file back from a patched one (the installed package is patched by postinstall). */
export function shippedText(text: string): string {
  if (!text.startsWith(IMPORTS) || !text.endsWith(WRAPPER)) return text;
  return text.slice(IMPORTS.length, text.length - WRAPPER.length).replace('async function testBindingBinaryEveryTime(', EXPORTED);
}

export type PatchOutcome = 'patched' | 'already patched' | 'unknown version';

/** Patches node-llama-cpp's package folder `packageDir` in place. */
export function patchNodeLlamaCpp(packageDir: string): PatchOutcome {
  const file = join(packageDir, TARGET);
  const text = readFileSync(file, 'utf8');
  if (sha256(text) === SHIPPED_SHA256) {
    writeFileSync(file, patchedText(text));
    return 'patched';
  }
  // Compared by content rather than a stored hash, so the two cannot drift apart.
  return text.startsWith(IMPORTS) && text.includes('testBindingBinaryEveryTime') ? 'already patched' : 'unknown version';
}

if (import.meta.url === pathToFileURL(process.argv[1] ?? '').href) {
  // The package exports no package.json: its entry point is dist/index.js.
  const packageDir = dirname(dirname(createRequire(import.meta.url).resolve('node-llama-cpp')));
  const outcome = patchNodeLlamaCpp(packageDir);
  if (outcome === 'unknown version') {
    console.warn(
      `patch-node-llama-cpp: ${join(packageDir, TARGET)} is not the node-llama-cpp 3.21.1 file this patch was made for; ` +
        'left unchanged, so every backend start runs the binary self-test (about 1 s). Update the patch for this version.',
    );
  } else {
    console.log(`patch-node-llama-cpp: ${outcome}`);
  }
}
