import { describe, expect, it } from 'vitest';
import { parseLoadOptions, resolveModelPath, toChatHistory } from './engine';

describe('engine helpers', () => {
  it('R2: parallel:N comes from Options; unknown keys are ignored; bad values are refused', () => {
    expect(parseLoadOptions(undefined)).toEqual({ parallel: 1 });
    expect(parseLoadOptions(['gpu', 'parallel:3', 'use_jinja:true'])).toEqual({ parallel: 3 });
    expect(() => parseLoadOptions(['parallel:0'])).toThrow(/parallel must be a whole number/);
    expect(() => parseLoadOptions(['parallel:two'])).toThrow(/"parallel:two" is invalid/);
  });

  it('L11: ModelFile is used as is when absolute, inside ModelPath when relative', () => {
    expect(resolveModelPath({ Model: 'm', ModelFile: '/models/a.gguf', ModelPath: '/other' })).toBe('/models/a.gguf');
    expect(resolveModelPath({ Model: 'm', ModelFile: 'a.gguf', ModelPath: '/models' })).toBe('/models/a.gguf');
    expect(resolveModelPath({ Model: 'b.gguf', ModelPath: '/models' })).toBe('/models/b.gguf');
    expect(resolveModelPath({ Model: '' })).toBeUndefined();
  });

  it('C3: chat turns map to node-llama-cpp history and end with the turn to generate', () => {
    expect(
      toChatHistory([
        { role: 'system', content: 's' },
        { role: 'user', content: 'u' },
        { role: 'assistant', content: 'a' },
        { role: 'tool', content: 't' },
      ]),
    ).toEqual([
      { type: 'system', text: 's' },
      { type: 'user', text: 'u' },
      { type: 'model', response: ['a'] },
      { type: 'user', text: 't' },
      { type: 'model', response: [] },
    ]);
    // A trailing assistant turn is continued, not closed.
    expect(toChatHistory([{ role: 'user', content: 'u' }, { role: 'assistant', content: 'Sure,' }]).at(-1)).toEqual({
      type: 'model',
      response: ['Sure,'],
    });
  });
});
