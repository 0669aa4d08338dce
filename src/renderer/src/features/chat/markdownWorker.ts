/**
 * The page's side of markdown.worker.ts: one worker for all streaming answers, started on first
 * use. Where a worker cannot start (no Worker, a policy that forbids it, a load error), parsing
 * falls back to the page's thread (streamingParse.ts), so answers still render.
 */
import type { Chunk, ChunkJob } from './markdown';

export interface ChunkRequest {
  id: number;
  jobs: ChunkJob[];
}
export interface ChunkReply {
  id: number;
  chunks: Chunk[];
}

/** Parses chunks somewhere else than the caller's frame; rejects when it cannot (then the caller parses itself). */
export interface ChunkParser {
  parse(jobs: ChunkJob[]): Promise<Chunk[]>;
}

let shared: ChunkParser | null | undefined;

export function workerParser(): ChunkParser | null {
  if (shared !== undefined) return shared;
  shared = null;
  if (typeof Worker === 'undefined') return null;
  let worker: Worker;
  try {
    worker = new Worker(new URL('./markdown.worker.ts', import.meta.url), { type: 'module', name: 'markdown' });
  } catch {
    return null;
  }
  const waiting = new Map<number, { resolve(chunks: Chunk[]): void; reject(e: Error): void }>();
  let next = 0;
  const fail = (why: string) => {
    console.warn(why);
    shared = null;
    worker.terminate();
    for (const w of waiting.values()) w.reject(new Error(why));
    waiting.clear();
  };
  worker.onmessage = (e: MessageEvent<ChunkReply>) => {
    const w = waiting.get(e.data.id);
    waiting.delete(e.data.id);
    w?.resolve(e.data.chunks);
  };
  worker.onerror = (e) => fail(`the Markdown worker failed: ${e.message || 'it could not load'}`);
  worker.onmessageerror = () => fail('the Markdown worker sent what the page cannot read');
  shared = {
    parse: (jobs) =>
      new Promise((resolve, reject) => {
        const id = next++;
        waiting.set(id, { resolve, reject });
        worker.postMessage({ id, jobs } satisfies ChunkRequest);
      }),
  };
  return shared;
}
