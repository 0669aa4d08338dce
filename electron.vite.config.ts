import { resolve } from 'node:path';
import { defineConfig } from 'electron-vite';
import { rendererConfig } from './vite.renderer.config';

// Main bundles the Electron glue and, as a second entry, the built-in llama backend
// (out/main/backend/index.js), which the app runs with its own binary as plain Node (L9).
export default defineConfig({
  main: {
    build: {
      rollupOptions: {
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
