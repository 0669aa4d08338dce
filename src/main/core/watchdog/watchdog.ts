/**
 * The watchdog (W1-W3): a periodic check on an injected clock. `findings` is a pure function of
 * what the loader reports; the loader does the unloading. Tests drive it with fake time.
 */
import type { Settings } from '../../../shared/model';
import type { Clock } from '../clock';
import type { WatchModel } from '../loader/loader';

export type Finding =
  | { kind: 'idle'; name: string; text: string }
  | { kind: 'stalled'; name: string; text: string }
  | { kind: 'reclaim'; name: string; text: string };

const seconds = (ms: number) => `${Math.round(ms / 1000)} s`;

export function findings(models: readonly WatchModel[], now: number, settings: Settings, memoryUsedFraction: number | null): Finding[] {
  const out: Finding[] = [];
  const stallMs = settings.stall_timeout * 1000;
  for (const m of models) {
    // W2: silence, not wall time: a long answer that keeps producing tokens is never stuck.
    if (stallMs > 0 && m.oldestRequestProgressAt !== null && now - m.oldestRequestProgressAt >= stallMs) {
      out.push({ kind: 'stalled', name: m.name, text: `no output from a request for ${seconds(now - m.oldestRequestProgressAt)}` });
      continue;
    }
    // A backend that never reports load progress (LocalAI's) is bounded by load_timeout instead.
    if (stallMs > 0 && m.state === 'loading' && m.loadProgressAt !== null && now - m.loadProgressAt >= stallMs) {
      out.push({ kind: 'stalled', name: m.name, text: `no load progress for ${seconds(now - m.loadProgressAt)}` });
      continue;
    }
    // W1: idle unload; per-model ttl overrides idle_timeout; pinned models are exempt.
    const ttl = m.ttl ?? settings.idle_timeout;
    if (!m.pinned && ttl > 0 && m.state === 'ready' && m.inFlight === 0 && now - m.lastUsed >= ttl * 1000) {
      out.push({ kind: 'idle', name: m.name, text: seconds(now - m.lastUsed) });
    }
  }
  // W3: one idle, non-pinned model per tick, least recently used first.
  if (settings.memory_reclaimer && memoryUsedFraction !== null && memoryUsedFraction > settings.memory_threshold) {
    const flagged = new Set(out.map((f) => f.name));
    const victim = models
      .filter((m) => m.state === 'ready' && m.inFlight === 0 && !m.pinned && !m.remote && !flagged.has(m.name))
      .sort((a, b) => a.lastUsed - b.lastUsed)[0];
    if (victim) {
      out.push({
        kind: 'reclaim',
        name: victim.name,
        text: `${Math.round(memoryUsedFraction * 100)}% of memory in use, threshold ${Math.round(settings.memory_threshold * 100)}%`,
      });
    }
  }
  return out;
}

export interface WatchdogOptions {
  clock: Clock;
  /** Periodic upkeep the loader does on the same tick (memory figures, W4 drain, standby). */
  upkeep?: () => void;
  intervalMs: number;
  settings: () => Settings;
  models: () => WatchModel[];
  memoryUsedFraction: () => number | null;
  act: (finding: Finding) => void;
}

export class Watchdog {
  private timer: unknown = null;
  private running = false;

  constructor(private readonly o: WatchdogOptions) {}

  start(): void {
    if (this.running) return;
    this.running = true;
    this.schedule();
  }

  /** One check; public so tests and the loader can run it at a known instant. */
  tick(): Finding[] {
    this.o.upkeep?.();
    const s = this.o.settings();
    const memory = s.memory_reclaimer ? this.o.memoryUsedFraction() : null;
    const found = findings(this.o.models(), this.o.clock.now(), s, memory);
    for (const f of found) this.o.act(f);
    return found;
  }

  dispose(): void {
    this.running = false;
    if (this.timer !== null) this.o.clock.clearTimeout(this.timer);
    this.timer = null;
  }

  private schedule(): void {
    this.timer = this.o.clock.setTimeout(() => {
      if (!this.running) return;
      try {
        this.tick();
      } finally {
        this.schedule();
      }
    }, this.o.intervalMs);
  }
}
