/**
 * A frontend's calls to a worker's gateway (distributed-spec section 3): gRPC over TLS pinned to
 * the certificate sha256 of the node record, with that incarnation's bearer token. One channel
 * per node incarnation, replaced when the worker restarts.
 *
 * Errors come back as data: the worker's own refusals carry their code (trailing metadata),
 * and a lost connection (UNAVAILABLE, ECONNREFUSED, ECONNRESET) is a `ConnectionLost`, which the
 * router reads as "this replica is suspect" (D4, D10). A deadline is never a lost connection.
 */
import * as grpc from '@grpc/grpc-js';
import { ERROR_STATUS, LoadoutError, type ErrorCode } from '../../../shared/errors';
import { backendService, type EmbeddingResult__Output, type PredictOptions, type Reply__Output, type TokenizationResponse__Output } from '../../../wire';
import type { StreamChunk } from '../loader/router';
import { chunkOf } from '../loader/slots';
import { ERROR_CODE_METADATA } from './gateway';
import type { NodeRecord } from './protocol';
import { PINNED_CHANNEL_OPTIONS, pinnedCredentials } from './tls';

type BackendClient = InstanceType<ReturnType<typeof backendService>>;

/** The connection to a node broke: nothing about the request itself. */
export class ConnectionLost extends Error {
  override name = 'ConnectionLost';
}

const LOST = /ECONNREFUSED|ECONNRESET|EPIPE|socket hang up|Connection dropped|No connection established/i;

function translate(e: unknown, node: string): Error {
  const err = e as grpc.ServiceError;
  const code = err?.metadata?.get?.(ERROR_CODE_METADATA)?.[0];
  if (typeof code === 'string' && code in ERROR_STATUS) return new LoadoutError(code as ErrorCode, err.details || err.message);
  if (err?.code === grpc.status.UNAVAILABLE || LOST.test(err?.message ?? '')) return new ConnectionLost(`lost the connection to node ${node} (${err?.details || err?.message})`);
  if (err?.code === grpc.status.CANCELLED) return new LoadoutError('cancelled', 'the request was cancelled');
  if (err?.code === grpc.status.DEADLINE_EXCEEDED) return new LoadoutError('timeout', `node ${node} did not answer in time`);
  return new LoadoutError('backend_failed', `node ${node}: ${err?.details || err?.message || String(e)}`);
}

export class GatewayClients {
  private readonly clients = new Map<string, { incarnation: string; client: BackendClient; token: string }>();

  private of(r: NodeRecord): { client: BackendClient; md: grpc.Metadata } {
    let c = this.clients.get(r.name);
    if (!c || c.incarnation !== r.incarnation || c.token !== r.token) {
      c?.client.close();
      const Ctor = backendService();
      c = { incarnation: r.incarnation, token: r.token, client: new Ctor(r.gateway, pinnedCredentials(r.tlsCert, r.tlsSha256), { ...PINNED_CHANNEL_OPTIONS, 'grpc.keepalive_time_ms': 10_000, 'grpc.keepalive_timeout_ms': 5_000 }) };
      this.clients.set(r.name, c);
    }
    const md = new grpc.Metadata();
    md.set('authorization', `Bearer ${c.token}`);
    return { client: c.client, md };
  }

  async *stream(r: NodeRecord, model: string, options: PredictOptions, signal?: AbortSignal): AsyncGenerator<StreamChunk> {
    const { client, md } = this.of(r);
    const call = client.PredictStream({ ...options, ModelIdentity: model }, md);
    const onAbort = () => call.cancel();
    signal?.addEventListener('abort', onAbort, { once: true });
    try {
      for await (const reply of call as AsyncIterable<Reply__Output>) yield chunkOf(reply);
    } catch (e) {
      if (signal?.aborted) throw signal.reason instanceof Error ? signal.reason : new LoadoutError('cancelled', 'the request was cancelled');
      throw translate(e, r.name);
    } finally {
      signal?.removeEventListener('abort', onAbort);
      call.cancel();
    }
  }

  private unary<T>(r: NodeRecord, method: 'Predict' | 'Embedding' | 'TokenizeString', model: string, options: PredictOptions, signal?: AbortSignal): Promise<T> {
    const { client, md } = this.of(r);
    return new Promise<T>((resolve, reject) => {
      const call = (client[method] as unknown as (req: PredictOptions, md: grpc.Metadata, cb: (e: grpc.ServiceError | null, v: T) => void) => grpc.ClientUnaryCall)(
        { ...options, ModelIdentity: model },
        md,
        // An abort's own reason is the error, as for streams: the caller's ("the client
        // disconnected"), or ConnectionLost for a node judged dead (D32).
        (e, v) => (e ? reject(signal?.aborted ? (signal.reason instanceof LoadoutError || signal.reason instanceof ConnectionLost ? signal.reason : new LoadoutError('cancelled', 'the request was cancelled')) : translate(e, r.name)) : resolve(v)),
      );
      signal?.addEventListener('abort', () => call.cancel(), { once: true });
    });
  }

  async predict(r: NodeRecord, model: string, options: PredictOptions, signal?: AbortSignal): Promise<StreamChunk> {
    return chunkOf(await this.unary<Reply__Output>(r, 'Predict', model, options, signal));
  }

  embed(r: NodeRecord, model: string, options: PredictOptions, signal?: AbortSignal): Promise<EmbeddingResult__Output> {
    return this.unary(r, 'Embedding', model, options, signal);
  }

  tokenize(r: NodeRecord, model: string, options: PredictOptions, signal?: AbortSignal): Promise<TokenizationResponse__Output> {
    return this.unary(r, 'TokenizeString', model, options, signal);
  }

  close(): void {
    for (const c of this.clients.values()) c.client.close();
    this.clients.clear();
  }
}
