/**
 * The renderer's Vite config, used by both builds of the page: electron-vite (the desktop app,
 * electron.vite.config.ts's `renderer` section) and headless `npm run serve`, which builds
 * out/renderer on start when it is missing or older than its sources (src/main/core/server/ui.ts).
 * It lives here, not in src/renderer, because the renderer may not import node: modules.
 */
import { createRequire } from 'node:module';
import { dirname, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import react from '@vitejs/plugin-react';
import type { Plugin, UserConfig } from 'vite';

const renderer = resolve(dirname(fileURLToPath(import.meta.url)), 'src/renderer');

/** micromark decodes character references through `document` in a browser; the Markdown worker has none, so it gets the package's table version. */
const entitiesWithoutDom: Plugin = {
  name: 'entities-without-dom',
  enforce: 'pre',
  resolveId: (id) => (id === 'decode-named-character-reference' ? createRequire(import.meta.url).resolve(id) : null),
};

export function rendererConfig(): UserConfig {
  return {
    root: renderer,
    // Relative asset URLs: the same build is loaded from file:// (Electron) and from `/` (headless).
    base: './',
    plugins: [react()],
    worker: { format: 'es', plugins: () => [entitiesWithoutDom] },
    build: {
      outDir: resolve(renderer, '../../out/renderer'),
      emptyOutDir: true,
      target: 'chrome120',
      minify: true,
      reportCompressedSize: false,
      rollupOptions: { input: { index: resolve(renderer, 'index.html') } },
    },
  };
}

export default rendererConfig();
