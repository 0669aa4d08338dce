/**
 * Admission policy (L4-L7, U6) as pure functions of a snapshot: which models a load of X must
 * unload, which it must wait for, or why it cannot happen. The loader acts on the decision;
 * `plan()` shows the same decision to the user before they click.
 */
import type { ErrorCode } from '../../../shared/errors';
import type { ModelState, PlannedUnload, UnloadReason } from '../../../shared/model';
import { isOccupying } from '../../../shared/model';

export interface PolicyModel {
  name: string;
  state: ModelState;
  groups: readonly string[];
  pinned: boolean;
  inFlight: number;
  /** Epoch ms; 0 when never used. */
  lastUsed: number;
  remote: boolean;
  /** Remote address (U6: one model per remote address at a time). */
  address: string | null;
  /** Memory the model holds or will hold (measured RSS, else estimate); 0 when unknown. */
  memoryBytes: number;
}

export interface PolicyTarget {
  name: string;
  groups: readonly string[];
  remote: boolean;
  address: string | null;
  /** Estimated memory need (L7); 0 when unknown. */
  needBytes: number;
}

export interface PolicyLimits {
  max_active_models: number;
  memory_budget: number;
  eviction_wait: number;
}

export type Decision =
  | { kind: 'admit' }
  | { kind: 'fail'; code: ErrorCode; message: string }
  /**
   * Something stands in the way. `unloads`: idle models to unload now. `waitExit`: models already
   * stopping (their processes will exit). `waitIdle`: busy or loading models that must go idle
   * first, bounded by eviction_wait; `timeout` is the error when that wait runs out.
   */
  | {
      kind: 'make_room';
      unloads: PlannedUnload[];
      waitExit: string[];
      waitIdle: PlannedUnload[];
      timeout: { code: ErrorCode; message: string } | null;
    };

const byLeastRecentlyUsed = (a: PolicyModel, b: PolicyModel) => a.lastUsed - b.lastUsed || a.name.localeCompare(b.name);

export function sharedGroup(a: readonly string[], b: readonly string[]): string | null {
  for (const g of a) if (b.includes(g)) return g;
  return null;
}

export function formatBytes(n: number): string {
  if (n >= 1024 ** 3) return `${(n / 1024 ** 3).toFixed(1)} GiB`;
  if (n >= 1024 ** 2) return `${(n / 1024 ** 2).toFixed(0)} MiB`;
  if (n >= 1024) return `${(n / 1024).toFixed(0)} KiB`;
  return `${n} B`;
}

/** The sentence of the eviction journal (E2) and of the dry run (E3). */
export function unloadSentence(reason: UnloadReason, name: string, detail: { by?: string | null; group?: string; max?: number; text?: string } = {}): string {
  const by = detail.by ?? null;
  switch (reason) {
    case 'lru':
      return `unloaded ${name}: least recently used, to make room for ${by} (max ${detail.max} models)`;
    case 'group':
      return detail.group
        ? `unloaded ${name}: shares group ${detail.group} with ${by}`
        : `unloaded ${name}: uses the same remote backend as ${by}`;
    case 'memory':
      return `unloaded ${name}: to free memory for ${by}${detail.text ? ` (${detail.text})` : ''}`;
    case 'idle':
      return `unloaded ${name}: idle for ${detail.text ?? 'too long'}`;
    case 'stalled':
      return `unloaded ${name}: stuck, ${detail.text ?? 'no output for too long'}`;
    case 'reclaimer':
      return `unloaded ${name}: system memory is running low${detail.text ? ` (${detail.text})` : ''}`;
    case 'vram_pressure':
      return `unloaded ${name}: another program needs the GPU's memory${detail.text ? ` (${detail.text})` : ''}`;
    case 'crashed':
      return `unloaded ${name}: ${detail.text ?? 'its backend exited unexpectedly'}`;
    case 'settings':
      return `unloaded ${name}: ${detail.text ?? 'settings changed'}`;
    case 'user':
      return `unloaded ${name}: by the user`;
    case 'scale_down':
      return `unloaded ${name}: idle replica above the model's min_replicas${detail.text ? ` (${detail.text})` : ''}`;
    case 'node_lost':
      return `unloaded ${name}: ${detail.text ? `its node ${detail.text}` : 'its node'} stopped answering`;
    case 'drain':
      return `unloaded ${name}: ${detail.text ? `its node ${detail.text}` : 'its node'} is being drained`;
    case 'shutdown':
      return `unloaded ${name}: Loadout is shutting down`;
  }
}

/** Two models conflict iff their group lists intersect, or they are remote models on one address. */
function conflictWith(target: PolicyTarget, m: PolicyModel): { group?: string } | null {
  const group = sharedGroup(target.groups, m.groups);
  if (group) return { group };
  if (target.remote && m.remote && target.address && target.address === m.address) return {};
  return null;
}

const isIdleResident = (m: PolicyModel) => m.state === 'ready' && m.inFlight === 0;
/** Will become idle by itself (busy, or still loading): can be waited for, not unloaded now. */
const isWaitable = (m: PolicyModel) => m.state === 'busy' || m.state === 'starting' || m.state === 'loading' || (m.state === 'ready' && m.inFlight > 0);

/**
 * Decides what a cold load of `target` needs, under one consistent snapshot (convention 9).
 * `models` is every known model except the target.
 */
export function decideAdmission(models: readonly PolicyModel[], target: PolicyTarget, limits: PolicyLimits): Decision {
  const others = models.filter((m) => m.name !== target.name && isOccupying(m.state));
  const unloads: PlannedUnload[] = [];
  const waitIdle: PlannedUnload[] = [];
  const waitExit: string[] = [];
  const chosen = new Set<string>();
  let timeout: { code: ErrorCode; message: string } | null = null;
  const wait = `up to ${limits.eviction_wait} s`;

  // L4/L5/U6: group conflicts first, oldest first.
  for (const m of [...others].sort(byLeastRecentlyUsed)) {
    const c = conflictWith(target, m);
    if (!c) continue;
    const sentence = unloadSentence('group', m.name, { by: target.name, group: c.group });
    if (m.state === 'stopping') {
      waitExit.push(m.name);
    } else if (m.pinned) {
      return {
        kind: 'fail',
        code: 'pinned_conflict',
        message: c.group
          ? `${target.name} cannot load: ${m.name} is pinned and shares group ${c.group}. Unpin ${m.name} or unload it first.`
          : `${target.name} cannot load: ${m.name} is pinned and uses the same remote backend. Unpin ${m.name} or unload it first.`,
      };
    } else if (isIdleResident(m)) {
      unloads.push({ name: m.name, reason: 'group', sentence });
    } else if (isWaitable(m)) {
      waitIdle.push({ name: m.name, reason: 'group', sentence });
      timeout ??= {
        code: 'conflict_busy',
        message: `${target.name} cannot load: ${m.name} (group ${c.group ?? 'remote backend'}) is still busy after waiting ${limits.eviction_wait} s. Try again when it has finished.`,
      };
    }
    chosen.add(m.name);
  }

  // L6: the cap counts local models only (U6); stopping ones still occupy until they exit.
  const max = limits.max_active_models;
  if (!target.remote && max > 0) {
    const local = others.filter((m) => !m.remote);
    const leaving = local.filter((m) => chosen.has(m.name) || m.state === 'stopping').length;
    let surplus = local.length + 1 - max;
    if (surplus > 0) {
      // Models already on their way out (group unloads, stopping) free their slots by exiting.
      const freeing = local.filter((m) => m.state === 'stopping' && !chosen.has(m.name));
      for (const m of freeing) waitExit.push(m.name);
      surplus -= leaving;
      const candidates = local.filter((m) => !chosen.has(m.name) && m.state !== 'stopping').sort(byLeastRecentlyUsed);
      for (const m of candidates) {
        if (surplus <= 0) break;
        if (m.pinned || !isIdleResident(m)) continue;
        unloads.push({ name: m.name, reason: 'lru', sentence: unloadSentence('lru', m.name, { by: target.name, max }) });
        chosen.add(m.name);
        surplus--;
      }
      if (surplus > 0) {
        const busy = candidates.filter((m) => !m.pinned && !chosen.has(m.name) && isWaitable(m));
        if (busy.length === 0) {
          const pinned = local.filter((m) => m.pinned).map((m) => m.name);
          return {
            kind: 'fail',
            code: 'slots_pinned',
            message: `${target.name} cannot load: all ${max} model slots are held by pinned models (${pinned.join(', ')}). Unpin one or raise max active models.`,
          };
        }
        // The least recently used busy ones go first, once idle.
        for (const m of busy.slice(0, surplus)) {
          waitIdle.push({ name: m.name, reason: 'lru', sentence: unloadSentence('lru', m.name, { by: target.name, max }) });
          chosen.add(m.name);
        }
        timeout ??= {
          code: 'slots_busy',
          message: `${target.name} cannot load: all ${max} model slots are busy (${busy.map((m) => m.name).join(', ')}) and none became idle ${wait.replace('up to', 'within')}. Try again when one has finished, or raise max active models.`,
        };
      }
    }
  }

  // L7: memory admission, after the unloads above are counted as freed.
  if (limits.memory_budget > 0 && !target.remote && target.needBytes > 0) {
    const budget = limits.memory_budget;
    const numbers = (inUse: number) =>
      `needs ${formatBytes(target.needBytes)}, budget ${formatBytes(budget)}, in use ${formatBytes(inUse)}`;
    const local = others.filter((m) => !m.remote);
    const inUseAll = local.reduce((s, m) => s + m.memoryBytes, 0);
    // Models already stopping free their memory by exiting: wait for them, never count them as
    // in use (otherwise the loads' own evictions, once stopping, would make it refuse: Trust 5).
    for (const m of local) {
      if (m.state !== 'stopping' || chosen.has(m.name)) continue;
      if (!waitExit.includes(m.name)) waitExit.push(m.name);
      chosen.add(m.name);
    }
    if (target.needBytes > budget) {
      return { kind: 'fail', code: 'memory', message: `${target.name} does not fit in the memory budget: ${numbers(inUseAll)}. Raise memory_budget or use a smaller model/context.` };
    }
    let inUse = local.filter((m) => !chosen.has(m.name)).reduce((s, m) => s + m.memoryBytes, 0);
    if (inUse + target.needBytes > budget) {
      const candidates = local.filter((m) => !chosen.has(m.name) && !m.pinned && isIdleResident(m)).sort(byLeastRecentlyUsed);
      for (const m of candidates) {
        if (inUse + target.needBytes <= budget) break;
        inUse -= m.memoryBytes;
        unloads.push({ name: m.name, reason: 'memory', sentence: unloadSentence('memory', m.name, { by: target.name, text: numbers(inUseAll) }) });
        chosen.add(m.name);
      }
      if (inUse + target.needBytes > budget) {
        return { kind: 'fail', code: 'memory', message: `${target.name} does not fit in memory: ${numbers(inUseAll)}, and the other loaded models are pinned or busy. Unload something or raise memory_budget.` };
      }
    }
  }

  if (unloads.length === 0 && waitIdle.length === 0 && waitExit.length === 0) return { kind: 'admit' };
  return { kind: 'make_room', unloads, waitExit, waitIdle, timeout };
}

/**
 * W4: what must go when settings or policy keys change under resident models: the surplus over
 * a lowered cap (least recently used first) and the less recently used model of each new group
 * conflict. Busy models are returned too; the loader unloads them once idle.
 */
export function settingsSurplus(models: readonly PolicyModel[], limits: Pick<PolicyLimits, 'max_active_models'>): { name: string; sentence: string }[] {
  const out: { name: string; sentence: string }[] = [];
  const gone = new Set<string>();
  const live = models.filter((m) => isOccupying(m.state) && m.state !== 'stopping' && m.state !== 'starting' && m.state !== 'loading');
  const lru = [...live].sort(byLeastRecentlyUsed);
  // Group conflicts: keep the most recently used, drop the other.
  for (let i = 0; i < lru.length; i++) {
    const a = lru[i];
    if (a.pinned || gone.has(a.name)) continue;
    for (let j = i + 1; j < lru.length; j++) {
      const b = lru[j];
      if (gone.has(b.name)) continue;
      const group = sharedGroup(a.groups, b.groups);
      if (group) {
        gone.add(a.name);
        out.push({ name: a.name, sentence: unloadSentence('settings', a.name, { text: `now shares group ${group} with ${b.name}` }) });
        break;
      }
    }
  }
  const max = limits.max_active_models;
  if (max > 0) {
    // One already stopping is leaving: counted, it made the next check (the watchdog's, every
    // second) take the model the user kept as well. One starting or loading will hold a slot.
    const local = models.filter((m) => !m.remote && isOccupying(m.state) && m.state !== 'stopping' && !gone.has(m.name));
    let surplus = local.length - max;
    for (const m of lru) {
      if (surplus <= 0) break;
      if (m.remote || m.pinned || gone.has(m.name)) continue;
      gone.add(m.name);
      surplus--;
      out.push({ name: m.name, sentence: unloadSentence('settings', m.name, { text: `max active models lowered to ${max}` }) });
    }
  }
  return out;
}
