/**
 * Headless entry: `npm run serve -- [--models <dir>] [--data <dir>] [--port <n>] [--<setting> <value>]`.
 * Runs the same core as the desktop app, with no Electron. Flags override saved settings for
 * this run only.
 */
import { LoadoutError } from '../shared/errors';
import type { Settings } from '../shared/model';
import { SETTINGS_SCHEMA, SETTING_KEYS, coerceSetting } from '../shared/settings';
import { createCore } from './core/createCore';
import { SerialQueue } from './core/fsx/serialQueue';
import type { Core } from './core/createCore';
import { startHttpServer } from './core/server/httpServer';
import type { HttpServerHandle } from './core/server/httpServer';
import { apiListenHost } from './core/server/listenHost';
import { ensureWebUiBuilt } from './core/server/ui';
import { defaultDataDir } from './core/paths';

export interface ParsedArgs {
  command: 'serve' | 'help';
  overrides: Partial<Settings>;
}

const FLAG_TO_KEY = new Map<string, keyof Settings>();
for (const key of SETTING_KEYS) {
  FLAG_TO_KEY.set(key.replace(/_/g, '-'), key);
  const alias = SETTINGS_SCHEMA[key].alias;
  if (alias) FLAG_TO_KEY.set(alias, key);
}

export function parseArgs(argv: string[]): ParsedArgs {
  const args = [...argv];
  let command: ParsedArgs['command'] = 'serve';
  if (args[0] && !args[0].startsWith('-')) {
    const c = args.shift()!;
    if (c === 'serve' || c === 'help') command = c;
    else throw new LoadoutError('invalid', `unknown command "${c}" (try: serve, help)`);
  }
  const overrides: Record<string, unknown> = {};
  while (args.length > 0) {
    const arg = args.shift()!;
    if (arg === '--help' || arg === '-h') return { command: 'help', overrides: {} };
    if (!arg.startsWith('--')) throw new LoadoutError('invalid', `unexpected argument "${arg}" (flags look like --port 8765)`);
    let [flag, value] = arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined];
    let negated = false;
    if (!FLAG_TO_KEY.has(flag) && flag.startsWith('no-') && FLAG_TO_KEY.has(flag.slice(3))) {
      flag = flag.slice(3);
      negated = true;
    }
    const key = FLAG_TO_KEY.get(flag);
    if (!key) throw new LoadoutError('invalid', `unknown flag --${flag} (see --help)`);
    if (SETTINGS_SCHEMA[key].kind === 'bool') {
      if (value === undefined && args[0] !== undefined && /^(true|false)$/.test(args[0])) value = args.shift();
      value ??= negated ? 'false' : 'true';
    } else if (value === undefined) {
      if (args.length === 0 || args[0].startsWith('--')) throw new LoadoutError('invalid', `--${flag} needs a value`);
      value = args.shift();
    }
    const r = coerceSetting(key, value);
    if (!r.ok) throw new LoadoutError('invalid', `--${flag}: ${r.error}`);
    overrides[key] = r.value;
  }
  return { command, overrides: overrides as Partial<Settings> };
}

/** The --help text; `dataDir` is the data folder a run without --data uses. */
export function usage(dataDir = defaultDataDir()): string {
  const lines = ['Usage: npm run serve -- [flags]', '', 'Every setting is a flag (saved settings are overridden for this run only):'];
  for (const key of SETTING_KEYS) {
    const f = SETTINGS_SCHEMA[key];
    const flag = `--${key.replace(/_/g, '-')}${f.alias ? `, --${f.alias}` : ''}`;
    // The data folder's default is derived at run time (the schema's '' means that), so say where it is.
    const shownDefault =
      key === 'data_dir' ? ` (default ${dataDir})` : f.help.includes('(default') ? '' : ` (default ${JSON.stringify(f.default) || '""'})`;
    lines.push(`  ${flag.padEnd(34)} ${f.help}${shownDefault}`);
  }
  return lines.join('\n');
}

/**
 * Keeps the server's address in line with `api_lan` and `api_key` as they change (PUT
 * /api/settings, the page's settings), and the server status with it. Returns the unsubscribe.
 */
export function followLanSetting(core: Core, server: HttpServerHandle, say: (line: string) => void): () => void {
  const apply = async (s: Settings): Promise<void> => {
    const { host, warning } = apiListenHost(s);
    let error = warning;
    if (host !== server.host) {
      try {
        await server.setHost(host);
        say(host === '127.0.0.1' ? 'the API listens on 127.0.0.1 only (api_lan off)' : 'warning: the API listens on all interfaces (api_lan); every request needs the API key');
      } catch (e) {
        error = `Could not listen on ${host}:${server.port} (${(e as Error).message}); still on ${server.host}.`;
        say(`loadout: ${error}`);
      }
    }
    core.commands.setServerStatus({ listening: true, url: server.url.split('?')[0], host: server.host, port: server.port, error, apiKeySet: s.api_key !== '' });
  };
  // Changes apply one after another, each against the settings of its moment.
  const queue = new SerialQueue();
  void queue.run(() => apply(core.commands.settings())).catch(() => {});
  if (server.host !== '127.0.0.1') say('warning: the API listens on all interfaces (api_lan); every request needs the API key');
  return core.events.on((e) => {
    if (e.type === 'settings') void queue.run(() => apply(e.settings)).catch(() => {});
  });
}

/** Runs headless Loadout; `scripts/serve.mjs` calls this on the bundle, tests run it through tsx. */
export async function main(argv: string[] = process.argv.slice(2)): Promise<void> {
  // `npm run worker`: a cluster node (distributed-spec.md section 1), its own entry.
  if (argv[0] === 'worker') return (await import('./workerCli')).main(argv.slice(1));
  let parsed: ParsedArgs;
  try {
    parsed = parseArgs(argv);
  } catch (e) {
    process.stderr.write(`loadout: ${(e as Error).message}\n`);
    process.exit(2);
  }
  if (parsed.command === 'help') {
    process.stdout.write(`${usage()}\n`);
    return;
  }
  let core;
  try {
    core = await createCore({ overrides: parsed.overrides, onNotice: (n) => process.stdout.write(`note: ${n}\n`) });
  } catch (e) {
    process.stderr.write(`loadout: ${(e as Error).message}\n`);
    process.exit(1);
  }
  // Never serve with weaker security than the user saved (an api_key that could not be read).
  const problem = core.commands.settingsProblem();
  if (problem) {
    process.stderr.write(`loadout: not starting: ${problem}\n`);
    await core.dispose();
    process.exit(2);
  }
  let server: HttpServerHandle;
  const settings = core.commands.settings();
  try {
    server = await startHttpServer(core, { port: settings.api_port, host: apiListenHost(settings).host });
  } catch (e) {
    process.stderr.write(`loadout: ${(e as Error).message}\n`);
    await core.dispose();
    process.exit(1);
  }
  followLanSetting(core, server, (line) => process.stderr.write(`${line}\n`));
  // The first line is the contract: scripts and tests read the URL from it.
  process.stdout.write(`Open ${server.url}\n`);
  const s = core.commands.settings();
  process.stdout.write(`data: ${core.dataDir}\nmodels: ${s.models_dir}\n`);
  for (const n of core.notices) process.stdout.write(`note: ${n}\n`);
  // The page is built on first start (no separate build step); its lines come after the URL.
  const webUi = ensureWebUiBuilt();
  if (webUi.building) process.stdout.write(`${webUi.building}\n`);
  void webUi.done.then((line) => line && process.stdout.write(`${line}\n`));

  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: stopping backends...\n`);
    await server.close();
    await core.dispose();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
}

// Imported by tests for parseArgs; run only as the entry point.
if (process.argv[1] && /cli\.(ts|js|mjs)$/.test(process.argv[1])) void main(process.argv.slice(2));
