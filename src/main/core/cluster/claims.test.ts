/** Load claims across frontends: wait, create, take over a dead holder's claim and adopt its load (D19). */
import { describe, expect, it } from 'vitest';
import { CLAIM_LEASE_MS, decideClaim, type ClaimInput, type ClaimObservation } from './claims';

const T0 = 2_000_000;
const claimOf = (o: Partial<ClaimObservation['claim']> = {}, seenAt = T0, revision = 7): ClaimObservation => ({
  claim: { frontend: 'fe2', node: 'w1', state: 'loading', progress: 0.4, ...o },
  revision,
  seenAt,
});
const decide = (o: Partial<ClaimInput>) => decideClaim({ model: 'X', frontend: 'fe1', claim: null, replicas: [], connected: true, now: T0, ...o });

describe('decideClaim', () => {
  it('no claim and nobody loading: create one; a node loading it or a resident replica: no second load', () => {
    expect(decide({})).toEqual({ kind: 'create' });
    expect(decide({ replicas: [{ node: 'w2', state: 'loading' }] })).toEqual({ kind: 'wait', node: 'w2', until: null });
    expect(decide({ replicas: [{ node: 'w2', state: 'ready' }] })).toEqual({ kind: 'ready', node: 'w2' });
  });

  it("a live holder's claim: wait (until its lease would run out); all waiters get its replica or its error", () => {
    expect(decide({ claim: claimOf(), now: T0 + 1_000 })).toEqual({ kind: 'wait', node: 'w1', until: T0 + CLAIM_LEASE_MS });
    expect(decide({ claim: claimOf({ state: 'ready' }), replicas: [{ node: 'w1', state: 'ready' }] })).toEqual({ kind: 'ready', node: 'w1' });
    const error = { code: 'backend_failed' as const, message: 'X failed: bad magic' };
    expect(decide({ claim: claimOf({ state: 'failed', error }) })).toEqual({ kind: 'failed', error });
    expect(decide({ claim: claimOf({ frontend: 'fe1' }) })).toEqual({ kind: 'held', refreshAt: T0 + 5_000 });
  });

  it('D18: a claim that says ready while no replica is resident is not routed to: others wait, its holder loads again', () => {
    // The replica was unloaded (or its node died) in the second the outcome is kept.
    expect(decide({ claim: claimOf({ state: 'ready' }), now: T0 + 200 })).toEqual({ kind: 'wait', node: 'w1', until: T0 + CLAIM_LEASE_MS });
    expect(decide({ claim: claimOf({ state: 'ready' }), replicas: [{ node: 'w1', state: 'stopping' }] })).toMatchObject({ kind: 'wait' });
    expect(decide({ claim: claimOf({ state: 'ready', frontend: 'fe1' }) })).toEqual({ kind: 'held', refreshAt: T0 + 5_000 });
  });

  it('D19: a holder silent for 15 s is replaced through update(revision), adopting the load still running on its node', () => {
    const claim = claimOf({}, T0, 7);
    expect(decide({ claim, now: T0 + CLAIM_LEASE_MS - 1, replicas: [{ node: 'w1', state: 'loading' }] })).toMatchObject({ kind: 'wait' });
    expect(decide({ claim, now: T0 + CLAIM_LEASE_MS, replicas: [{ node: 'w1', state: 'loading' }] })).toEqual({ kind: 'take_over', revision: 7, adopt: 'w1' });
    // The load did not survive (or never reached a node): take over and place anew.
    expect(decide({ claim, now: T0 + CLAIM_LEASE_MS, replicas: [] })).toEqual({ kind: 'take_over', revision: 7, adopt: null });
    expect(decide({ claim: claimOf({ node: null }), now: T0 + CLAIM_LEASE_MS })).toEqual({ kind: 'take_over', revision: 7, adopt: null });
    // A NATS outage does not count against the holder (it could not refresh either).
    expect(decide({ claim, now: T0 + CLAIM_LEASE_MS + 1_000, outages: [{ from: T0 + 1_000, to: T0 + 3_000 }] })).toMatchObject({ kind: 'wait' });
  });

  it('NATS unreachable: a cold load fails fast with cluster_unavailable (Retry-After 2); a resident replica is still served', () => {
    expect(decide({ connected: false })).toEqual({ kind: 'failed', error: { code: 'cluster_unavailable', message: expect.stringContaining('NATS is unreachable'), retryAfter: 2 } });
    expect(decide({ connected: false, replicas: [{ node: 'w1', state: 'busy' }] })).toEqual({ kind: 'ready', node: 'w1' });
  });
});
