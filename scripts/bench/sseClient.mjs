#!/usr/bin/env node
// The API benchmark's HTTP client, in a process of its own as a real client is (an editor, a
// script, an agent): its CPU is not billed to the core's event loop. Plain JavaScript run by plain
// node. It reads one JSON job per line on stdin and answers each with one line on stdout:
//   job:    { id, port, requests: [{ path, body }] }   (all sent at once, on fresh keep-alive connections)
//   answer: RESULT { id, wallMs, results: [{ ok, error?, ttftMs, text, tokens, firstAt, lastAt }] }
// Times are on this process's clock: wallMs from the first request sent to the last answer ended.
// Each response is read as SSE the way a lean client does: split on blank lines, JSON.parse each
// `data:` event, take the text and the usage.
import { Agent, request } from 'node:http';
import { createInterface } from 'node:readline';

function stream(agent, port, path, body) {
  return new Promise((resolve) => {
    const start = performance.now();
    let first = NaN;
    let last = NaN;
    let text = '';
    let tokens = 0;
    let error = null;
    let buffer = '';
    const done = (extra) => resolve({ ok: error === null, error: error ?? undefined, ttftMs: first - start, text, tokens, firstAt: first, lastAt: last, ...extra });
    const req = request({ host: '127.0.0.1', port, path, method: 'POST', agent, headers: { 'content-type': 'application/json' } }, (res) => {
      if (res.statusCode !== 200) {
        let b = '';
        res.on('data', (d) => (b += d));
        res.on('end', () => {
          error = `HTTP ${res.statusCode}: ${b}`;
          done();
        });
        return;
      }
      res.setEncoding('utf8');
      res.on('data', (d) => {
        const now = performance.now();
        buffer += d;
        let cut;
        while ((cut = buffer.indexOf('\n\n')) >= 0) {
          const event = buffer.slice(0, cut);
          buffer = buffer.slice(cut + 2);
          if (!event.startsWith('data: ') || event === 'data: [DONE]') continue;
          const data = JSON.parse(event.slice(6));
          if (data.error) error = data.error.message;
          const choice = data.choices?.[0];
          const piece = choice?.delta?.content ?? choice?.text ?? '';
          if (piece) {
            if (Number.isNaN(first)) first = now;
            last = now;
            text += piece;
          }
          if (data.usage) tokens = data.usage.completion_tokens;
        }
      });
      res.on('end', () => done());
      res.on('error', (e) => {
        error ??= e.message;
        done();
      });
    });
    req.on('error', (e) => {
      error ??= e.message;
      done();
    });
    req.end(JSON.stringify(body));
  });
}

async function run(job) {
  // Connections are kept alive within a job and dropped after it: a socket left idle for about
  // the server's keep-alive timeout (5 s) can be closed just as it is reused (ECONNRESET).
  const agent = new Agent({ keepAlive: true, maxSockets: Infinity });
  const started = performance.now();
  const results = await Promise.all(job.requests.map((r) => stream(agent, job.port, r.path, r.body)));
  const wallMs = performance.now() - started;
  agent.destroy();
  return { id: job.id, wallMs, results };
}

const lines = createInterface({ input: process.stdin });
lines.on('line', (line) => {
  if (!line.trim()) return;
  run(JSON.parse(line)).then(
    (answer) => process.stdout.write(`RESULT ${JSON.stringify(answer)}\n`),
    (e) => process.stdout.write(`RESULT ${JSON.stringify({ id: JSON.parse(line).id, fatal: String(e?.stack ?? e) })}\n`),
  );
});
// stdin closing (the parent gone) ends us.
lines.on('close', () => process.exit(0));
