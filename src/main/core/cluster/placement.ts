/**
 * The cold path (LocalAI's scheduleNewModel), pure, on one snapshot (distributed-spec section 2):
 * filter the nodes (D5, D12, D28), run the single-machine admission on each node's reported
 * models and limits (`decideAdmission`, and `decideVramAdmission` where the node has GPUs), then
 * rank: nodes that admit the load as it is (D13), else nodes that make room by evicting only idle
 * models, the cluster-wide least recently used (D14, D15), else wait for busy ones until
 * `eviction_wait` runs out (D16). The worker admits again on its own fresh view when the load
 * arrives, so a stale snapshot can cost a refusal and a re-plan, never an overcommit.
 */
import { ERROR_STATUS, type ErrorCode } from '../../../shared/errors';
import type { PlannedUnload } from '../../../shared/model';
import { isOccupying } from '../../../shared/model';
import type { ModelEstimate } from '../gpu/estimate';
import type { LayerDecision } from '../gpu/placement';
import { decideVramAdmission } from '../gpu/vramPolicy';
import { decideAdmission, formatBytes, sharedGroup, type PolicyModel } from '../loader/policy';
import type { NodeFile, NodeSelector, NodeView, ReplicaView } from './view';
import { matchesSelector, selectorText } from './view';

/** A node's refusal re-plans on another; after this many nodes the load fails with the last refusal. */
export const MAX_PLACEMENT_TRIES = 3;
/** Retry-After for a cold load that found no node (clarifications 5). */
export const NO_NODE_RETRY_S = 5;

export interface PlacementTarget {
  name: string;
  groups: readonly string[];
  /** The memory estimate (estimateMemory); 0 when unknown. */
  needBytes: number;
  file: NodeFile | null;
  selector: NodeSelector;
  /** For VRAM admission on nodes with GPUs; absent: the load is judged on RAM only. */
  gpu?: { estimate: ModelEstimate; gpuLayers?: number; kvOffload?: boolean; baseBytes?: number };
}

export interface PlacementInput {
  target: PlacementTarget;
  nodes: readonly NodeView[];
  /** This frontend's protocol version: a node on another one is never used (D5). */
  protocol: number;
  /** Per node, the models that count as pinned there: replicas keeping a model at `min_replicas`, pinned models (D25). */
  protect: Readonly<Record<string, readonly string[]>>;
  /** `eviction_wait`, seconds. */
  evictionWait: number;
  now: number;
  /** The `since` of the previous `wait` decision for this load; null the first time. */
  waitingSince: number | null;
  /** Nodes that refused this load already. */
  exclude?: ReadonlySet<string>;
}

export type PlacementDecision =
  /** Send `load` to `node` with `protect`; `unloads` are what its worker will evict (for the plan and journal). */
  | { kind: 'load'; node: string; unloads: PlannedUnload[]; protect: string[]; layers: LayerDecision | null }
  /** Every usable node is busy: decide again on each change, and at `until` (D16). */
  | { kind: 'wait'; since: number; until: number; nodes: string[]; message: string }
  | { kind: 'fail'; code: ErrorCode; message: string; retryAfter?: number };

type Outcome =
  | {
      kind: 'room';
      node: NodeView;
      unloads: PlannedUnload[];
      /** Models it must wait to see exit (already stopping). */
      exiting: number;
      layers: LayerDecision | null;
      groupConflict: boolean;
      hasFile: boolean;
      inFlight: number;
      memoryLeft: number;
      /** lastUsed of the most recently used model it would evict (the cluster LRU's key). */
      newestVictim: number;
    }
  | { kind: 'busy'; node: NodeView; code: ErrorCode; message: string }
  | { kind: 'fail'; node: NodeView; code: ErrorCode; message: string };

export function placeModel(input: PlacementInput): PlacementDecision {
  const { target } = input;
  const why: string[] = [];
  const candidates: NodeView[] = [];
  // A node still stopping this model's replica (an unload a moment ago) takes it once that ends:
  // waited for like a busy node, not refused.
  const stopping: Outcome[] = [];
  for (const node of input.nodes) {
    const reason = unusable(node, input);
    if (reason === STILL_STOPPING) stopping.push({ kind: 'busy', node, code: 'no_node', message: `${target.name} is still stopping on ${node.name}` });
    else if (reason) why.push(`${node.name} ${reason}`);
    else candidates.push(node);
  }
  if (candidates.length === 0 && stopping.length === 0) {
    const detail = why.length ? why.join('; ') : 'no node has joined the cluster';
    return { kind: 'fail', code: 'no_node', message: `No node can take ${target.name} (node_selector ${selectorText(target.selector)}): ${detail}.`, retryAfter: NO_NODE_RETRY_S };
  }

  const outcomes = [...candidates.map((n) => evaluateNode(n, input)), ...stopping];
  const room = outcomes.filter((o): o is Room => o.kind === 'room');
  const admit = room.filter((o) => o.unloads.length === 0 && o.exiting === 0).sort(byAdmitPreference);
  const makeRoom = room.filter((o) => o.unloads.length > 0 || o.exiting > 0).sort(byClusterLru);
  const chosen = admit[0] ?? makeRoom[0];
  if (chosen) {
    return { kind: 'load', node: chosen.node.name, unloads: chosen.unloads, protect: [...(input.protect[chosen.node.name] ?? [])], layers: chosen.layers };
  }

  const busy = outcomes.filter((o) => o.kind === 'busy');
  if (busy.length > 0) {
    const since = input.waitingSince ?? input.now;
    const until = since + input.evictionWait * 1000;
    if (input.now < until) {
      return { kind: 'wait', since, until, nodes: busy.map((o) => o.node.name), message: `${target.name} waits for a busy model to finish on ${busy.map((o) => o.node.name).join(', ')}` };
    }
    return refusal(target.name, busy);
  }
  return refusal(target.name, outcomes);
}

const STILL_STOPPING = 'is still stopping its replica';

/** Why a node is out before admission is asked (the hard filter), or null. */
function unusable(node: NodeView, input: PlacementInput): string | null {
  if (node.protocol !== input.protocol) return `speaks protocol ${node.protocol}, not ${input.protocol}`;
  if (node.state !== 'live') return `is ${node.state}`;
  if (!matchesSelector(node.labels, input.target.selector)) return `does not match (labels ${selectorText(node.labels)})`;
  if (input.exclude?.has(node.name)) return 'refused it already';
  if (node.catalog && !node.catalog.includes(input.target.name)) return 'does not have it';
  const own = node.models.find((m) => m.name === input.target.name && isOccupying(m.state));
  if (own) return own.state === 'stopping' ? STILL_STOPPING : 'already has a replica';
  return null;
}

function evaluateNode(node: NodeView, input: PlacementInput): Outcome {
  const { target } = input;
  const protect = new Set(input.protect[node.name] ?? []);
  const models = node.models.filter((m) => m.name !== target.name);
  const policyModels: PolicyModel[] = models.map((m) => ({
    name: m.name,
    state: m.state,
    groups: m.groups,
    pinned: m.pinned || protect.has(m.name),
    inFlight: m.inFlight,
    lastUsed: m.lastUsed,
    remote: false,
    address: null,
    memoryBytes: m.needBytes,
  }));
  const limits = { max_active_models: node.limits.max_active_models, memory_budget: node.limits.memory_budget, eviction_wait: input.evictionWait };
  const policyTarget = { name: target.name, groups: target.groups, remote: false, address: null, needBytes: target.needBytes };
  const decision = decideAdmission(policyModels, policyTarget, limits);
  const onNode = (message: string) => `on ${node.name}: ${message}`;
  if (decision.kind === 'fail') return { kind: 'fail', node, code: decision.code, message: onNode(decision.message) };

  const unloads = decision.kind === 'make_room' ? [...decision.unloads] : [];
  const waitExit = decision.kind === 'make_room' ? decision.waitExit : [];
  const waitIdle = decision.kind === 'make_room' ? [...decision.waitIdle] : [];
  let timeout = decision.kind === 'make_room' ? decision.timeout : null;

  let layers: LayerDecision | null = null;
  if (target.gpu && node.gpus.length > 0) {
    const leaving = new Set([...unloads.map((u) => u.name), ...waitExit, ...waitIdle.map((u) => u.name)]);
    const vram = decideVramAdmission({
      models: models.map((m) => ({ name: m.name, state: m.state, pinned: m.pinned || protect.has(m.name), inFlight: m.inFlight, lastUsed: m.lastUsed, remote: false, vramBytes: m.vramBytes ?? 0 })),
      target: { name: target.name, ...target.gpu },
      gpu: node.limits.gpu ?? 'auto',
      devices: node.gpus,
      limits: { vram_budget: node.limits.vram_budget, vram_reserve: node.limits.vram_reserve ?? 0, eviction_wait: input.evictionWait },
      leaving,
      standbyVramBytes: 0,
    });
    if (vram.kind === 'fail') return { kind: 'fail', node, code: vram.code, message: onNode(vram.message) };
    layers = vram.layers;
    unloads.push(...vram.unloads);
    waitIdle.push(...vram.waitIdle);
    timeout ??= vram.timeout;
  }
  if (waitIdle.length > 0) {
    const t = timeout ?? { code: 'slots_busy' as const, message: `${target.name} cannot load: ${waitIdle.map((u) => u.name).join(', ')} stayed busy for ${input.evictionWait} s.` };
    return { kind: 'busy', node, code: t.code, message: onNode(t.message) };
  }

  // Beyond the node's own policy: the machine's free memory, after the evictions and with what is
  // still loading (and not yet counted in it) set aside; LocalAI places without looking.
  const byName = new Map(models.map((m) => [m.name, m]));
  const freed = unloads.reduce((s, u) => s + (byName.get(u.name)?.needBytes ?? 0), 0);
  const loadingBytes = models.filter((m) => m.state === 'starting' || m.state === 'loading').reduce((s, m) => s + m.needBytes, 0);
  let memoryLeft = Infinity;
  if (node.memory.available > 0) memoryLeft = node.memory.available - loadingBytes + freed - target.needBytes;
  if (target.needBytes > 0 && memoryLeft < 0) {
    return {
      kind: 'fail',
      node,
      code: 'memory',
      message: onNode(`${target.name} does not fit in the free memory: needs ${formatBytes(target.needBytes)}, ${formatBytes(Math.max(0, node.memory.available - loadingBytes + freed))} free after the planned unloads.`),
    };
  }
  if (node.limits.memory_budget > 0) {
    const held = models.filter((m) => isOccupying(m.state) && !unloads.some((u) => u.name === m.name)).reduce((s, m) => s + m.needBytes, 0);
    memoryLeft = Math.min(memoryLeft, node.limits.memory_budget - held - target.needBytes);
  }
  return {
    kind: 'room',
    node,
    unloads,
    exiting: waitExit.length,
    layers,
    groupConflict: models.some((m) => sharedGroup(target.groups, m.groups) !== null),
    hasFile: hasFile(node.files, target.file),
    inFlight: nodeInFlight(node.models),
    memoryLeft,
    newestVictim: unloads.reduce((t, u) => Math.max(t, byName.get(u.name)?.lastUsed ?? -Infinity), -Infinity),
  };
}

function hasFile(files: readonly NodeFile[], file: NodeFile | null): boolean {
  if (!file) return false;
  return files.some((f) => (f.sha256 && file.sha256 ? f.sha256 === file.sha256 : f.name === file.name && f.sizeBytes === file.sizeBytes));
}

function nodeInFlight(models: readonly ReplicaView[]): number {
  let n = 0;
  for (const m of models) n += m.inFlight + m.queued;
  return n;
}

type Room = Extract<Outcome, { kind: 'room' }>;

/** D13: no group conflict, has the file, idle, fewest in flight, most memory left, name. */
function byAdmitPreference(a: Room, b: Room): number {
  return (
    Number(a.groupConflict) - Number(b.groupConflict) ||
    Number(b.hasFile) - Number(a.hasFile) ||
    Number(a.inFlight > 0) - Number(b.inFlight > 0) ||
    a.inFlight - b.inFlight ||
    b.memoryLeft - a.memoryLeft ||
    (a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0)
  );
}

/** D15: the node whose most recently used victim is the oldest, then the fewest victims, then name. */
function byClusterLru(a: Room, b: Room): number {
  return a.newestVictim - b.newestVictim || a.unloads.length - b.unloads.length || (a.node.name < b.node.name ? -1 : a.node.name > b.node.name ? 1 : 0);
}

/** Every node said no: the code most of them gave, and each node's reason. */
function refusal(model: string, outcomes: readonly Outcome[]): PlacementDecision {
  const refused = outcomes.filter((o): o is Exclude<Outcome, Room> => o.kind !== 'room');
  const counts = new Map<ErrorCode, number>();
  for (const o of refused) counts.set(o.code, (counts.get(o.code) ?? 0) + 1);
  let code: ErrorCode = 'no_node';
  let most = 0;
  for (const [c, n] of counts) if (n > most) [code, most] = [c, n];
  const reasons = refused.map((o) => o.message);
  const message = reasons.length === 1 ? reasons[0] : `${model} cannot load on any node: ${reasons.join('; ')}`;
  return ERROR_STATUS[code] === 503 ? { kind: 'fail', code, message, retryAfter: NO_NODE_RETRY_S } : { kind: 'fail', code, message };
}
