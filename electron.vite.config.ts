import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { keepModuleUrls } from './vite.module-urls';
import { rendererConfig } from './vite.renderer.config';

// Main bundles the Electron glue and, as a second entry, the built-in llama backend
// (out/main/backend/index.js), which the app runs with its own binary as plain Node (L9).
export default defineConfig({
  main: {
    // node-llama-cpp and its ~40 packages are inlined into the backend's chunk: as ~500 separate
    // ES modules, importing it took 400-620 ms of a fresh backend's start, inlined 91-108 ms.
    // What stays outside: its native parts (prebuilt binary packages, .node files) and Electron.
    plugins: [keepModuleUrls(__dirname)],
    build: {
      externalizeDeps: { exclude: ['node-llama-cpp'] },
      rollupOptions: {
        external: [/^@node-llama-cpp\//, /^@reflink\//, /\.node$/],
        input: {
          index: resolve(__dirname, 'src/main/electron/main.ts'),
          'backend/index': resolve(__dirname, 'src/backends/llama/main.ts'),
          // Headless mode (`npm run serve`) runs this bundle with plain node.
          cli: resolve(__dirname, 'src/main/cli.ts'),
        },
      },
    },
  },
  preload: {
    build: {
      rollupOptions: {
        input: { index: resolve(__dirname, 'src/preload/index.ts') },
        // A sandboxed preload must be one CommonJS file.
        output: { format: 'cjs', entryFileNames: '[name].cjs' },
      },
    },
  },
  // One renderer config for the desktop build and headless serve (React, relative asset URLs).
  renderer: rendererConfig(),
});
