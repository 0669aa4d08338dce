/**
 * The cluster's wire over NATS (distributed-spec.md section 1): bucket names, keys, subjects,
 * the records workers write and the messages frontends send them. Every message and record
 * carries `v: 1`. Names travel as base64url tokens (clarifications 7) so any model or node name
 * is a valid key and subject token; the name itself is in the value.
 *
 * Incoming messages are checked here: a malformed one gives an error text (the caller logs it
 * and answers it), never an exception further in.
 */
import type { GpuDevice, ModelState } from '../../../shared/model';

/** Every message and record. */
export const MESSAGE_VERSION = 1;
/**
 * What workers and frontends must agree on to work together (D5): a node with another value is
 * `incompatible` and never used. Raised when a message's meaning changes (2: a node's record
 * became two keys, its heartbeat and its inventory).
 */
export const PROTOCOL_VERSION = 2;

export const BUCKETS = { nodes: 'loadout_nodes', claims: 'loadout_claims', models: 'loadout_models' } as const;
/** The buckets' max_age only collects garbage; liveness is judged on heartbeat age (clarifications 7). */
export const BUCKET_MAX_AGE_MS = 3_600_000;

/** base64url without padding: a valid KV key and subject token for any name. */
export function nameToken(name: string): string {
  return Buffer.from(name, 'utf8').toString('base64url');
}

export function tokenToName(token: string): string {
  return Buffer.from(token, 'base64url').toString('utf8');
}

export const nodeKey = (name: string): string => `node.${nameToken(name)}`;
export const inventoryKey = (name: string): string => `inv.${nameToken(name)}`;
export const loadClaimKey = (model: string): string => `load.${nameToken(model)}`;
export const LEADER_KEY = 'leader';

export type NodeVerb = 'load' | 'unload' | 'ping' | 'drain' | 'logs' | 'events' | 'stats';
export const nodeSubject = (name: string, verb: NodeVerb): string => `loadout.node.${nameToken(name)}.${verb}`;
export const fileSubject = (sha256: string): string => `loadout.file.${sha256}`;
/** Holders of a file answer its chunk requests as one queue group: any one of them serves each chunk. */
export const FILE_QUEUE = 'loadout.file';
export const SUSPECT_SUBJECT = 'loadout.cluster.suspect';

/** A worker's resident model as its inventory shows it (`memoryBytes` there is the estimate; the heartbeat's own figure replaces it). */
export interface NodeModel {
  name: string;
  state: ModelState;
  backend: string;
  inFlight: number;
  queued: number;
  lastUsed: string | null;
  memoryBytes: number | null;
  pinned: boolean;
  groups: string[];
  progress: number | null;
}

/** A model file the worker has (clarifications 8: sha256 only where already known). */
export interface NodeFile {
  name: string;
  sizeBytes: number;
  sha256: string | null;
}

/**
 * A model of the worker's own catalog, loaded or not (D34): what a frontend that lacks the model
 * shows on its row and places by. Nothing here names a path or a program (clarifications 3).
 */
export interface NodeCatalogModel {
  name: string;
  backend: string;
  /** The model file, relative to the worker's models folder; null when it has none. */
  file: string | null;
  sizeBytes: number | null;
  groups: string[];
  pinned: boolean;
  /** The worker's memory estimate for a load; null when unknown. */
  estimateBytes: number | null;
  contextSize: number | null;
}

/**
 * `loadout_nodes/node.<token>`: a worker's heartbeat, written by that worker alone every
 * `heartbeatMs` (and with each inventory change). Small on purpose: liveness, memory and load.
 */
export interface NodeHeartbeat {
  v: 1;
  name: string;
  /** Random per process start: a new incarnation means a restarted worker. */
  incarnation: string;
  protocol: number;
  /** Increases with every heartbeat of this incarnation. */
  seq: number;
  heartbeatMs: number;
  /** When the worker wrote this (its clock; frontends judge age on their own). */
  at: string;
  draining: boolean;
  /** `models`: what its resident models hold in all; `byModel`: each one's (resident size, else estimate). */
  memory: { total: number; available: number; budget: number; models: number; byModel: Record<string, number> };
  /** With their free memory, which changes as models load: a heartbeat's part, not the inventory's. */
  gpus: GpuDevice[];
  stats: { inFlight: number; queued: number };
}

/**
 * `loadout_nodes/inv.<token>`: what a worker is and holds, written by it alone only when this
 * changes (clarifications 7), and again before the bucket's max_age could collect it.
 */
export interface NodeInventory {
  v: 1;
  name: string;
  incarnation: string;
  protocol: number;
  /** Increases with every inventory write of this incarnation. */
  seq: number;
  /** Loadout's version (informational). */
  version: string;
  /** `host:port` of the gateway (gRPC over TLS). */
  gateway: string;
  /** sha256 of the gateway's certificate (hex, colon-free), which frontends pin. */
  tlsSha256: string;
  /** The certificate itself (PEM), so a frontend can complete the TLS handshake it then pins. */
  tlsCert: string;
  /** The bearer token this incarnation's gateway accepts. */
  token: string;
  labels: Record<string, string>;
  limits: { max_active_models: number; memory_budget: number; vram_budget: number };
  files: NodeFile[];
  models: NodeModel[];
  /** Its catalog's usable models (D34); absent from older workers, whose catalogs are unknown. */
  catalog?: NodeCatalogModel[];
  /** D29: model files this worker is fetching from a peer (or checking in place) for a load. */
  staging?: NodeStaging[];
}

/** A node as a frontend sees it: its latest heartbeat with the inventory of the same incarnation. */
export type NodeRecord = NodeHeartbeat & Omit<NodeInventory, 'seq'> & { inventorySeq: number };

/** The node record, or null while the inventory of the heartbeat's incarnation has not arrived. */
export function mergeNodeRecord(heartbeat: NodeHeartbeat, inventory: NodeInventory | null | undefined): NodeRecord | null {
  if (!inventory || inventory.incarnation !== heartbeat.incarnation) return null;
  const { seq: inventorySeq, ...held } = inventory;
  const byModel = heartbeat.memory.byModel ?? {};
  const models = held.models.map((m) => (byModel[m.name] === undefined ? m : { ...m, memoryBytes: byModel[m.name] }));
  return { ...held, ...heartbeat, gpus: heartbeat.gpus ?? [], models, inventorySeq };
}

/** A file a load waits for (D29): its Downloads job's progress, or why it cannot be had. */
export interface NodeStaging {
  model: string;
  file: string;
  sha256: string;
  state: 'checking' | 'fetching' | 'verifying' | 'done' | 'failed';
  receivedBytes: number;
  totalBytes: number;
  error: { code: string; message: string } | null;
}

/** What a frontend asks a worker to load. Only `name` picks the model: the worker runs its own config. */
export interface ModelSpec {
  name: string;
  backend: string;
  file: { name: string; sizeBytes: number; sha256: string | null } | null;
  /** Ignored by workers where it names files or programs (clarifications 3); kept for config_mismatch. */
  config: Record<string, unknown>;
  needBytes: number;
}

export interface LoadRequest {
  v: 1;
  requestId: string;
  frontend: string;
  spec: ModelSpec;
  /** Models the load must not evict (replicas holding a min, pinned ones). */
  protect: string[];
  origin: 'user' | 'api' | 'restart';
}

export interface UnloadRequest {
  v: 1;
  requestId: string;
  model: string;
  force: boolean;
  reason: string;
  by: string | null;
  /** The journal sentence the frontend wrote (a leader's `scale_down` says which rule); absent: the worker's own. */
  sentence?: string;
}

export interface PingRequest {
  v: 1;
  requestId: string;
}

export interface DrainRequest {
  v: 1;
  requestId: string;
  draining: boolean;
}

/** Every reply: ok with a body, or the error as data (src/shared/errors.ts codes). */
export type Reply<T> = ({ v: 1; ok: true } & T) | { v: 1; ok: false; error: { code: string; message: string } };

export interface NodeEvent {
  v: 1;
  seq: number;
  type: 'model' | 'journal';
  row?: NodeModel;
  entry?: { at: string; model: string; reason: string; sentence: string; by: string | null };
}

export interface NodeStats {
  v: 1;
  m: Record<string, { inFlight: number; queued: number; lastUsed: string | null }>;
}

type Check<T> = { ok: true; value: T } | { ok: false; error: string };

function object(x: unknown): x is Record<string, unknown> {
  return typeof x === 'object' && x !== null && !Array.isArray(x);
}

const isString = (x: unknown, max = 1024): x is string => typeof x === 'string' && x.length > 0 && x.length <= max;
const isStringList = (x: unknown): x is string[] => Array.isArray(x) && x.length <= 1000 && x.every((s) => isString(s));

/** Parses a message body as JSON and checks its version; `what` names it in errors. */
function envelope(data: Uint8Array, what: string): Check<Record<string, unknown>> {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { ok: false, error: `${what}: not JSON` };
  }
  if (!object(parsed)) return { ok: false, error: `${what}: not an object` };
  if (parsed.v !== MESSAGE_VERSION) return { ok: false, error: `${what}: unsupported message version ${JSON.stringify(parsed.v)} (this node speaks v ${MESSAGE_VERSION})` };
  if (!isString(parsed.requestId, 200)) return { ok: false, error: `${what}: requestId must be a non-empty string` };
  return { ok: true, value: parsed };
}

function checkSpec(x: unknown): Check<ModelSpec> {
  if (!object(x)) return { ok: false, error: 'spec must be an object' };
  if (!isString(x.name, 256)) return { ok: false, error: 'spec.name must be a non-empty string' };
  if (!isString(x.backend, 256)) return { ok: false, error: 'spec.backend must be a backend name' };
  let file: ModelSpec['file'] = null;
  if (x.file !== null && x.file !== undefined) {
    const f = x.file;
    if (!object(f) || !isString(f.name, 4096) || !Number.isSafeInteger(f.sizeBytes) || (f.sizeBytes as number) < 0 || !(f.sha256 === null || f.sha256 === undefined || (typeof f.sha256 === 'string' && /^[0-9a-f]{64}$/.test(f.sha256))))
      return { ok: false, error: 'spec.file must be {name, sizeBytes (an integer >= 0), sha256 (64 hex or null)}' };
    file = { name: f.name, sizeBytes: f.sizeBytes as number, sha256: (f.sha256 as string | null | undefined) ?? null };
  }
  const config = x.config === undefined ? {} : x.config;
  if (!object(config)) return { ok: false, error: 'spec.config must be an object' };
  const needBytes = x.needBytes ?? 0;
  if (typeof needBytes !== 'number' || !(needBytes >= 0)) return { ok: false, error: 'spec.needBytes must be a number >= 0' };
  return { ok: true, value: { name: x.name, backend: x.backend, file, config, needBytes } };
}

export function parseLoadRequest(data: Uint8Array): Check<LoadRequest> {
  const e = envelope(data, 'load');
  if (!e.ok) return e;
  const m = e.value;
  if (!isString(m.frontend, 256)) return { ok: false, error: 'load: frontend must be a non-empty string' };
  const spec = checkSpec(m.spec);
  if (!spec.ok) return { ok: false, error: `load: ${spec.error}` };
  const protect = m.protect ?? [];
  if (!isStringList(protect)) return { ok: false, error: 'load: protect must be a list of model names' };
  const origin = m.origin ?? 'api';
  if (origin !== 'user' && origin !== 'api' && origin !== 'restart') return { ok: false, error: 'load: origin must be user, api or restart' };
  return { ok: true, value: { v: 1, requestId: m.requestId as string, frontend: m.frontend, spec: spec.value, protect, origin } };
}

export function parseUnloadRequest(data: Uint8Array): Check<UnloadRequest> {
  const e = envelope(data, 'unload');
  if (!e.ok) return e;
  const m = e.value;
  if (!isString(m.model, 256)) return { ok: false, error: 'unload: model must be a non-empty string' };
  if (m.force !== undefined && typeof m.force !== 'boolean') return { ok: false, error: 'unload: force must be a boolean' };
  if (m.by !== undefined && m.by !== null && !isString(m.by, 256)) return { ok: false, error: 'unload: by must be a model name or null' };
  const reason = m.reason ?? 'user';
  if (!isString(reason, 64)) return { ok: false, error: 'unload: reason must be a string' };
  if (m.sentence !== undefined && !isString(m.sentence, 500)) return { ok: false, error: 'unload: sentence must be a string of at most 500 characters' };
  return { ok: true, value: { v: 1, requestId: m.requestId as string, model: m.model, force: m.force === true, reason, by: (m.by as string | null | undefined) ?? null, ...(m.sentence !== undefined ? { sentence: m.sentence as string } : {}) } };
}

export function parsePingRequest(data: Uint8Array): Check<PingRequest> {
  const e = envelope(data, 'ping');
  return e.ok ? { ok: true, value: { v: 1, requestId: e.value.requestId as string } } : e;
}

export function parseDrainRequest(data: Uint8Array): Check<DrainRequest> {
  const e = envelope(data, 'drain');
  if (!e.ok) return e;
  const draining = e.value.draining ?? true;
  if (typeof draining !== 'boolean') return { ok: false, error: 'drain: draining must be a boolean' };
  return { ok: true, value: { v: 1, requestId: e.value.requestId as string, draining } };
}

type Incompatible = { ok: false; error: string; incompatible: { name: string; protocol: unknown } };

/** The checks both halves of a node's record share: JSON, a name, this protocol, an incarnation and seq. */
function parseNodeValue(data: Uint8Array, what: string): Check<Record<string, unknown> & { name: string }> | Incompatible {
  let parsed: unknown;
  try {
    parsed = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { ok: false, error: `${what}: not JSON` };
  }
  if (!object(parsed) || !isString(parsed.name, 256)) return { ok: false, error: `${what}: no name` };
  if (parsed.protocol !== PROTOCOL_VERSION || parsed.v !== MESSAGE_VERSION)
    return { ok: false, error: `node ${parsed.name} speaks protocol ${JSON.stringify(parsed.protocol)}, this one ${PROTOCOL_VERSION}`, incompatible: { name: parsed.name, protocol: parsed.protocol } };
  if (typeof parsed.incarnation !== 'string' || typeof parsed.seq !== 'number') return { ok: false, error: `${what} ${parsed.name}: incarnation or seq missing` };
  return { ok: true, value: parsed as Record<string, unknown> & { name: string } };
}

/**
 * A heartbeat as read from KV, or why it cannot be used. One of another protocol keeps its name
 * and protocol (so the node can be shown as `incompatible`, D5) and nothing else is trusted.
 */
export function parseNodeHeartbeat(data: Uint8Array): Check<NodeHeartbeat> | Incompatible {
  const r = parseNodeValue(data, 'node heartbeat');
  if (!r.ok) return r;
  const h = r.value;
  if (typeof h.heartbeatMs !== 'number' || !object(h.memory)) return { ok: false, error: `node heartbeat ${h.name}: heartbeatMs or memory missing` };
  return { ok: true, value: h as unknown as NodeHeartbeat };
}

/** An inventory as read from KV, or why it cannot be used. */
export function parseNodeInventory(data: Uint8Array): Check<NodeInventory> | Incompatible {
  const r = parseNodeValue(data, 'node inventory');
  if (!r.ok) return r;
  const inv = r.value;
  for (const k of ['gateway', 'token', 'tlsSha256', 'tlsCert'] as const) if (typeof inv[k] !== 'string') return { ok: false, error: `node inventory ${inv.name}: ${k} missing` };
  if (!Array.isArray(inv.models)) return { ok: false, error: `node inventory ${inv.name}: models missing` };
  if (!Array.isArray(inv.files)) inv.files = [];
  // D29: only well-formed staging entries are read; anything else in them is ignored.
  inv.staging = Array.isArray(inv.staging)
    ? inv.staging.filter((x): x is NodeStaging => object(x) && isString(x.model, 256) && typeof x.state === 'string' && Number.isFinite(x.receivedBytes) && Number.isFinite(x.totalBytes) && (x.error === null || (object(x.error) && typeof x.error.code === 'string' && typeof x.error.message === 'string'))).slice(0, 1000)
    : [];
  return { ok: true, value: inv as unknown as NodeInventory };
}

/** `loadout.file.<sha256>` asks for `length` bytes at `offset` (D29). */
export interface FileChunkRequest {
  v: 1;
  offset: number;
  length: number;
}

/** The most bytes one chunk request may ask for (spec section 3: 512 KiB chunks). */
export const FILE_CHUNK_BYTES = 512 * 1024;

/** A chunk request from NATS, checked (clarifications 3): integers in range, nothing else trusted. */
export function parseFileChunkRequest(data: Uint8Array): Check<FileChunkRequest> {
  if (data.length > 1024) return { ok: false, error: 'file chunk request: too long' };
  let m: unknown;
  try {
    m = JSON.parse(new TextDecoder().decode(data));
  } catch {
    return { ok: false, error: 'file chunk request: not JSON' };
  }
  if (!object(m)) return { ok: false, error: 'file chunk request: not an object' };
  if (m.v !== MESSAGE_VERSION) return { ok: false, error: `file chunk request: unsupported message version ${JSON.stringify(m.v)} (this node speaks v ${MESSAGE_VERSION})` };
  if (typeof m.offset !== 'number' || !Number.isSafeInteger(m.offset) || m.offset < 0) return { ok: false, error: 'file chunk request: offset must be an integer >= 0' };
  if (typeof m.length !== 'number' || !Number.isSafeInteger(m.length) || m.length < 1 || m.length > FILE_CHUNK_BYTES) return { ok: false, error: `file chunk request: length must be an integer from 1 to ${FILE_CHUNK_BYTES}` };
  return { ok: true, value: { v: 1, offset: m.offset, length: m.length } };
}

/** `loadout.file.<sha>` subject for a sha256 that must be 64 lowercase hex digits. */
export const SHA256_RE = /^[0-9a-f]{64}$/;

export function encode(value: unknown): Uint8Array {
  return new TextEncoder().encode(JSON.stringify(value));
}

export function errorReply(code: string, message: string): Reply<never> {
  return { v: 1, ok: false, error: { code, message } };
}

/** The URL without credentials, for messages and logs (clarifications 6). */
export function redactUrl(url: string): string {
  try {
    const u = new URL(url);
    if (u.username || u.password) {
      u.username = '***';
      u.password = '';
    }
    return u.toString().replace(/\/$/, '');
  } catch {
    return '(an unreadable NATS URL)';
  }
}
