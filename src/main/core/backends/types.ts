/**
 * The seam between the loader and where a model runs: a local backend process today, a remote
 * `host:port` backend, and later a replica on another machine. The loader only sees `ModelHost`.
 */
import type { BackendClient } from '../grpc/types';

export interface ExitInfo {
  code: number | null;
  signal: string | null;
  /** Last non-empty stderr line, for the user ("why did it die"). */
  stderr: string | null;
}

export interface ModelHost {
  readonly kind: 'local' | 'remote';
  /** `127.0.0.1:<port>` or the remote `host:port`. */
  readonly address: string;
  readonly pid: number | null;
  readonly client: BackendClient;
  /** Resolves once when the process has exited (never, for a remote host until `stop`). */
  readonly exited: Promise<ExitInfo>;
  /** Live resident set size of the process in bytes, or null where unknown (remote). */
  rssBytes(): number | null;
  /**
   * Graceful: SIGTERM to the process group, up to `graceMs`, then SIGKILL; resolves on exit.
   * `graceMs = 0` kills at once. Remote: closes the channel.
   */
  stop(graceMs: number): Promise<ExitInfo>;
}

/** How to start one backend for one model. */
export interface HostSpec {
  /** Model name (used for logs and the pid registry). */
  model: string;
  backend: ResolvedBackend;
  /** Environment additions for the process. */
  env?: Record<string, string>;
  /** Budget for the process to answer Health "OK" (start_timeout). */
  startTimeoutMs: number;
  signal?: AbortSignal;
}

export type ResolvedBackend =
  | { kind: 'program'; name: string; command: string; args: string[]; env?: Record<string, string> }
  | { kind: 'remote'; name: string; address: string }
  | LlamaServerBackend;

/** llama.cpp's own server, one per model (Engine 1); the binary is looked up when a load starts. */
export interface LlamaServerBackend {
  kind: 'llama-server';
  name: string;
  locate(): { found: { path: string } } | { found: null; why: string };
}

/** Starts a host and resolves once its Health answers OK; rejects with a LoadoutError otherwise. */
export interface HostLauncher {
  start(spec: HostSpec): Promise<ModelHost>;
}
