/** Error codes -> HTTP status and body, for /api and for OpenAI's /v1 shape (loader-spec.md's table). */
import { describe, expect, it } from 'vitest';
import { LoadoutError } from '../../../../shared/errors';
import type { ModelRow } from '../../../../shared/model';
import { InvalidParam, errorReply } from './errors';
import { stillLoading } from './onDemand';

describe('API errors', () => {
  it('every code gets its mapped status; 503s and 429 carry Retry-After', () => {
    const cases: [LoadoutError, number, string | undefined][] = [
      [new LoadoutError('not_found', 'x'), 404, undefined],
      [new LoadoutError('invalid', 'x'), 400, undefined],
      [new LoadoutError('pinned_conflict', 'x'), 409, undefined],
      [new LoadoutError('slots_busy', 'x', { retryAfter: 5 }), 503, '5'],
      [new LoadoutError('conflict_busy', 'x'), 503, '5'],
      [new LoadoutError('cooldown', 'x', { retryAfter: 19.2 }), 503, '20'],
      [new LoadoutError('memory', 'x'), 507, undefined],
      [new LoadoutError('queue_full', 'x', { retryAfter: 1 }), 429, '1'],
      [new LoadoutError('backend_crashed', 'x'), 502, undefined],
      [new LoadoutError('timeout', 'x'), 504, undefined],
      [new LoadoutError('too_large', 'x'), 413, undefined],
      [new LoadoutError('no_node', 'x'), 503, '5'],
      [new LoadoutError('cluster_unavailable', 'x'), 503, '2'],
    ];
    for (const [err, status, retry] of cases) {
      const r = errorReply(err, 'api');
      expect(r.status, err.code).toBe(status);
      expect(r.headers['retry-after'], err.code).toBe(retry);
      expect(r.body).toEqual({ error: err.toData() });
    }
    expect(errorReply(new LoadoutError('too_large', 'x'), 'api').headers.connection).toBe('close');
  });

  it('/v1 uses OpenAI\'s shape: model_not_found for a model lookup, param for a bad field, server_error for 5xx', () => {
    expect(errorReply(new LoadoutError('not_found', 'no such model'), 'v1', { modelLookup: true }).body).toEqual({
      error: { message: 'no such model', type: 'invalid_request_error', param: 'model', code: 'model_not_found' },
    });
    expect(errorReply(new LoadoutError('not_found', 'no such endpoint'), 'v1').body).toMatchObject({ error: { code: 'not_found', param: null } });
    expect(errorReply(new InvalidParam('top_p', 'bad top_p'), 'v1').body).toMatchObject({ error: { code: 'invalid', param: 'top_p', type: 'invalid_request_error' } });
    expect(errorReply(new LoadoutError('backend_failed', 'x'), 'v1').body).toMatchObject({ error: { type: 'server_error' } });
    expect(errorReply(new LoadoutError('unauthorized', 'x'), 'v1').body).toMatchObject({ error: { type: 'authentication_error' } });
    // Anything that is not a LoadoutError is the backend's surprise, not a bare 500.
    expect(errorReply(new Error('boom'), 'v1')).toMatchObject({ status: 502, body: { error: { code: 'backend_failed', message: 'boom' } } });
  });

  it('L12: a model still loading is 503 with state, progress, elapsed time and a Retry-After from the rate so far', () => {
    const row = { name: 'big', state: 'loading', progress: 0.25, loadStartedAt: new Date(10_000).toISOString() } as ModelRow;
    const e = stillLoading(row, 14_000);
    expect(e.toData()).toEqual({
      code: 'loading',
      message: expect.stringMatching(/big is still loading \(loading, 25% done, 4\.0 s so far\).*retry in about 12 s/),
      retryAfter: 12,
      loading: { model: 'big', state: 'loading', progress: 0.25, elapsedMs: 4000 },
    });
    const unknown = stillLoading({ ...row, progress: null, state: 'unloaded' }, 14_000);
    expect(unknown.retryAfter).toBe(5);
    expect(unknown.message).toContain('waiting for room');
    expect(errorReply(e, 'v1')).toMatchObject({ status: 503, headers: { 'retry-after': '12' }, body: { error: { code: 'loading', loading: { elapsedMs: 4000 } } } });
  });
});
