/**
 * Joining a cluster at start (`cluster_nats_url` set): connects to NATS and builds the cluster
 * router over this machine's loader. A join that fails says what to fix and the app runs on
 * this machine alone (D6); an empty URL never gets here (D1).
 */
import { hostname } from 'node:os';
import type { CoreEvent, JournalEntry, Settings } from '../../../shared/model';
import type { Clock } from '../clock';
import type { ModelRouter } from '../loader/router';
import type { Core } from '../createCore';
import { ClusterRouter } from './clusterRouter';
import { Registry } from './registry';
import { WorkerAgent, defaultAdvertise } from './workerAgent';

export async function joinCluster(o: {
  loader: ModelRouter;
  settings: () => Settings;
  clock: Clock;
  config: (name: string) => object | null;
  emit: (e: CoreEvent) => void;
  /** D33: the workers' unloads, into this machine's journal. */
  journal?: (entry: JournalEntry) => void;
  notices: string[];
  notice: (line: string) => void;
}): Promise<{ router: ClusterRouter | null; error: string | null }> {
  const s = o.settings();
  const nodeName = s.cluster_node_name || hostname();
  try {
    const registry = await Registry.connect({ url: s.cluster_nats_url, clientName: `loadout frontend ${nodeName}`, log: o.notice, tlsCa: s.cluster_tls_ca || undefined });
    const runs = s.cluster_local_node ? (s.cluster_share_local_node ? ' (this machine runs models too, for every frontend)' : ' (this machine runs models too, for this app only)') : '';
    o.notices.push(`cluster: joined NATS at ${registry.shownUrl} as ${nodeName}${runs}`);
    const router = new ClusterRouter({
      local: o.loader,
      registry,
      clock: o.clock,
      settings: o.settings,
      nodeName,
      localNode: s.cluster_local_node,
      config: (n) => o.config(n) as Record<string, unknown> | null,
      emit: o.emit,
      journal: o.journal,
      log: o.notice,
    });
    return { router, error: null };
  } catch (e) {
    const error = `${(e as Error).message} Loadout runs on this machine alone until that is fixed (restart after changing cluster_nats_url).`;
    o.notices.push(`cluster: ${error}`);
    return { router: null, error };
  }
}

/** The shared node's heartbeat: the worker's default (clarifications 7). */
const SHARED_HEARTBEAT_MS = 2_000;

/**
 * `cluster_share_local_node` on (clarifications 3): this machine's node serves other frontends
 * too, as a worker does. It publishes its record and answers load, unload, ping and drain over
 * NATS, and its gateway (pinned TLS, bearer token) serves this machine's own loader, so other
 * frontends may load onto it and its own policy may evict for them. Off (the default), nothing
 * of this node is in NATS and only this app's router uses it.
 */
export async function shareLocalNode(o: {
  core: Pick<Core, 'commands' | 'events' | 'dataDir' | 'downloads' | 'rescan'>;
  loader: ModelRouter;
  registry: Registry;
  nodeName: string;
  version: string;
  notice: (line: string) => void;
}): Promise<WorkerAgent | null> {
  try {
    const agent = await WorkerAgent.start({
      core: o.core,
      router: o.loader,
      registry: o.registry,
      name: o.nodeName,
      labels: {},
      heartbeatMs: SHARED_HEARTBEAT_MS,
      listenHost: '0.0.0.0',
      listenPort: 0,
      advertiseHost: defaultAdvertise('0.0.0.0'),
      version: o.version,
      log: o.notice,
      onLost: (why) => o.notice(`cluster: this machine's node is no longer shared: ${why}`),
    });
    o.notice(`cluster: this machine's node ${o.nodeName} is shared with other frontends (gateway ${agent.gatewayAddress})`);
    return agent;
  } catch (e) {
    o.notice(`cluster: could not share this machine's node (${(e as Error).message}); it serves this app only`);
    return null;
  }
}
