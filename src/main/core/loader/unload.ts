/** Unloading (U1/U2): graceful or forced, resolved once the process has exited. */
import { LoadoutError } from '../../../shared/errors';
import type { UnloadReason } from '../../../shared/model';
import { isResident } from '../../../shared/model';
import type { ModelHost } from '../backends/types';
import { unloadSentence } from './policy';
import type { UnloadOptions } from './router';
import { FREE_BUDGET_MS, STOP_GRACE_MS, abortRequests, rejectQueue } from './runtime';
import type { Runtime } from './runtime';
import type { ModelTable } from './table';

const THRASH_WINDOW_MS = 5 * 60_000;
const THRASH_COUNT = 3;

export class Unloads {
  constructor(
    private readonly t: ModelTable,
    private readonly deps: { cancelLoad(name: string): boolean },
  ) {}

  /**
   * U1/U2: graceful unload waits for in-flight requests (unload_grace), calls Free, then stops
   * the process (SIGTERM, 10 s, SIGKILL). Force skips the wait and Free. Resolves once the
   * process has exited. Unloading a model that is loading cancels the load (L12).
   */
  async unload(name: string, opts: UnloadOptions = {}): Promise<void> {
    const rt = this.t.runtimes.get(name);
    if (!rt) {
      if (!this.t.o.catalog.get(name)) throw new LoadoutError('not_found', `There is no model named "${name}".`);
      return;
    }
    if (rt.loading && (rt.state === 'starting' || rt.state === 'loading' || rt.state === 'unloaded' || rt.state === 'failed')) {
      this.deps.cancelLoad(name);
      await rt.loading.catch(() => {});
      return;
    }
    if (rt.stopping) {
      if (opts.force && !rt.stopForced) this.forceStop(rt, opts.reason ?? 'user');
      return rt.stopping;
    }
    if (!rt.host || !isResident(rt.state)) return;
    const reason = opts.reason ?? 'user';
    let sentence = opts.sentence ?? unloadSentence(reason, name, { by: opts.by });
    if (opts.by) sentence += this.thrashNote(rt);
    this.t.record({ model: name, reason, sentence, by: opts.by ?? null });
    const host = rt.host;
    rt.drain = null;
    rt.stopForced = !!opts.force;
    this.t.set(rt, 'stopping');
    rt.stopping = this.stopHost(rt, host, !!opts.force, reason).finally(() => {
      rt.stopping = null;
      rt.stopForced = false;
      if (rt.host === host) rt.host = null;
      if (rt.state === 'stopping') this.t.set(rt, 'unloaded');
      else this.t.changed(rt);
    });
    return rt.stopping;
  }

  /** Trust 6: a model evicted again and again to make room says so in the journal. */
  private thrashNote(rt: Runtime): string {
    const now = this.t.o.clock.now();
    rt.evictedAt = [...rt.evictedAt.filter((at) => now - at < THRASH_WINDOW_MS), now];
    const n = rt.evictedAt.length;
    if (n < THRASH_COUNT) return '';
    return ` (thrashing: unloaded ${n} times in ${THRASH_WINDOW_MS / 60_000} min to make room; raise max active models or the memory budget, or send fewer models requests at once)`;
  }

  private async stopHost(rt: Runtime, host: ModelHost, force: boolean, reason: UnloadReason): Promise<void> {
    const s = this.t.o.settings();
    const clock = this.t.o.clock;
    rejectQueue(rt, new LoadoutError('unloaded', `${rt.name} was unloaded (${reason}) before this request started.`));
    if (force) {
      abortRequests(rt, new LoadoutError('unloaded', `${rt.name} was unloaded (${reason}) while answering.`));
      await host.stop(0);
      return;
    }
    if (rt.active > 0) {
      const deadline = clock.now() + s.unload_grace * 1000;
      while (rt.active > 0 && !rt.stopForced) {
        const left = deadline - clock.now();
        if (left <= 0) break;
        await this.t.nextChange(left);
      }
      if (rt.active > 0) abortRequests(rt, new LoadoutError('unloaded', `${rt.name} was unloaded (${reason}) after waiting ${s.unload_grace} s for this request.`));
    }
    if (rt.stopForced) {
      await host.stop(0);
      return;
    }
    if (host.kind === 'local') {
      await Promise.race([host.client.free({ timeoutMs: FREE_BUDGET_MS }).catch(() => undefined), host.exited]);
    }
    await host.stop(STOP_GRACE_MS);
  }

  private forceStop(rt: Runtime, reason: UnloadReason): void {
    rt.stopForced = true;
    abortRequests(rt, new LoadoutError('unloaded', `${rt.name} was unloaded (${reason}) while answering.`));
    void rt.host?.stop(0);
    this.t.notify();
  }
}
