import { describe, expect, it } from 'vitest';
import { MESSAGE_OVERHEAD, PROMPT_OVERHEAD, answerReserve, effectiveContextSize, fitHistory, historyBudget, messageCost, tokenUpperBound } from './contextWindow';

describe('context window (issue 4: the oldest turns are left out, never the system prompt)', () => {
  it('the context is the config context_size, else the GGUF length capped at 4096 (what the built-in backend gets)', () => {
    expect(effectiveContextSize(512, 131072)).toBe(512);
    expect(effectiveContextSize(0, 131072)).toBe(4096);
    expect(effectiveContextSize(undefined, 2048)).toBe(2048);
    expect(effectiveContextSize(undefined, null)).toBe(4096);
  });

  it('reserves max_tokens for the answer (at most half the context), else a quarter of it', () => {
    expect(answerReserve(4096, 256)).toBe(256);
    expect(answerReserve(512, 4000)).toBe(256);
    expect(answerReserve(4096, null)).toBe(1024);
    expect(answerReserve(4096, 0)).toBe(1024);
  });

  it('the budget takes the system prompt and the prompt overhead off the context', () => {
    expect(historyBudget({ contextSize: 100, reserve: 20, systemTokens: null })).toBe(100 - 20 - PROMPT_OVERHEAD);
    expect(historyBudget({ contextSize: 100, reserve: 20, systemTokens: 10 })).toBe(100 - 20 - PROMPT_OVERHEAD - 10 - MESSAGE_OVERHEAD);
  });

  it('keeps everything that fits', () => {
    const costs = [10, 10, 10].map(messageCost);
    expect(fitHistory(costs, ['user', 'assistant', 'user'], 1000)).toEqual({ ok: true, keep: 3, tokens: costs[0] * 3 });
  });

  it('keeps the newest messages that fit and stops at the first that does not', () => {
    // newest first: user 10, assistant 10, user 10, assistant 10 ...
    const roles = ['user', 'assistant', 'user', 'assistant', 'user'];
    const costs = [16, 16, 16, 16]; // counting stopped after the first message past the budget
    const fit = fitHistory(costs, roles, 16 * 3 + 5);
    expect(fit).toEqual({ ok: true, keep: 3, tokens: 48 });
  });

  it('a kept history that would start with an answer starts with its question instead', () => {
    const roles = ['user', 'assistant', 'user', 'assistant', 'user'];
    // Room for 2: newest user + the assistant before it -> the assistant would open the prompt.
    const fit = fitHistory([16, 16, 16], roles, 40);
    expect(fit).toEqual({ ok: true, keep: 1, tokens: 16 });
  });

  it('a text never takes more tokens than its UTF-8 bytes plus one', () => {
    expect(tokenUpperBound('')).toBe(1);
    expect(tokenUpperBound('abc')).toBe(4);
    expect(tokenUpperBound('日本')).toBe(7);
  });

  it('when the newest message alone does not fit, says how long it is', () => {
    expect(fitHistory([messageCost(500)], ['user'], 100)).toEqual({ ok: false, newestTokens: 500 });
  });
});
