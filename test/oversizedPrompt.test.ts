/**
 * Trust 8: text that cannot fit the context is refused before it is tokenized (tokenizing it runs
 * on the backend's only thread, uninterruptibly, in up to quadratic time), and a client that
 * leaves takes its work in the backend with it.
 */
import { readFileSync } from 'node:fs';
import { afterEach, describe, expect, it } from 'vitest';
import { disposeAll, startTestCore } from './harness';

afterEach(disposeAll);

const config = (name: string, file: string, extra = '') => `name: ${name}\nparameters:\n  model: ${file}\ncontext_size: 512\nthreads: 1\n${extra}`;

async function drain(it: AsyncIterable<{ text: string }>): Promise<string> {
  let out = '';
  for await (const c of it) out += c.text;
  return out;
}

async function failure(p: Promise<unknown>): Promise<{ code: string; message: string }> {
  try {
    await p;
  } catch (e) {
    return e as { code: string; message: string };
  }
  throw new Error('expected a refusal');
}

/** CPU time (ms) the process has used, from /proc (clock ticks of 10 ms). */
function cpuMs(pid: number): number {
  const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  return (Number(fields[11]) + Number(fields[12])) * 10;
}

describe('prompts that cannot fit the context', () => {
  it('a 300,000-character prompt whose client leaves is refused at once as the client\'s mistake; the backend goes back to idle', async () => {
    const t = await startTestCore({ ggufs: { tiny: 3 }, configs: { 'tiny.yaml': config('tiny', 'tiny.gguf') } });
    const row = await t.core.commands.load('tiny');
    const huge = 'x'.repeat(300_000); // one long word: the slowest text to tokenize
    const client = new AbortController();
    setTimeout(() => client.abort(), 3000);
    const t0 = performance.now();
    const e = await failure(drain(t.core.commands.complete('tiny', { prompt: huge, max_tokens: 8 }, { signal: client.signal })));
    expect(performance.now() - t0).toBeLessThan(2000);
    expect(e.code).toBe('invalid'); // a 400 through the API, not a 502 that clients retry
    expect(e.message).toMatch(/The prompt is 300000 bytes, at least \d+ tokens for this model, but the context holds 512 tokens: shorten the conversation or raise the model's context_size\./);
    expect(t.row('tiny').inFlight).toBe(0);
    if (process.platform === 'linux') {
      const before = cpuMs(row.pid!);
      await new Promise((r) => setTimeout(r, 1000));
      expect(cpuMs(row.pid!) - before).toBeLessThan(300); // idle, not tokenizing
    }
    // The same in a chat, in one message.
    const chat = await failure(drain(t.core.commands.chat('tiny', { messages: [{ role: 'user', content: huge }], max_tokens: 8 })));
    expect(chat.code).toBe('invalid');
    // Counting tokens of such text is refused too (the chat view then estimates).
    expect((await failure(t.core.commands.tokenize('tiny', huge))).code).toBe('invalid');
    const t1 = performance.now();
    expect((await drain(t.core.commands.complete('tiny', { prompt: 'Once upon a time', max_tokens: 4 }))).length).toBeGreaterThan(0);
    expect(performance.now() - t1).toBeLessThan(2000);
  });

  it('text that may fit is still tokenized and measured exactly; over the context it is a 400 naming the limit', async () => {
    const t = await startTestCore({ ggufs: { tiny: 3, emb: 6 }, configs: { 'tiny.yaml': config('tiny', 'tiny.gguf'), 'emb.yaml': config('emb', 'emb.gguf', 'embeddings: true\n') } });
    const words = 'Once upon a time there was a dog. '.repeat(100); // ~3,400 characters, well over 512 tokens
    const e = await failure(drain(t.core.commands.complete('tiny', { prompt: words, max_tokens: 8 })));
    expect(e.code).toBe('invalid');
    expect(e.message).toMatch(/The prompt is \d+ tokens but the context holds 512/);
    const emb = await failure(t.core.commands.embed('emb', 'x'.repeat(300_000)));
    expect(emb.code).toBe('invalid');
    expect(emb.message).toMatch(/but the context holds 512 tokens: send shorter pieces/);
    expect((await t.core.commands.embed('emb', 'hello world')).length).toBeGreaterThan(0);
  });
});
