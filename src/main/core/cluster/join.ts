/**
 * Joining a cluster at start (`cluster_nats_url` set): connects to NATS and builds the cluster
 * router over this machine's loader. A join that fails says what to fix and the app runs on
 * this machine alone (D6); an empty URL never gets here (D1).
 */
import { hostname } from 'node:os';
import type { CoreEvent, Settings } from '../../../shared/model';
import type { Clock } from '../clock';
import type { ModelRouter } from '../loader/router';
import { ClusterRouter } from './clusterRouter';
import { Registry } from './registry';

export async function joinCluster(o: {
  loader: ModelRouter;
  settings: () => Settings;
  clock: Clock;
  config: (name: string) => object | null;
  emit: (e: CoreEvent) => void;
  notices: string[];
  notice: (line: string) => void;
}): Promise<{ router: ClusterRouter | null; error: string | null }> {
  const s = o.settings();
  const nodeName = s.cluster_node_name || hostname();
  try {
    const registry = await Registry.connect({ url: s.cluster_nats_url, clientName: `loadout frontend ${nodeName}`, log: o.notice });
    o.notices.push(`cluster: joined NATS at ${registry.shownUrl} as ${nodeName}${s.cluster_local_node ? ' (this machine runs models too)' : ''}`);
    const router = new ClusterRouter({
      local: o.loader,
      registry,
      clock: o.clock,
      settings: o.settings,
      nodeName,
      localNode: s.cluster_local_node,
      config: (n) => o.config(n) as Record<string, unknown> | null,
      emit: o.emit,
      log: o.notice,
    });
    return { router, error: null };
  } catch (e) {
    const error = `${(e as Error).message} Loadout runs on this machine alone until that is fixed (restart after changing cluster_nats_url).`;
    o.notices.push(`cluster: ${error}`);
    return { router: null, error };
  }
}
