import { describe, expect, it } from 'vitest';
import { withoutTypeScriptLoader } from './runtime';

describe('withoutTypeScriptLoader', () => {
  it('L9: drops the tsx loader in every spelling and keeps other flags', () => {
    expect(withoutTypeScriptLoader(['--import', 'tsx', '--max-old-space-size=512'])).toEqual(['--max-old-space-size=512']);
    expect(withoutTypeScriptLoader(['--import=tsx', '--inspect'])).toEqual(['--inspect']);
    expect(withoutTypeScriptLoader(['--require', '/x/node_modules/tsx/dist/preflight.cjs', '--import', 'file:///x/node_modules/tsx/dist/loader.mjs'])).toEqual([]);
    expect(withoutTypeScriptLoader(['--loader', 'tsx/esm'])).toEqual([]);
    expect(withoutTypeScriptLoader(['--import', './setup.mjs', '--require', 'dotenv/config'])).toEqual(['--import', './setup.mjs', '--require', 'dotenv/config']);
    expect(withoutTypeScriptLoader([])).toEqual([]);
  });
});
