/**
 * Parses Markdown chunks off the page's thread (streamingParse.ts sends the chunks its cache
 * lacks): a long answer's last chunk costs milliseconds to parse, which the page would otherwise
 * take from its frames while the answer streams.
 */
import { parseChunk } from './markdown';
import type { ChunkRequest, ChunkReply } from './markdownWorker';

self.onmessage = (e: MessageEvent<ChunkRequest>) => {
  const reply: ChunkReply = { id: e.data.id, chunks: e.data.jobs.map((job) => parseChunk(job.src, job.labels)) };
  self.postMessage(reply);
};
