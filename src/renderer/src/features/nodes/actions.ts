/** What the Nodes view's buttons do; a refusal is shown as a notice in the core's words. */
import { api } from '../../store/connect';
import { useStore } from '../../store/store';

async function run(what: string, call: () => Promise<{ ok: true } | { ok: false; error: { message: string } }>): Promise<boolean> {
  const r = await call();
  if (!r.ok) useStore.getState().notify(`${what}: ${r.error.message}`);
  return r.ok;
}

export const drainNode = (node: string) => run(`Could not drain ${node}`, () => api().invoke('drainNode', node));

export const unloadReplica = (node: string, model: string) => run(`Could not unload ${model} on ${node}`, () => api().invoke('unloadReplica', node, model));
