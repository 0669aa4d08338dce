/**
 * House B: API streams send one SSE event per generated piece, as llama-server, Ollama, vLLM and
 * OpenAI do (clients and benchmark tools time tokens by events). A fast stream (a piece every
 * millisecond) used to be joined into 16 ms ticks: 200 tokens arrived as a few dozen events.
 */
import { afterEach, describe, expect, it } from 'vitest';
import { startHttpServer } from '../src/main/core/server/httpServer';
import type { HttpServerHandle } from '../src/main/core/server/httpServer';
import { disposeAll, faultModel, startTestCore } from './harness';

const servers: HttpServerHandle[] = [];
afterEach(async () => {
  for (const s of servers.splice(0)) await s.close();
  await disposeAll();
});

describe('SSE events', () => {
  it('a fast stream of N pieces arrives as N events, for chat and completions', async () => {
    const N = 200;
    const t = await startTestCore({ configs: { 'a.yaml': faultModel('a', { options: ['fault_token_ms:1', `fault_tokens:${N}`] }) } });
    const server = await startHttpServer(t.core, { port: 0, ui: false });
    servers.push(server);
    await t.core.commands.load('a');
    for (const [path, body, text] of [
      ['/v1/chat/completions', { model: 'a', messages: [{ role: 'user', content: 'hi' }], stream: true }, (c: any) => c.choices[0]?.delta?.content],
      ['/v1/completions', { model: 'a', prompt: 'p', stream: true }, (c: any) => c.choices[0]?.text],
    ] as const) {
      const res = await fetch(`http://127.0.0.1:${server.port}${path}`, { method: 'POST', headers: { 'content-type': 'application/json' }, body: JSON.stringify(body) });
      const chunks = (await res.text())
        .split('\n\n')
        .filter((e) => e.startsWith('data: {'))
        .map((e) => JSON.parse(e.slice(6)));
      const pieces = chunks.map(text).filter((x: string | undefined) => x);
      expect(pieces, path).toHaveLength(N);
      expect(pieces.join(''), path).toBe(Array.from({ length: N }, (_, i) => `tok${i}`).join(' '));
    }
  });
});
