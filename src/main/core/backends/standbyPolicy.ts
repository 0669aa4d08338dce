/**
 * When the warm standby backend (LocalHostLauncher.warm) runs: only with `warm_standby` on and
 * only while the core is quiet, so starting it never slows a load or an answer.
 */
import type { GpuSetting, Settings, Snapshot } from '../../../shared/model';
import { builtinBackendEnv } from './builtin';
import type { LocalHostLauncher } from './process';
import type { ResolvedBackend } from './types';

export interface StandbyPolicyOptions {
  settings: () => Pick<Settings, 'warm_standby' | 'start_timeout'> & Partial<Pick<Settings, 'gpu'>>;
  /** True while nothing loads or generates. */
  isQuiet: () => boolean;
  /** The built-in backend as the registry resolves it now. */
  builtin: () => ResolvedBackend;
  launcher: Pick<LocalHostLauncher, 'warm' | 'dropStandby' | 'standbyInfo'>;
  /** The `gpu` a built-in backend starts with now (V2): a load adopts the standby only if it matches. */
  gpu?: () => GpuSetting;
  /** The built-in backend's extra environment (V14: the CUDA pack), the same a load's backend gets. */
  env?: () => Record<string, string>;
}

export class StandbyPolicy {
  private warmedGpu: GpuSetting | undefined;

  constructor(private readonly o: StandbyPolicyOptions) {}

  /** The `gpu` the standby was started with (undefined: none asked). */
  warmedWith(): GpuSetting | undefined {
    return this.warmedGpu;
  }

  /** Called on every upkeep tick: starts the standby or drops it, as the settings and the load say. */
  upkeep(): void {
    const { settings, launcher } = this.o;
    if (!settings().warm_standby) {
      if (launcher.standbyInfo()) void launcher.dropStandby();
      return;
    }
    if (!this.o.isQuiet()) return;
    const builtin = this.o.builtin();
    const gpu = this.o.gpu?.();
    // A standby started under `auto` before detection answered got what detection found: it stays
    // (loads adopt it: adoptableGpu). One started under another gpu setting is replaced.
    const equivalent = this.warmedGpu === 'auto' && settings().gpu === 'auto';
    if (gpu !== this.warmedGpu && !equivalent) void launcher.dropStandby();
    if (!launcher.standbyInfo()) this.warmedGpu = gpu;
    // Started as a one-slot model needs it (the default); a model with more slots starts its own.
    if (builtin.kind === 'program') launcher.warm(builtin, settings().start_timeout * 1000, { ...builtinBackendEnv(1, this.warmedGpu), ...this.o.env?.() });
  }
}

/**
 * The `gpu` a load must start with to adopt the waiting standby when it was started under `auto`
 * before detection answered (V2: the same GPU as detection found), else undefined.
 */
export function adoptableGpu(policy: StandbyPolicy, launcher: Pick<LocalHostLauncher, 'standbyInfo'>): GpuSetting | undefined {
  return launcher.standbyInfo() ? policy.warmedWith() : undefined;
}

/** Wraps `emit` so that it runs only when the standby really changed (the launcher reports every step). */
export function standbyChanges(emit: (standby: Snapshot['standby']) => void): (standby: Snapshot['standby']) => void {
  let shown = 'null';
  return (standby) => {
    const key = JSON.stringify(standby);
    if (key === shown) return;
    shown = key;
    emit(standby);
  };
}
