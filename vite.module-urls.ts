import { dirname, join, relative, sep } from 'node:path';
import type { Plugin } from 'vite';

const ROOT_FROM_CHUNK = '__LOADOUT_ROOT_FROM_CHUNK__';
const ES_MODULE = /^\s*(import|export)\s/m;
/** Names an ES module can only have as its own bindings, and that electron-vite's CommonJS shim also declares per chunk. */
const SHIMMED_NAMES = ['__dirname', '__filename', 'require'];

/**
 * Packages inlined into our bundles keep their own `import.meta.url`. node-llama-cpp finds its
 * llama.cpp folder, its prebuilt binaries and the script it forks to test them from the URL of the
 * module asking; inlined, every module would otherwise see the chunk's URL. Each module's URL is
 * rebuilt at run time from the chunk's own URL and the module's place in the project, which the
 * packaged app keeps (out/ and node_modules/ side by side in app.asar.unpacked).
 *
 * Such modules also declare their own `__dirname`, `__filename` or `require`; electron-vite adds
 * a chunk-wide `const` of each name to any chunk that mentions one, and the two declarations would
 * collide. In an ES module those names are never globals, so they are renamed within it (a
 * name followed by a colon is taken for an object key and kept).
 */
export function keepModuleUrls(root: string): Plugin {
  const posix = (path: string) => path.split(sep).join('/');
  return {
    name: 'loadout:keep-module-urls',
    transform(code, id) {
      if (!/[\\/]node_modules[\\/].*\.m?js$/.test(id) || !ES_MODULE.test(code)) return null;
      let out = code;
      for (const name of SHIMMED_NAMES) {
        if (new RegExp(`\\b(const|let|var)\\s+${name}\\b`).test(out)) {
          out = out.replace(new RegExp(`(?<![.\\w$])${name}(?![\\w$]|\\s*:(?!:))`, 'g'), `__module_${name}`);
        }
      }
      if (out.includes('import.meta.url')) {
        const own = JSON.stringify(posix(relative(root, id)));
        out = out.replaceAll('import.meta.url', `new URL(${own}, new URL(${ROOT_FROM_CHUNK}, import.meta.url)).href`);
      }
      return out === code ? null : { code: out, map: null };
    },
    renderChunk(code, chunk, options) {
      if (!code.includes(ROOT_FROM_CHUNK)) return null;
      const chunkDir = dirname(join(options.dir ?? '', chunk.fileName));
      return { code: code.replaceAll(ROOT_FROM_CHUNK, JSON.stringify(`${posix(relative(chunkDir, root))}/`)), map: null };
    },
  };
}
