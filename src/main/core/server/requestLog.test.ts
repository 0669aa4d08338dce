import { describe, expect, it } from 'vitest';
import type { RequestLogEntry } from '../../../shared/model';
import { RequestLog } from './requestLog';

const entry = (i: number): RequestLogEntry => ({ at: '', client: '', method: 'GET', path: `/${i}`, model: null, status: 200, tokens: null, durationMs: 1, error: null });

describe('RequestLog', () => {
  it('keeps the newest entries up to its capacity, oldest first, and hands out copies', () => {
    const log = new RequestLog(3);
    for (let i = 1; i <= 5; i++) log.record(entry(i));
    const listed = log.list();
    expect(listed.map((e) => e.path)).toEqual(['/3', '/4', '/5']);
    listed.pop();
    expect(log.list()).toHaveLength(3);
  });
});
