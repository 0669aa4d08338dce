/**
 * `npm run worker -- --nats URL --name N --models DIR --data DIR [--labels k=v,...]
 * [--heartbeat MS] [--listen HOST:PORT] [--advertise HOST] [every flag serve takes]`: a
 * headless core joined to a cluster (distributed-spec.md section 1). No HTTP API: frontends
 * reach it over NATS and its gateway port.
 */
import { hostname } from 'node:os';
import { LoadoutError } from '../shared/errors';
import type { Settings } from '../shared/model';
import { parseArgs } from './cli';
import { createCore } from './core/createCore';
import { Registry } from './core/cluster/registry';
import { WorkerAgent, defaultAdvertise } from './core/cluster/workerAgent';

export interface WorkerArgs {
  nats: string;
  name: string;
  labels: Record<string, string>;
  heartbeatMs: number;
  listenHost: string;
  listenPort: number;
  advertiseHost: string | null;
  overrides: Partial<Settings>;
  help: boolean;
}

export const WORKER_USAGE = `Usage: npm run worker -- --nats nats://user:pass@host:4222 [--name N] [flags]

Worker flags:
  --nats URL              the cluster's NATS server (required; nats:// or tls://)
  --name N                this node's name in the cluster (default: the host name)
  --labels k=v,...        labels frontends select nodes by (node_selector)
  --heartbeat MS          how often the node record is rewritten (default 2000; dead after 3)
  --listen HOST:PORT      where the gateway listens (default 0.0.0.0:0, a free port)
  --advertise HOST        the host frontends dial (default: the first LAN address)

Every flag of \`npm run serve\` applies too (--models, --data, --memory-budget, --max-active, ...).`;

const WORKER_FLAGS = new Set(['nats', 'name', 'labels', 'heartbeat', 'listen', 'advertise']);

function parseLabels(text: string): Record<string, string> {
  const labels: Record<string, string> = {};
  for (const pair of text.split(',').map((s) => s.trim()).filter(Boolean)) {
    const m = /^([A-Za-z0-9_.\-/]{1,63})=([A-Za-z0-9_.\-]{0,63})$/.exec(pair);
    if (!m) throw new LoadoutError('invalid', `--labels: "${pair}" is not key=value (letters, digits, _ . - /)`);
    labels[m[1]] = m[2];
  }
  return labels;
}

function parseListen(text: string): { host: string; port: number } {
  const m = /^(\[[0-9a-fA-F:.]+\]|[^:]+):(\d{1,5})$/.exec(text);
  const port = m ? Number(m[2]) : NaN;
  if (!m || port > 65535) throw new LoadoutError('invalid', `--listen: "${text}" is not HOST:PORT (e.g. 0.0.0.0:0)`);
  return { host: m[1].replace(/^\[|\]$/g, ''), port };
}

export function parseWorkerArgs(argv: string[]): WorkerArgs {
  const rest: string[] = [];
  const worker: Record<string, string> = {};
  let help = false;
  for (let i = 0; i < argv.length; i++) {
    const arg = argv[i];
    if (arg === '--help' || arg === '-h') help = true;
    const [flag, inline] = arg.startsWith('--') ? (arg.slice(2).split(/=(.*)/s, 2) as [string, string | undefined]) : ['', undefined];
    if (!WORKER_FLAGS.has(flag)) {
      rest.push(arg);
      continue;
    }
    const value = inline ?? argv[++i];
    if (value === undefined || (inline === undefined && value.startsWith('--'))) throw new LoadoutError('invalid', `--${flag} needs a value`);
    worker[flag] = value;
  }
  if (help) return { help: true, nats: '', name: '', labels: {}, heartbeatMs: 2000, listenHost: '0.0.0.0', listenPort: 0, advertiseHost: null, overrides: {} };
  const { overrides } = parseArgs(['serve', ...rest]);
  if (!worker.nats) throw new LoadoutError('invalid', '--nats is required (e.g. --nats nats://user:pass@host:4222)');
  const heartbeatMs = worker.heartbeat === undefined ? 2000 : Number(worker.heartbeat);
  if (!Number.isInteger(heartbeatMs) || heartbeatMs < 50 || heartbeatMs > 60_000) throw new LoadoutError('invalid', `--heartbeat must be milliseconds between 50 and 60000 (got ${worker.heartbeat})`);
  const name = worker.name ?? hostname();
  if (!name || name.length > 128 || /[\u0000-\u001f]/.test(name)) throw new LoadoutError('invalid', '--name must be 1-128 printable characters');
  const listen = parseListen(worker.listen ?? '0.0.0.0:0');
  return { help: false, nats: worker.nats, name, labels: parseLabels(worker.labels ?? ''), heartbeatMs, listenHost: listen.host, listenPort: listen.port, advertiseHost: worker.advertise ?? null, overrides };
}

export async function main(argv: string[]): Promise<void> {
  const fail = (code: number, message: string): never => {
    process.stderr.write(`loadout worker: ${message}\n`);
    process.exit(code);
  };
  let args: WorkerArgs;
  try {
    args = parseWorkerArgs(argv);
  } catch (e) {
    return fail(2, (e as Error).message);
  }
  if (args.help) {
    process.stdout.write(`${WORKER_USAGE}\n`);
    return;
  }
  const say = (line: string) => process.stderr.write(`${line}\n`);
  let registry: Registry;
  try {
    // Join first: a worker that cannot reach its cluster starts no backend (D6).
    registry = await Registry.connect({ url: args.nats, clientName: `loadout-worker ${args.name}`, log: say, tlsCa: args.overrides.cluster_tls_ca || undefined });
  } catch (e) {
    return fail(1, (e as Error).message);
  }
  let core;
  try {
    core = await createCore({ overrides: args.overrides, demoModel: false, onNotice: (n) => say(`note: ${n}`) });
  } catch (e) {
    await registry.close();
    return fail(1, (e as Error).message);
  }
  let agent: WorkerAgent;
  const stopAll = async () => {
    await agent?.stop().catch(() => {});
    await core.dispose();
    await registry.close();
  };
  try {
    agent = await WorkerAgent.start({
      core,
      router: core.router,
      registry,
      name: args.name,
      labels: args.labels,
      heartbeatMs: args.heartbeatMs,
      listenHost: args.listenHost,
      listenPort: args.listenPort,
      advertiseHost: args.advertiseHost ?? defaultAdvertise(args.listenHost),
      version: process.env.npm_package_version ?? 'dev',
      log: say,
      onLost: (why) => {
        say(`loadout worker: ${why}; stopping`);
        void stopAll().then(() => process.exit(1));
      },
    });
  } catch (e) {
    await core.dispose();
    await registry.close();
    return fail(1, (e as Error).message);
  }
  process.stdout.write(`Worker ${args.name} joined ${registry.shownUrl}; gateway ${agent.gatewayAddress}\n`);
  process.stdout.write(`data: ${core.dataDir}\nmodels: ${core.commands.settings().models_dir}\n`);
  for (const n of core.notices) process.stdout.write(`note: ${n}\n`);
  let stopping = false;
  const stop = async (signal: string) => {
    if (stopping) return;
    stopping = true;
    process.stdout.write(`${signal}: leaving the cluster and stopping backends...\n`);
    await stopAll();
    process.exit(0);
  };
  process.on('SIGINT', () => void stop('SIGINT'));
  process.on('SIGTERM', () => void stop('SIGTERM'));
  process.on('SIGHUP', () => void stop('SIGHUP'));
}

if (process.argv[1] && /workerCli\.(ts|js|mjs)$/.test(process.argv[1])) void main(process.argv.slice(2));
