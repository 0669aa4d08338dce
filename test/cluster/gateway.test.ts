/**
 * A worker's gateway (distributed-spec.md section 3): a real `tiny` model streamed over TLS with
 * the pinned certificate and the bearer token from the node record; refusals (D11); live calls
 * counted so a client that goes leaves no in-flight behind.
 */
import * as grpc from '@grpc/grpc-js';
import { afterEach, describe, expect, it } from 'vitest';
import { encode, nodeSubject, type NodeRecord } from '../../src/main/core/cluster/protocol';
import { ERROR_CODE_METADATA } from '../../src/main/core/cluster/gateway';
import { PINNED_CHANNEL_OPTIONS, pinnedCredentials } from '../../src/main/core/cluster/tls';
import { backendService, type Reply__Output } from '../../src/wire';
import { cleanupCluster, clusterClient, readRecord, startNats, startWorker, waitUntil } from './harness';
import { faultModel } from '../harness';

afterEach(cleanupCluster);

const TINY = 'name: tiny\nparameters:\n  model: tiny.gguf\ncontext_size: 512\nthreads: 1\n';
type BackendClient = InstanceType<ReturnType<typeof backendService>>;

function clientFor(r: NodeRecord, sha256 = r.tlsSha256): BackendClient {
  const Ctor = backendService();
  return new Ctor(r.gateway, pinnedCredentials(r.tlsCert, sha256), PINNED_CHANNEL_OPTIONS);
}

function bearer(token: string): grpc.Metadata {
  const m = new grpc.Metadata();
  m.set('authorization', `Bearer ${token}`);
  return m;
}

function stream(c: BackendClient, md: grpc.Metadata, req: Record<string, unknown>): { call: grpc.ClientReadableStream<Reply__Output>; done: Promise<{ text: string; replies: number }> } {
  const call = c.PredictStream(req, md);
  let text = '';
  let replies = 0;
  const done = new Promise<{ text: string; replies: number }>((resolve, reject) => {
    call.on('data', (r: Reply__Output) => {
      replies++;
      text += r.message.toString('utf8');
    });
    call.on('end', () => resolve({ text, replies }));
    call.on('error', reject);
  });
  return { call, done };
}

async function loadOn(client: Awaited<ReturnType<typeof clusterClient>>, node: string, model: string, backend: string): Promise<NodeRecord> {
  const reply = await client.nc.request(nodeSubject(node, 'load'), encode({ v: 1, requestId: `load-${model}`, frontend: 'test', spec: { name: model, backend, file: null, config: {}, needBytes: 0 }, protect: [], origin: 'api' }), { timeout: 5000 });
  expect(JSON.parse(new TextDecoder().decode(reply.data))).toMatchObject({ ok: true });
  return waitUntil(async () => {
    const r = await readRecord(client, node);
    return r?.models.some((m) => m.name === model && m.state === 'ready') ? r : null;
  }, `${model} ready on ${node}`, { timeoutMs: 60_000, intervalMs: 50 });
}

describe('cluster gateway', () => {
  it('streams a real tiny model over TLS with the record\'s token; a cancelled stream leaves no in-flight', async () => {
    const nats = await startNats();
    await startWorker(nats.url, { name: 'w1', ggufs: { tiny: 3 }, configs: { 'tiny.yaml': TINY } });
    const client = await clusterClient(nats.url);
    const record = await loadOn(client, 'w1', 'tiny', 'llama-cpp');
    const c = clientFor(record);
    try {
      const { done } = stream(c, bearer(record.token), { ModelIdentity: 'tiny', Prompt: 'Once upon a time', Tokens: 12, Temperature: 0, Seed: 7 });
      const got = await done;
      expect(got.replies).toBeGreaterThan(1);
      expect(got.text.length).toBeGreaterThan(0);

      // A client that goes mid-stream: the worker's count drops to 0 (its record says so).
      const long = stream(c, bearer(record.token), { ModelIdentity: 'tiny', Prompt: 'Once upon a time', Tokens: 400, Temperature: 0, IgnoreEOS: true });
      long.done.catch(() => {});
      await waitUntil(async () => (await readRecord(client, 'w1'))?.models.find((m) => m.name === 'tiny')?.inFlight === 1, 'the stream counted as in flight', { timeoutMs: 10_000 });
      long.call.cancel();
      const t0 = Date.now();
      await waitUntil(async () => (await readRecord(client, 'w1'))?.models.find((m) => m.name === 'tiny')?.inFlight === 0, 'in-flight back to 0', { timeoutMs: 5000 });
      expect(Date.now() - t0).toBeLessThan(1500);
    } finally {
      c.close();
    }
  });

  it('D11: the gateway refuses a bad token, a non-resident model, and a certificate that is not the pinned one', async () => {
    const nats = await startNats();
    await startWorker(nats.url, { name: 'w1', configs: { 'a.yaml': faultModel('a'), 'b.yaml': faultModel('b') } });
    const client = await clusterClient(nats.url);
    const record = await loadOn(client, 'w1', 'a', 'fault');
    const c = clientFor(record);
    const refusal = (md: grpc.Metadata, model: string) => stream(c, md, { ModelIdentity: model, Prompt: 'x', Tokens: 2 }).done.then(() => null, (e: grpc.ServiceError) => e);
    try {
      // The resident model works with the record's token...
      expect((await stream(c, bearer(record.token), { ModelIdentity: 'a', Prompt: 'x', Tokens: 2 }).done).replies).toBeGreaterThan(0);
      // ...a wrong or missing token does not.
      const noToken = await refusal(new grpc.Metadata(), 'a');
      expect(noToken?.code).toBe(grpc.status.UNAUTHENTICATED);
      expect((await refusal(bearer('not-the-token'), 'a'))?.code).toBe(grpc.status.UNAUTHENTICATED);
      // A model the worker has but has not loaded: refused (the gateway never loads), and still not loaded.
      const notLoaded = await refusal(bearer(record.token), 'b');
      expect(notLoaded?.code).toBe(grpc.status.FAILED_PRECONDITION);
      expect(notLoaded?.metadata.get(ERROR_CODE_METADATA)).toEqual(['unloaded']);
      expect(notLoaded?.details).toMatch(/"b" is not loaded on worker w1/);
      expect((await refusal(bearer(record.token), 'nope'))?.code).toBe(grpc.status.NOT_FOUND);
      expect((await readRecord(client, 'w1'))?.models.map((m) => m.name)).toEqual(['a']);
    } finally {
      c.close();
    }
    // A certificate other than the record's: the TLS handshake is refused before any call.
    const impostor = clientFor(record, '0'.repeat(64));
    try {
      const e = await stream(impostor, bearer(record.token), { ModelIdentity: 'a', Prompt: 'x', Tokens: 2 }).done.then(() => null, (err: grpc.ServiceError) => err);
      expect(e?.code).toBe(grpc.status.UNAVAILABLE);
    } finally {
      impostor.close();
    }
  });
});
