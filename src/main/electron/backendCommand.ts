/**
 * How the desktop app runs the built-in llama backend (L9): Electron's own binary as plain Node
 * (ELECTRON_RUN_AS_NODE=1) on the bundled `out/main/backend/index.js`, read from
 * `app.asar.unpacked` in a packaged app, since a child process runs files, not archive entries.
 * Users need no Node.js installed.
 */
import type { BuiltinCommand } from '../core/backends/builtin';
import { bundledBackendEntry } from '../core/backends/builtin';

/**
 * @param execPath the Electron binary (`process.execPath` in the main process)
 * @param mainFile the main bundle's own file (`fileURLToPath(import.meta.url)`), which the backend
 *   entry is found next to
 */
export function electronBackendCommand(execPath: string, mainFile: string): BuiltinCommand {
  return { command: execPath, args: [bundledBackendEntry(mainFile)], env: { ELECTRON_RUN_AS_NODE: '1' } };
}
