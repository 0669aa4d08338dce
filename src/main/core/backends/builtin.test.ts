import { afterEach, describe, expect, it } from 'vitest';
import { builtinBackendEnv } from './builtin';

const saved = process.env.UV_THREADPOOL_SIZE;
afterEach(() => {
  if (saved === undefined) delete process.env.UV_THREADPOOL_SIZE;
  else process.env.UV_THREADPOOL_SIZE = saved;
});

describe('builtinBackendEnv', () => {
  it('gives a one-slot model one libuv worker and leaves parallel models on the default pool', () => {
    delete process.env.UV_THREADPOOL_SIZE;
    expect(builtinBackendEnv(1)).toEqual({ UV_THREADPOOL_SIZE: '1' });
    expect(builtinBackendEnv(4)).toEqual({});
  });

  it("never overrides a pool size the user set in the app's environment", () => {
    process.env.UV_THREADPOOL_SIZE = '8';
    expect(builtinBackendEnv(1)).toEqual({});
  });

  it('V1: carries the GPU choice for the backend when the core gives one', () => {
    delete process.env.UV_THREADPOOL_SIZE;
    expect(builtinBackendEnv(1, 'cuda')).toEqual({ LOADOUT_GPU: 'cuda', UV_THREADPOOL_SIZE: '1' });
    expect(builtinBackendEnv(4, 'cpu')).toEqual({ LOADOUT_GPU: 'cpu' });
  });
});
