/**
 * Profiling driver: the HTTP/SSE layer's own CPU per streaming request, with no backend. Our
 * server runs over a stand-in core whose generation yields EVENTS pieces (one per turn of the
 * event loop), next to a bare Node HTTP server that streams the same bytes with the least code
 * possible (the floor). The client runs in a child process (sseClient.mjs), so the CPU measured
 * here is the server's alone.
 *   npx tsx scripts/bench/serverOnly.ts            # BURSTS (default 200), EVENTS (default 16)
 *   node --cpu-prof --import tsx scripts/bench/serverOnly.ts
 */
import { createServer } from 'node:http';
import { defaultSettings } from '../../src/shared/settings';
import type { ModelRow } from '../../src/shared/model';
import type { Core } from '../../src/main/core/createCore';
import type { StreamChunk } from '../../src/main/core/loader/loader';
import { startHttpServer } from '../../src/main/core/server/httpServer';
import { startSseClient } from './sseClientProc';

const BURSTS = Number(process.env.BURSTS) || 200;
const EVENTS = Number(process.env.EVENTS ?? 16);
const N = 32;
const SIDES = (process.env.SIDES ?? 'bare,ours').split(',');

const nextTurn = () => new Promise<void>((r) => setImmediate(r));

async function* pieces(signal?: AbortSignal): AsyncGenerator<StreamChunk> {
  for (let i = 0; i < EVENTS; i++) {
    await nextTurn();
    if (signal?.aborted) throw signal.reason;
    yield { text: ' tok tok tok tok', tokens: (i + 1) * 4, promptTokens: 12 };
  }
}

function fakeCore(): Core {
  const settings = defaultSettings();
  const row = { name: 'tiny4', status: 'ok', state: 'ready', backend: 'llama-cpp', loadedAt: new Date().toISOString() } as unknown as ModelRow;
  const commands = {
    settings: () => settings,
    row: (name: string) => ({ ...row, name }),
    backends: () => [],
    complete: (_name: string, _req: unknown, opts?: { signal?: AbortSignal }) => pieces(opts?.signal),
    chat: (_name: string, _req: unknown, opts?: { signal?: AbortSignal }) => pieces(opts?.signal),
    recordRequest: () => {},
  };
  return { commands, events: { emit: () => {} } } as unknown as Core;
}

async function main(): Promise<void> {
  const server = await startHttpServer(fakeCore(), { port: 0, ui: false });
  // The floor: read the body, parse it, stream the same events (first, EVENTS pieces, last, usage, [DONE]).
  const bare = createServer((req, res) => {
    let b = '';
    req.setEncoding('utf8');
    req.on('data', (d: string) => (b += d));
    req.on('end', async () => {
      const body = JSON.parse(b);
      res.writeHead(200, { 'content-type': 'text/event-stream; charset=utf-8', 'cache-control': 'no-cache' });
      const head = `data: {"id":"cmpl-1","object":"text_completion","created":1,"model":"${body.model}","choices":[{"index":0,"text":`;
      res.write(`${head}"",\"logprobs\":null,\"finish_reason\":null}],"usage":null}\n\n`);
      for await (const c of pieces()) res.write(`${head}${JSON.stringify(c.text)},"logprobs":null,"finish_reason":null}],"usage":null}\n\n`);
      res.end(`${head}"","logprobs":null,"finish_reason":"length"}],"usage":null}\n\ndata: {"id":"cmpl-1","object":"text_completion","created":1,"model":"tiny4","choices":[],"usage":{"prompt_tokens":12,"completion_tokens":${EVENTS * 4},"total_tokens":${12 + EVENTS * 4}}}\n\ndata: [DONE]\n\n`);
    });
  });
  await new Promise<void>((r) => bare.listen(0, '127.0.0.1', r));
  const ports: Record<string, number> = { bare: (bare.address() as { port: number }).port, ours: server.port };
  const client = startSseClient();
  const requests = Array.from({ length: N }, (_, i) => ({
    path: '/v1/completions',
    body: { model: 'tiny4', prompt: `hello ${i}`, stream: true, stream_options: { include_usage: true }, max_tokens: 64 },
  }));
  try {
    const cpu: Record<string, number[]> = {};
    for (let b = 0; b < BURSTS + 20; b++) {
      for (let k = 0; k < SIDES.length; k++) {
        const side = SIDES[(b + k) % SIDES.length];
        const c0 = process.cpuUsage();
        const answer = await client.run(ports[side], requests);
        const c = process.cpuUsage(c0);
        if (answer.results.some((r) => !r.ok)) throw new Error(`${side}: ${answer.results.find((r) => !r.ok)!.error}`);
        if (b >= 20) (cpu[side] ??= []).push((c.user + c.system) / N);
      }
    }
    const med = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)];
    for (const side of SIDES) process.stdout.write(`${side.padEnd(5)} ${med(cpu[side]).toFixed(0)} us CPU per request (${EVENTS} pieces each)\n`);
  } finally {
    await client.stop();
    bare.close();
    await server.close();
  }
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`${(e as Error).stack}\n`);
    process.exit(1);
  },
);
