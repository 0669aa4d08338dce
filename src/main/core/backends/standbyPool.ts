/**
 * The warm standby (I3's one exception): one started backend process without a model, kept
 * waiting so the next load of that backend skips process start-up. Shown in the snapshot.
 */
import type { LocalHost } from './localHost';
import type { HostSpec, ResolvedBackend } from './types';

export type ProgramBackend = Extract<ResolvedBackend, { kind: 'program' }>;

/** Log name of a standby process until a model adopts it. */
export const STANDBY_LOG = '(standby)';

interface Entry {
  key: string;
  backend: string;
  host: Promise<LocalHost | null>;
  ready: LocalHost | null;
}

/** A standby process serves a load only if it was started exactly as that load would start one. */
function standbyKey(b: ProgramBackend, env: Record<string, string> | undefined): string {
  return [b.name, b.command, ...b.args, JSON.stringify(b.env ?? {}), JSON.stringify(env ?? {})].join('\0');
}

export class StandbyPool {
  private entry: Entry | null = null;

  constructor(
    /** Starts a fresh process (never from the pool) and resolves once its Health answers. */
    private readonly startFresh: (spec: HostSpec) => Promise<LocalHost>,
    /** The standby process appeared, was taken or went away (the GUI shows it). */
    private readonly changed: () => void,
  ) {}

  /**
   * Takes the standby if it was started as a load of `backend` with `env` would start one. The
   * pool is empty afterwards; null if there was none, it did not match, or it has died.
   */
  async take(backend: ProgramBackend, env: Record<string, string> | undefined): Promise<LocalHost | null> {
    const spare = this.entry?.key === standbyKey(backend, env) ? this.entry : null;
    if (!spare) return null;
    this.entry = null;
    this.changed();
    const host = await spare.host;
    return host && !host.exitSeen ? host : null;
  }

  /** Starts a standby process of `backend` unless one exists (ready or starting). */
  warm(backend: ProgramBackend, startTimeoutMs: number, env?: Record<string, string>): void {
    if (this.entry) return;
    const entry: Entry = { key: standbyKey(backend, env), backend: backend.name, host: Promise.resolve(null), ready: null };
    entry.host = this.startFresh({ model: STANDBY_LOG, backend, env, startTimeoutMs }).then(
      (host) => {
        entry.ready = host;
        this.changed();
        void host.exited.then(() => {
          if (this.entry !== entry) return;
          this.entry = null;
          this.changed();
        });
        return host;
      },
      () => {
        if (this.entry === entry) this.entry = null;
        return null;
      },
    );
    this.entry = entry;
  }

  /** The waiting standby process, if one is ready. */
  info(): { pid: number; backend: string } | null {
    const host = this.entry?.ready;
    return host && !host.exitSeen && host.pid !== null ? { pid: host.pid, backend: this.entry!.backend } : null;
  }

  /** Stops the standby process (the setting was turned off). */
  async drop(): Promise<void> {
    const spare = this.entry;
    this.entry = null;
    this.changed();
    const host = await spare?.host;
    await host?.stop(0);
  }
}
