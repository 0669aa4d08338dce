/**
 * The installed app as a cluster worker (distributed-spec section 1): `loadout worker --nats ...`
 * (and `loadout serve ...`) run the headless entry inside the desktop binary, so a machine with
 * the app installed needs no Node.js or checkout to join a cluster. The GUI is never started in
 * these modes: no window, no tray, no single-instance lock (a worker runs beside the user's own
 * app on the same machine).
 */
import type { App } from 'electron';

/** Headless commands the desktop binary takes as its first argument. */
export const CLI_COMMANDS: readonly string[] = ['worker', 'serve'];

export type LaunchMode = { kind: 'gui' } | { kind: 'cli'; argv: string[] };

/**
 * What a launch asks for. The packaged binary's argv is `[exe, ...args]`; `electron <app dir>`
 * (development) has the app's path in between. Only a first argument that is a command counts,
 * so Chromium switches and file paths a desktop opens the app with stay the GUI's.
 */
export function launchMode(argv: readonly string[], app: Pick<App, 'isPackaged'>): LaunchMode {
  const args = argv.slice(app.isPackaged ? 1 : 2);
  return args.length > 0 && CLI_COMMANDS.includes(args[0]) ? { kind: 'cli', argv: [...args] } : { kind: 'gui' };
}

export interface CliLaunchOptions {
  app: Pick<App, 'on' | 'exit'> & { dock?: Pick<NonNullable<App['dock']>, 'hide'> };
  /** The headless entry's `main` (src/main/cli.ts), which runs `worker` and `serve`. */
  cli: () => Promise<{ main(argv: string[]): Promise<void> }>;
  log: (line: string) => void;
}

/**
 * Runs the headless command in this process. The command owns the process from here: it exits on
 * its own failures and on SIGINT/SIGTERM/SIGHUP (its handlers). Electron would otherwise keep
 * running after `--help` printed, so that ends the app; a failure to even start it exits 1.
 */
export async function runCliLaunch(argv: string[], o: CliLaunchOptions): Promise<void> {
  // No dock icon on macOS, and no window to close: nothing in Electron quits the app by itself.
  o.app.dock?.hide();
  o.app.on('window-all-closed', () => {});
  try {
    const cli = await o.cli();
    await cli.main(argv);
  } catch (e) {
    o.log(`loadout ${argv[0]}: ${(e as Error).message}`);
    o.app.exit(1);
    return;
  }
  if (argv.includes('--help') || argv.includes('-h')) o.app.exit(0);
}
