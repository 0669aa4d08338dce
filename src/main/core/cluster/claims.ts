/**
 * Coalescing across frontends (D19): one load claim per model in
 * `loadout_claims`, written with create/update(revision). This module only decides, from the
 * claim as last seen, what this frontend does next; the router does the KV calls and the waiting.
 * Time is this frontend's clock: a claim is judged by when its latest revision *arrived* here,
 * never by a timestamp another machine wrote.
 */
import type { ErrorData } from '../../../shared/errors';
import { RETRY_AFTER_S } from '../../../shared/errors';
import type { ModelState } from '../../../shared/model';
import { staleMs, type Outage } from './view';

/** A holder refreshes its claim this often... */
export const CLAIM_REFRESH_MS = 5_000;
/** ...and one not refreshed for this long is dead: another frontend takes the claim over. */
export const CLAIM_LEASE_MS = 15_000;
/** After NATS comes back, a claim's clock stays paused this long, so its holder can refresh it. */
export const CLAIM_RECONNECT_GRACE_MS = CLAIM_REFRESH_MS;

export interface ClaimRecord {
  frontend: string;
  /** The node the load was sent to; null while the holder is still placing it. */
  node: string | null;
  state: 'loading' | 'ready' | 'failed';
  progress: number | null;
  error?: ErrorData;
}

export interface ClaimObservation {
  claim: ClaimRecord;
  revision: number;
  /** When this revision arrived here (this frontend's clock). */
  seenAt: number;
}

export interface ClaimInput {
  model: string;
  /** This frontend's id. */
  frontend: string;
  /** The claim key as last seen; null when there is none. */
  claim: ClaimObservation | null;
  /** Where the nodes report the model (live nodes only), from the same snapshot. */
  replicas: readonly { node: string; state: ModelState }[];
  /** Whether NATS is reachable now. */
  connected: boolean;
  outages?: readonly Outage[];
  now: number;
}

export type ClaimDecision =
  /** A replica is resident (or the claim says its load is done): route there. */
  | { kind: 'ready'; node: string }
  /** Nobody is loading it: `create` the claim, then place the model. */
  | { kind: 'create' }
  /** Another frontend (or a node) is loading it: wait for the claim or the row to change, or until `until`. */
  | { kind: 'wait'; node: string | null; until: number | null }
  /** The claim ended in an error: every waiter gets the same one. */
  | { kind: 'failed'; error: ErrorData }
  /** This frontend holds the claim: carry on with its load. */
  | { kind: 'held'; refreshAt: number }
  /**
   * The holder died: `update(revision)` the claim to this frontend; where its load still runs on
   * `adopt`, wait for that load instead of placing a new one.
   */
  | { kind: 'take_over'; revision: number; adopt: string | null };

const LOADING: readonly ModelState[] = ['starting', 'loading'];

export function decideClaim(input: ClaimInput): ClaimDecision {
  const resident = input.replicas.find((r) => r.state === 'ready' || r.state === 'busy');
  const seen = input.claim;
  if (resident) return { kind: 'ready', node: resident.node };
  // A claim that says ready with no resident replica in view is not trusted (D18): the replica went
  // away in the second the outcome is kept (unloaded, its node died), or this view lags behind its
  // record. Routing to it would find nothing; waiting sees the record or the claim's end (its
  // holder takes it again at once).
  if (seen?.claim.state === 'failed') return { kind: 'failed', error: seen.claim.error ?? { code: 'backend_failed', message: `${input.model} failed to load` } };
  if (!input.connected) {
    return {
      kind: 'failed',
      error: {
        code: 'cluster_unavailable',
        message: `${input.model} is not loaded anywhere, and NATS is unreachable, so a load cannot be coordinated. Requests to loaded models go on; try again shortly.`,
        retryAfter: RETRY_AFTER_S.cluster_unavailable,
      },
    };
  }
  if (!seen) {
    const loading = input.replicas.find((r) => LOADING.includes(r.state));
    return loading ? { kind: 'wait', node: loading.node, until: null } : { kind: 'create' };
  }
  if (seen.claim.frontend === input.frontend) return { kind: 'held', refreshAt: seen.seenAt + CLAIM_REFRESH_MS };
  const stale = staleMs(seen.seenAt, input.now, input.outages ?? [], CLAIM_RECONNECT_GRACE_MS);
  if (stale < CLAIM_LEASE_MS) return { kind: 'wait', node: seen.claim.node, until: input.now + (CLAIM_LEASE_MS - stale) };
  const node = seen.claim.node;
  const adopt = node !== null && input.replicas.some((r) => r.node === node && LOADING.includes(r.state)) ? node : null;
  return { kind: 'take_over', revision: seen.revision, adopt };
}
