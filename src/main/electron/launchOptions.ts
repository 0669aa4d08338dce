/**
 * What the desktop app takes from its command line and environment: another data folder
 * (`--data <dir>`, `--data=<dir>` or LOADOUT_DATA_DIR), so tests and second profiles never touch
 * the user's own. Chromium's own switches in argv are left alone.
 */
import { resolve } from 'node:path';

export const DATA_DIR_ENV = 'LOADOUT_DATA_DIR';

export function dataDirFromLaunch(argv: readonly string[], env: NodeJS.ProcessEnv): string | null {
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--data' && argv[i + 1] && !argv[i + 1].startsWith('--')) return resolve(argv[i + 1]);
    if (arg.startsWith('--data=') && arg.length > '--data='.length) return resolve(arg.slice('--data='.length));
  }
  return env[DATA_DIR_ENV] ? resolve(env[DATA_DIR_ENV]) : null;
}
