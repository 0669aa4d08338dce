import { describe, expect, it } from 'vitest';
import { SlotPool } from './slotPool';

describe('SlotPool', () => {
  it('R2: hands out free slots at once and queues the rest first come, first served', async () => {
    const pool = new SlotPool(['s1', 's2']);
    expect(await pool.acquire()).toBe('s1');
    expect(await pool.acquire()).toBe('s2');
    expect(pool.busy).toBe(2);
    const served: string[] = [];
    const waiting = ['a', 'b', 'c'].map((name) => pool.acquire().then((slot) => served.push(`${name}:${slot}`)));
    expect(pool.queued).toBe(3);
    pool.release('s2');
    pool.release('s1');
    await Promise.resolve();
    expect(served).toEqual(['a:s2', 'b:s1']);
    pool.release('s1');
    await Promise.all(waiting);
    expect(served).toEqual(['a:s2', 'b:s1', 'c:s1']);
  });

  it('R3: a waiter whose signal aborts leaves the queue; the slot goes to the next one', async () => {
    const pool = new SlotPool([1]);
    const slot = await pool.acquire();
    const abort = new AbortController();
    const first = pool.acquire(abort.signal);
    const second = pool.acquire();
    abort.abort(new Error('gone'));
    await expect(first).rejects.toThrow('gone');
    expect(pool.queued).toBe(1);
    pool.release(slot);
    expect(await second).toBe(1);
    await expect(pool.acquire(AbortSignal.abort(new Error('already')))).rejects.toThrow('already');
  });

  it('U1: close fails every waiter and later acquires', async () => {
    const pool = new SlotPool([1]);
    await pool.acquire();
    const waiting = pool.acquire();
    pool.close(new Error('unloaded'));
    await expect(waiting).rejects.toThrow('unloaded');
    await expect(pool.acquire()).rejects.toThrow('unloaded');
  });
});
