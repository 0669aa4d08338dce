import { describe, expect, it } from 'vitest';
import { checkId, checkParams, checkPatch, checkText, titleFrom } from './params';

describe('chat command input checks', () => {
  it('ids: only [a-z0-9-], so no id can name a path outside the chats folder', () => {
    expect(checkId('lz3k1q2ab-0123456789')).toBe('lz3k1q2ab-0123456789');
    for (const bad of ['../settings', 'a/b', 'A', '', '-x', 'x.jsonl', 'x\0', 42, null, 'a'.repeat(65)]) {
      expect(() => checkId(bad)).toThrow(expect.objectContaining({ code: 'invalid' }));
    }
  });

  it('messages must have text', () => {
    expect(() => checkText('  \n')).toThrow(/empty/);
    expect(() => checkText(5)).toThrow(/text/);
    expect(checkText(' hi ')).toBe(' hi ');
  });

  it('params: ranges, whole numbers, null for the model default, unknown keys refused', () => {
    expect(checkParams({ temperature: 0, top_p: 1, max_tokens: 5, seed: -3, system_prompt: 'x' })).toEqual({ temperature: 0, top_p: 1, max_tokens: 5, seed: -3, system_prompt: 'x' });
    expect(checkParams({ temperature: null })).toEqual({ temperature: null });
    expect(() => checkParams({ temperature: 2.5 })).toThrow(/temperature must be a number from 0 to 2/);
    expect(() => checkParams({ top_p: -0.1 })).toThrow(/top_p/);
    expect(() => checkParams({ max_tokens: 0 })).toThrow(/max_tokens/);
    expect(() => checkParams({ max_tokens: 1.5 })).toThrow(/max_tokens/);
    expect(() => checkParams({ seed: 1.5 })).toThrow(/seed/);
    expect(() => checkParams({ temprature: 1 })).toThrow(/Unknown chat setting "temprature"/);
    expect(() => checkParams({ system_prompt: 3 })).toThrow(/system_prompt/);
    // Own keys only: Object.prototype's members are not chat settings.
    expect(() => checkParams({ toString: 1 })).toThrow(/Unknown chat setting "toString"/);
    expect(() => checkParams(JSON.parse('{"__proto__": 1}'))).toThrow(/Unknown chat setting "__proto__"/);
  });

  it('patches: titles trimmed and non-empty, model a name or null', () => {
    expect(checkPatch({ title: '  My   chat ' })).toEqual({ title: 'My chat' });
    expect(() => checkPatch({ title: '   ' })).toThrow(/title cannot be empty/);
    expect(checkPatch({ model: null })).toEqual({ model: null });
    expect(() => checkPatch({ model: 3 })).toThrow(/model/);
    expect(() => checkPatch({ colour: 'red' })).toThrow(/Unknown conversation field/);
    expect(checkPatch(undefined)).toEqual({});
  });

  it('titles from the first line of the first message, about 48 characters', () => {
    expect(titleFrom('\n  Hello there  \nsecond line')).toBe('Hello there');
    const long = titleFrom('Explain the difference between TCP and UDP in networking for beginners please');
    expect(long.endsWith('…')).toBe(true);
    expect(long.length).toBeLessThanOrEqual(49);
    expect(long).toBe('Explain the difference between TCP and UDP in…');
    expect(titleFrom('x'.repeat(100))).toBe(`${'x'.repeat(48)}…`);
  });
});
