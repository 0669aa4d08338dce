/**
 * The cluster tests' harness (distributed-spec.md section 5): a real nats-server on a free
 * loopback port with its own store dir, real worker processes (the `npm run worker` entry
 * through tsx), a client on the registry, and a TCP relay that can cut a link.
 */
import { spawn, type ChildProcess } from 'node:child_process';
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { createServer, connect as tcpConnect, type Server, type Socket } from 'node:net';
import os from 'node:os';
import { delimiter, dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { makeModel } from '../../src/main/core/gguf/makeModel';
import { inventoryKey, loadClaimKey, mergeNodeRecord, nodeKey, nodeSubject, parseNodeHeartbeat, parseNodeInventory, type NodeEvent, type NodeRecord } from '../../src/main/core/cluster/protocol';
import { Registry } from '../../src/main/core/cluster/registry';
import { freePort } from '../../src/wire';
import { faultBackendPath, pidAlive, waitUntil } from '../fixtures/backends';

export { pidAlive, waitUntil };

// import.meta.url, not __dirname: scripts/bench-cluster.ts loads this file as ESM through tsx.
const root = resolve(dirname(fileURLToPath(import.meta.url)), '..', '..');
const cleanups: (() => Promise<void> | void)[] = [];
/** Every child started here, so none outlives the test run even when a hook times out. */
const children = new Set<ChildProcess>();
process.once('exit', () => {
  for (const c of children) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
});

/** afterEach: stops every worker, relay, client and server a test started, newest first. */
export async function cleanupCluster(): Promise<void> {
  for (const c of cleanups.splice(0).reverse()) await c();
}

/** A temp folder removed by cleanupCluster. */
export function tempDir(prefix: string): string {
  const dir = mkdtempSync(join(os.tmpdir(), prefix));
  cleanups.push(() => rmSync(dir, { recursive: true, force: true }));
  return dir;
}

/** `$LOADOUT_NATS_SERVER`, then PATH, then /usr/sbin (Debian's package puts it there). */
export function natsServerBinary(): string {
  const candidates = [process.env.LOADOUT_NATS_SERVER, ...(process.env.PATH ?? '').split(delimiter).map((d) => join(d, 'nats-server')), '/usr/sbin/nats-server'];
  for (const c of candidates) if (c && existsSync(c)) return c;
  throw new Error('nats-server is not installed: `sudo apt-get install nats-server` (or set LOADOUT_NATS_SERVER to its path)');
}

export interface NatsOptions {
  jetstream?: boolean;
  user?: string;
  pass?: string;
  /** Serve TLS only (tls:// URL) with this certificate and key (PEM text). */
  tls?: { cert: string; key: string; ca: string };
}

/** tls:// servers' CA files, so clusterClient and startWorker can connect to them. */
const caFiles = new Map<string, string>();

export interface Nats {
  /** `nats://[user:pass@]127.0.0.1:<port>` (tls:// with `tls`). */
  url: string;
  /** With `tls`: the CA's PEM file, for cluster_tls_ca. */
  caFile: string | null;
  port: number;
  /** SIGKILLs the server (the port stays reserved for restart()). */
  kill(): Promise<void>;
  /** Starts it again on the same port and store dir. */
  restart(): Promise<void>;
}

export async function startNats(o: NatsOptions = {}): Promise<Nats> {
  const bin = natsServerBinary();
  const dir = tempDir('loadout-nats-');
  const port = await freePort();
  const lines = ['host: 127.0.0.1', `port: ${port}`, 'ping_interval: "1s"'];
  if (o.jetstream !== false) lines.push(`jetstream { store_dir: ${JSON.stringify(join(dir, 'js'))} }`);
  let caFile: string | null = null;
  if (o.tls) {
    writeFileSync(join(dir, 'server.pem'), o.tls.cert);
    writeFileSync(join(dir, 'server.key'), o.tls.key);
    caFile = join(dir, 'ca.pem');
    writeFileSync(caFile, o.tls.ca);
    lines.push(`tls { cert_file: ${JSON.stringify(join(dir, 'server.pem'))}, key_file: ${JSON.stringify(join(dir, 'server.key'))} }`);
  }
  if (o.user) lines.push(`authorization { user: ${JSON.stringify(o.user)}, password: ${JSON.stringify(o.pass ?? '')} }`);
  const conf = join(dir, 'nats.conf');
  writeFileSync(conf, `${lines.join('\n')}\n`);
  let child: ChildProcess | null = null;
  let log = '';
  const start = async () => {
    child = spawn(bin, ['-c', conf], { stdio: ['ignore', 'pipe', 'pipe'] });
    const c = child;
    children.add(c);
    c.stdout!.on('data', (d) => (log += d));
    c.stderr!.on('data', (d) => (log += d));
    await waitUntil(
      () => {
        if (c.exitCode !== null) throw new Error(`nats-server exited: ${log}`);
        return /Server is ready/.test(log);
      },
      'nats-server to be ready',
      { timeoutMs: 10_000 },
    );
  };
  const kill = async () => {
    const c = child;
    if (!c || c.exitCode !== null || c.signalCode !== null) return;
    const exited = new Promise((r) => c.once('exit', r));
    c.kill('SIGKILL');
    await exited;
  };
  await start();
  cleanups.push(kill);
  const auth = o.user ? `${encodeURIComponent(o.user)}:${encodeURIComponent(o.pass ?? '')}@` : '';
  const url = `${o.tls ? 'tls' : 'nats'}://${auth}127.0.0.1:${port}`;
  if (caFile) caFiles.set(url, caFile);
  return {
    url,
    caFile,
    port,
    kill,
    restart: async () => {
      await kill();
      log = '';
      await start();
    },
  };
}

/** A registry client for the test's own reads (closed by cleanupCluster). */
export async function clusterClient(url: string): Promise<Registry> {
  const r = await Registry.connect({ url, clientName: 'test', log: () => {}, tlsCa: caFiles.get(url) });
  cleanups.push(() => r.close());
  return r;
}

/** A node's record as a frontend merges it: its heartbeat with its incarnation's inventory; null without both. */
export async function readRecord(client: Registry, name: string): Promise<NodeRecord | null> {
  const [h, inv] = await Promise.all([client.bucket('nodes').get(nodeKey(name)), client.bucket('nodes').get(inventoryKey(name))]);
  if (!h || h.operation !== 'PUT' || !inv || inv.operation !== 'PUT') return null;
  const heartbeat = parseNodeHeartbeat(h.value);
  const inventory = parseNodeInventory(inv.value);
  return heartbeat.ok && inventory.ok ? mergeNodeRecord(heartbeat.value, inventory.value) : null;
}

/**
 * Whether a load claim for `model` is held: a direct get of its key (the KV's `keys()` listing
 * runs a consumer that now and then never finishes, which hung a test for its whole timeout).
 */
export async function claimHeld(client: Registry, model: string): Promise<boolean> {
  const e = await client.bucket('claims').get(loadClaimKey(model));
  return e !== null && e.operation === 'PUT';
}

export interface WorkerOptions {
  name: string;
  /** File name -> YAML text written into the worker's models folder. */
  configs?: Record<string, string>;
  /** Tiny GGUF models to generate (stem -> seed). */
  ggufs?: Record<string, number>;
  heartbeatMs?: number;
  /** More flags (settings such as --max-active, --memory-budget). */
  args?: string[];
  /** Reuse folders (a restarted worker). */
  dataDir?: string;
  modelsDir?: string;
}

export interface Worker {
  name: string;
  child: ChildProcess;
  dataDir: string;
  modelsDir: string;
  stdout(): string;
  stderr(): string;
  exited: Promise<number | null>;
  /** Its first record (written when it joined). */
  record: NodeRecord;
  kill(signal?: NodeJS.Signals): Promise<void>;
}

/** Runs the worker CLI as `npm run worker` does, without waiting for anything. */
export function spawnWorker(nats: string, o: WorkerOptions): { child: ChildProcess; dataDir: string; modelsDir: string; out: { stdout: string; stderr: string }; exited: Promise<number | null> } {
  const dataDir = o.dataDir ?? join(tempDir('loadout-worker-'), 'data');
  const modelsDir = o.modelsDir ?? join(dataDir, '..', 'models');
  mkdirSync(dataDir, { recursive: true });
  mkdirSync(modelsDir, { recursive: true });
  for (const [file, text] of Object.entries(o.configs ?? {})) writeFileSync(join(modelsDir, file), text);
  writeFileSync(join(dataDir, 'backends-registry.json'), JSON.stringify({ version: 1, backends: [{ name: 'fault', target: faultBackendPath(), kind: 'program' }] }));
  const args = ['--import', 'tsx', 'src/main/workerCli.ts', '--nats', nats, '--name', o.name, '--models', modelsDir, '--data', dataDir];
  args.push('--heartbeat', String(o.heartbeatMs ?? 250), '--listen', '127.0.0.1:0', '--warm-standby', 'false', ...(o.args ?? []));
  const ca = caFiles.get(nats);
  if (ca && !args.includes('--cluster-tls-ca')) args.push('--cluster-tls-ca', ca);
  const child = spawn(process.execPath, args, { cwd: root, stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  const out = { stdout: '', stderr: '' };
  child.stdout!.on('data', (d) => (out.stdout += d));
  child.stderr!.on('data', (d) => (out.stderr += d));
  const exited = new Promise<number | null>((r) => child.once('exit', (code) => r(code)));
  return { child, dataDir, modelsDir, out, exited };
}

/** Starts a worker and resolves once its record is in the registry. */
export async function startWorker(nats: string, o: WorkerOptions): Promise<Worker> {
  const dataDir = o.dataDir ?? join(tempDir('loadout-worker-'), 'data');
  const modelsDir = o.modelsDir ?? join(dataDir, '..', 'models');
  mkdirSync(modelsDir, { recursive: true });
  for (const [stem, seed] of Object.entries(o.ggufs ?? {})) {
    const file = join(modelsDir, `${stem}.gguf`);
    if (!existsSync(file)) await makeModel(file, { preset: 'tiny', seed });
  }
  const spawned = spawnWorker(nats, { ...o, dataDir, modelsDir });
  const kill = async (signal: NodeJS.Signals = 'SIGKILL') => {
    if (spawned.child.exitCode !== null || spawned.child.signalCode !== null) return;
    spawned.child.kill(signal);
    await spawned.exited;
  };
  cleanups.push(() => kill('SIGTERM'));
  const client = await clusterClient(nats);
  const record = await waitUntil(
    async () => {
      if (spawned.child.exitCode !== null) throw new Error(`worker ${o.name} exited ${spawned.child.exitCode}: ${spawned.out.stderr}`);
      const r = await readRecord(client, o.name);
      return r && spawned.out.stdout.includes('joined') ? r : null;
    },
    `worker ${o.name}'s record`,
    { timeoutMs: 30_000, intervalMs: 50 },
  );
  return {
    name: o.name,
    child: spawned.child,
    dataDir: spawned.dataDir,
    modelsDir: spawned.modelsDir,
    stdout: () => spawned.out.stdout,
    stderr: () => spawned.out.stderr,
    exited: spawned.exited,
    record,
    kill,
  };
}

export interface Relay {
  /** `127.0.0.1:<port>` that forwards to the target. */
  address: string;
  port: number;
  /** Drops every connection and refuses new ones (a partition). */
  cut(): void;
  heal(): void;
}

/**
 * A TCP relay to `target` (host:port) that a test can cut and heal. `delayMs` holds every chunk
 * that long in each direction (order kept): a slow link, so a peer's view of NATS is that old.
 */
export async function relay(target: { host: string; port: number }, o: { delayMs?: number } = {}): Promise<Relay> {
  const sockets = new Set<Socket>();
  let cutNow = false;
  const server: Server = createServer((inbound) => {
    if (cutNow) return void inbound.destroy();
    const outbound = tcpConnect(target.port, target.host);
    for (const s of [inbound, outbound]) {
      sockets.add(s);
      s.on('close', () => sockets.delete(s));
      s.on('error', () => {
        inbound.destroy();
        outbound.destroy();
      });
    }
    const delay = o.delayMs ?? 0;
    if (delay <= 0) {
      inbound.pipe(outbound);
      outbound.pipe(inbound);
    } else {
      const forward = (from: Socket, to: Socket) => from.on('data', (d: Buffer) => void setTimeout(() => !to.destroyed && to.write(d), delay));
      forward(inbound, outbound);
      forward(outbound, inbound);
    }
  });
  await new Promise<void>((r) => server.listen(0, '127.0.0.1', () => r()));
  const port = (server.address() as { port: number }).port;
  cleanups.push(
    () =>
      new Promise<void>((r) => {
        for (const s of sockets) s.destroy();
        server.close(() => r());
      }),
  );
  return {
    address: `127.0.0.1:${port}`,
    port,
    cut: () => {
      cutNow = true;
      for (const s of sockets) s.destroy();
    },
    heal: () => {
      cutNow = false;
    },
  };
}

/**
 * A private CA and a NATS server certificate it signed for 127.0.0.1 (PEM texts), made at run
 * time: no key material is committed.
 */
export async function makeNatsTls(): Promise<{ ca: string; cert: string; key: string }> {
  const { generate } = await import('selfsigned');
  const ca = await generate([{ name: 'commonName', value: 'loadout test CA' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    extensions: [
      { name: 'basicConstraints', cA: true, critical: true },
      { name: 'keyUsage', keyCertSign: true, cRLSign: true, digitalSignature: true, critical: true },
    ],
  });
  const server = await generate([{ name: 'commonName', value: 'nats test server' }], {
    keyType: 'ec',
    curve: 'P-256',
    algorithm: 'sha256',
    ca: { key: ca.private, cert: ca.cert },
    extensions: [
      { name: 'basicConstraints', cA: false },
      { name: 'keyUsage', digitalSignature: true, keyEncipherment: true },
      { name: 'extKeyUsage', serverAuth: true },
      { name: 'subjectAltName', altNames: [{ type: 7, ip: '127.0.0.1' }, { type: 2, value: 'localhost' }] },
    ],
  });
  return { ca: ca.cert, cert: server.cert, key: server.private };
}

/** Every event a node publishes from now on (`loadout.node.<name>.events`), in arrival order. */
export function nodeEvents(client: Registry, node: string): NodeEvent[] {
  const events: NodeEvent[] = [];
  client.nc.subscribe(nodeSubject(node, 'events'), { callback: (_e, m) => void events.push(JSON.parse(new TextDecoder().decode(m.data)) as NodeEvent) });
  return events;
}

/** The journal entries among a node's events. */
export function journalOf(events: readonly NodeEvent[]): { model: string; reason: string; node: string; sentence: string }[] {
  return events.filter((e) => e.type === 'journal').map((e) => e.entry as unknown as { model: string; reason: string; node: string; sentence: string });
}

/**
 * A frontend as `npm run serve` in its own process (so a test can really kill it), on the fault
 * backend, with `configs` in its models folder and `settings` beside the cluster's. Resolves once
 * it listens, with its base URL; cleanupCluster kills it.
 */
export async function startFrontendProcess(natsUrl: string, name: string, configs: Record<string, string>, settings: Record<string, unknown> = {}): Promise<{ child: ChildProcess; base: string }> {
  const dir = tempDir('loadout-frontend-');
  const [data, models] = [join(dir, 'data'), join(dir, 'models')];
  mkdirSync(data, { recursive: true });
  mkdirSync(models, { recursive: true });
  for (const [file, text] of Object.entries(configs)) writeFileSync(join(models, file), text);
  writeFileSync(join(data, 'backends-registry.json'), JSON.stringify({ version: 1, backends: [{ name: 'fault', target: faultBackendPath(), kind: 'program' }] }));
  writeFileSync(join(data, 'settings.json'), JSON.stringify({ cluster_nats_url: natsUrl, cluster_node_name: name, cluster_local_node: false, ...settings }));
  const child = spawn(process.execPath, ['--import', 'tsx', 'src/main/cli.ts', 'serve', '--port', '0', '--data', data, '--models', models, '--no-warm-standby'], { cwd: process.cwd(), stdio: ['ignore', 'pipe', 'pipe'] });
  children.add(child);
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null) child.kill('SIGKILL');
  });
  let out = '';
  let err = '';
  child.stdout!.on('data', (d) => (out += d));
  child.stderr!.on('data', (d) => (err += d));
  const port = await waitUntil(() => {
    if (child.exitCode !== null) throw new Error(`${name} exited ${child.exitCode}: ${err}`);
    return /^Open http:\/\/127\.0\.0\.1:(\d+)\//.exec(out)?.[1];
  }, `${name} to listen`, { timeoutMs: 30_000 });
  return { child, base: `http://127.0.0.1:${port}` };
}
