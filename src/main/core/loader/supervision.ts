/**
 * Supervision (U3, U6, W1-W4 acting side): crashes, automatic restarts of pinned models, dropped
 * remote backends, the policy upkeep after settings change, and the facts the watchdog reads
 * (it reports; the loader acts).
 */
import { LoadoutError } from '../../../shared/errors';
import type { ModelRow, ModelState } from '../../../shared/model';
import { isOccupying, isResident } from '../../../shared/model';
import type { ExitInfo, ModelHost } from '../backends/types';
import { settingsSurplus, unloadSentence } from './policy';
import type { LoadOrigin, UnloadOptions } from './router';
import { abortRequests, rejectQueue } from './runtime';
import type { Runtime } from './runtime';
import { exitText } from './table';
import type { ModelTable } from './table';
import type { ThreadBudget } from './threadBudget';

export interface WatchModel {
  name: string;
  state: ModelState;
  pinned: boolean;
  ttl: number | null;
  inFlight: number;
  lastUsed: number;
  /** Oldest "last token" time over in-flight requests (W2), or null when idle. */
  oldestRequestProgressAt: number | null;
  /** When a loading model last reported progress, or null if it never has. */
  loadProgressAt: number | null;
  remote: boolean;
}

/** A model up this long before it crashes was not in a crash loop. */
const STABLE_MS = 60_000;

export interface SupervisionDeps {
  startLoad(name: string, origin: LoadOrigin): Promise<ModelRow>;
  unload(name: string, opts: UnloadOptions): Promise<void>;
}

export class Supervisor {
  constructor(
    private readonly t: ModelTable,
    private readonly threadBudget: ThreadBudget,
    private readonly deps: SupervisionDeps,
  ) {}

  /** U3: a backend process exited. Expected while stopping; otherwise a crash. */
  onHostExit(rt: Runtime, host: ModelHost, info: ExitInfo): void {
    if (rt.host !== host) return; // a stale instance: never touch the current one (U1)
    if (rt.state === 'stopping' || rt.state === 'starting' || rt.state === 'loading') return;
    rt.host = null;
    // The last stderr line is context, not necessarily the cause (after a kill it is whatever
    // the backend printed last), so it is quoted as such.
    const err = new LoadoutError('backend_crashed', `${rt.name}'s backend exited unexpectedly (${exitText(info)}).${info.stderr ? ` Its last output line: "${info.stderr}"` : ''}`);
    abortRequests(rt, err);
    rejectQueue(rt, err);
    this.t.record({ model: rt.name, reason: 'crashed', sentence: unloadSentence('crashed', rt.name, { text: `its backend exited unexpectedly (${exitText(info)})` }), by: null });
    this.t.setFailure(rt, err, info);
    // Up for a while before this crash: not a crash loop, so the restart is immediate again.
    if (rt.loadedAt !== null && this.t.o.clock.now() - rt.loadedAt >= STABLE_MS) rt.cooldown.failures = 0;
    if (this.t.entryPinned(rt.name)) this.scheduleRestart(rt);
  }

  /** U3: pinned models come back by themselves, with the L13 backoff against crash loops. */
  scheduleRestart(rt: Runtime, failureCounted = false): void {
    if (this.t.disposed || rt.restartTimer) return;
    // A failed restart was already counted by the load (L13); counting it twice would quadruple the backoff.
    if (!failureCounted) rt.cooldown.failures += 1;
    const delay = rt.cooldown.failures <= 1 ? 0 : this.t.backoffMs(rt.cooldown.failures - 1);
    this.t.log(rt.name, `pinned: restarting in ${Math.round(delay / 1000)} s`);
    rt.restartTimer = this.t.o.clock.setTimeout(() => {
      rt.restartTimer = null;
      if (this.t.disposed || !this.t.entryPinned(rt.name) || isOccupying(rt.state) || rt.loading) return;
      const failures = rt.cooldown.failures;
      this.deps.startLoad(rt.name, 'restart').catch(() => {
        if (this.t.entryPinned(rt.name)) this.scheduleRestart(rt, rt.cooldown.failures > failures);
      });
    }, delay);
  }

  /** U6: a remote backend that dropped the connection is forgotten once; the caller still gets the error. */
  dropRemote(rt: Runtime, host: ModelHost, why: string): void {
    if (rt.host !== host) return;
    rt.host = null;
    this.t.record({ model: rt.name, reason: 'crashed', sentence: unloadSentence('crashed', rt.name, { text: why }), by: null });
    void host.stop(0);
    this.t.set(rt, 'unloaded');
  }

  /**
   * W4's drain: models over a lowered cap or in a new group conflict go (idle ones now, busy ones
   * once idle). Also run when a load completes, since a load admitted under the old cap can
   * finish after the cap was lowered.
   */
  enforceLimits(): void {
    for (const { name, sentence } of settingsSurplus(this.t.policyView(), this.t.o.settings())) {
      const rt = this.t.runtimes.get(name);
      if (!rt || !rt.host) continue;
      if (rt.requests.size === 0 && rt.state === 'ready') void this.deps.unload(name, { reason: 'settings', sentence }).catch(() => {});
      else rt.drain = { sentence };
    }
    this.threadBudget.pump();
  }

  /** Facts the watchdog reads. */
  watchView(): WatchModel[] {
    const out: WatchModel[] = [];
    for (const rt of this.t.runtimes.values()) {
      const entry = this.t.o.catalog.get(rt.name);
      let oldestProgress: number | null = null;
      for (const r of rt.requests) oldestProgress = oldestProgress === null ? r.lastProgressAt : Math.min(oldestProgress, r.lastProgressAt);
      out.push({
        name: rt.name,
        state: rt.state,
        pinned: entry?.config.pinned ?? false,
        ttl: entry?.config.ttl ?? null,
        inFlight: rt.requests.size,
        lastUsed: rt.lastUsed,
        oldestRequestProgressAt: oldestProgress,
        loadProgressAt: rt.state === 'loading' ? rt.progressSeenAt : null,
        remote: rt.host?.kind === 'remote',
      });
    }
    return out;
  }

  /** W2: a stuck backend is force-unloaded (pinned too) and a pinned one restarted. */
  async unloadStalled(name: string, text: string): Promise<void> {
    const rt = this.t.runtimes.get(name);
    if (!rt) return;
    if (rt.loading && rt.state === 'loading') {
      rt.loadAbort?.abort(new LoadoutError('timeout', `${name} stopped making progress while loading (${text}).`));
      this.t.record({ model: name, reason: 'stalled', sentence: unloadSentence('stalled', name, { text }), by: null });
      return;
    }
    // The stuck requests end first, as what they are: a server fault that timed out (504), not
    // an unload the client could have avoided (the unload's own `unloaded` comes too late for them).
    const stall = this.t.o.settings().stall_timeout;
    abortRequests(rt, new LoadoutError('timeout', `${name} stopped answering (${text}, more than stall_timeout, ${stall} s), so Loadout stopped its backend. Try again; if it keeps happening, check the model's log.`));
    await this.deps.unload(name, { force: true, reason: 'stalled', sentence: unloadSentence('stalled', name, { text }) });
    if (this.t.entryPinned(name)) this.scheduleRestart(rt);
  }

  /** Refreshes measured RSS (cheap /proc reads) so memory figures follow reality. */
  refreshMemory(): void {
    for (const rt of this.t.runtimes.values()) {
      if (!rt.host || !isResident(rt.state)) continue;
      const rss = rt.host.rssBytes();
      if (rss !== null && rss !== rt.rssBytes) {
        rt.rssBytes = rss;
        this.t.changed(rt);
      }
    }
  }
}
