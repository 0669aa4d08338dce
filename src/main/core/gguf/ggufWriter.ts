/**
 * A small GGUF writer: header and tensor infos are built in memory (they are small), tensor data
 * is streamed from generators so a 100 MB model never sits in the JS heap at once. The file is
 * written under a temporary name and renamed, so a watcher never sees half a model.
 */
import { randomBytes } from 'node:crypto';
import { open, rename, rm } from 'node:fs/promises';
import path from 'node:path';
import { GGUF_DEFAULT_ALIGNMENT, GgufValueType, type GgufArray, type GgufKv, type GgufValue } from './ggufTypes';

export interface GgufTensorSpec {
  name: string;
  /** dims[0] is the row (input) size, as in ggml. */
  dims: number[];
  /** ggml type id (F32 = 0, F16 = 1, ...). */
  type: number;
  byteLength: number;
  /** Yields exactly `byteLength` bytes of tensor data, in order. */
  data: () => Iterable<Uint8Array> | AsyncIterable<Uint8Array>;
}

export interface GgufFileSpec {
  /** 2 and 3 share one layout; 3 is what llama.cpp writes today. */
  version?: 2 | 3;
  metadata: GgufKv[];
  tensors: GgufTensorSpec[];
}

/** Growable little-endian byte buffer. */
class ByteSink {
  private buf = Buffer.alloc(64 * 1024);
  length = 0;

  private reserve(n: number): void {
    if (this.length + n <= this.buf.length) return;
    let size = this.buf.length * 2;
    while (size < this.length + n) size *= 2;
    const next = Buffer.alloc(size);
    this.buf.copy(next, 0, 0, this.length);
    this.buf = next;
  }
  u8(v: number): void {
    this.reserve(1);
    this.length = this.buf.writeUInt8(v, this.length);
  }
  i8(v: number): void {
    this.reserve(1);
    this.length = this.buf.writeInt8(v, this.length);
  }
  u16(v: number): void {
    this.reserve(2);
    this.length = this.buf.writeUInt16LE(v, this.length);
  }
  i16(v: number): void {
    this.reserve(2);
    this.length = this.buf.writeInt16LE(v, this.length);
  }
  u32(v: number): void {
    this.reserve(4);
    this.length = this.buf.writeUInt32LE(v, this.length);
  }
  i32(v: number): void {
    this.reserve(4);
    this.length = this.buf.writeInt32LE(v, this.length);
  }
  u64(v: number | bigint): void {
    this.reserve(8);
    this.length = this.buf.writeBigUInt64LE(BigInt(v), this.length);
  }
  i64(v: number | bigint): void {
    this.reserve(8);
    this.length = this.buf.writeBigInt64LE(BigInt(v), this.length);
  }
  f32(v: number): void {
    this.reserve(4);
    this.length = this.buf.writeFloatLE(v, this.length);
  }
  f64(v: number): void {
    this.reserve(8);
    this.length = this.buf.writeDoubleLE(v, this.length);
  }
  str(s: string): void {
    const n = Buffer.byteLength(s, 'utf8');
    this.u64(n);
    this.reserve(n);
    this.length += this.buf.write(s, this.length, 'utf8');
  }
  pad(alignment: number): void {
    const n = (alignment - (this.length % alignment)) % alignment;
    this.reserve(n);
    this.buf.fill(0, this.length, this.length + n);
    this.length += n;
  }
  bytes(): Buffer {
    return this.buf.subarray(0, this.length);
  }
}

function writeValue(sink: ByteSink, type: GgufValueType, value: GgufValue, key: string): void {
  const bad = (): never => {
    throw new TypeError(`GGUF key ${key}: value ${String(value)} does not fit type ${type}`);
  };
  switch (type) {
    case GgufValueType.UINT8: return typeof value === 'number' ? sink.u8(value) : bad();
    case GgufValueType.INT8: return typeof value === 'number' ? sink.i8(value) : bad();
    case GgufValueType.UINT16: return typeof value === 'number' ? sink.u16(value) : bad();
    case GgufValueType.INT16: return typeof value === 'number' ? sink.i16(value) : bad();
    case GgufValueType.UINT32: return typeof value === 'number' ? sink.u32(value) : bad();
    case GgufValueType.INT32: return typeof value === 'number' ? sink.i32(value) : bad();
    case GgufValueType.FLOAT32: return typeof value === 'number' ? sink.f32(value) : bad();
    case GgufValueType.FLOAT64: return typeof value === 'number' ? sink.f64(value) : bad();
    case GgufValueType.UINT64: return typeof value === 'number' || typeof value === 'bigint' ? sink.u64(value) : bad();
    case GgufValueType.INT64: return typeof value === 'number' || typeof value === 'bigint' ? sink.i64(value) : bad();
    case GgufValueType.BOOL: return typeof value === 'boolean' ? sink.u8(value ? 1 : 0) : bad();
    case GgufValueType.STRING: return typeof value === 'string' ? sink.str(value) : bad();
    case GgufValueType.ARRAY: {
      if (typeof value !== 'object' || value === null || typeof value === 'bigint') return bad();
      const arr = value as GgufArray;
      if (!arr.items) return bad();
      sink.u32(arr.itemType);
      sink.u64(arr.items.length);
      for (const item of arr.items) writeValue(sink, arr.itemType, item, key);
      return;
    }
    default:
      throw new TypeError(`GGUF key ${key}: unknown value type ${String(type)}`);
  }
}

function alignmentOf(metadata: GgufKv[]): number {
  const kv = metadata.find((m) => m.key === 'general.alignment');
  return typeof kv?.value === 'number' ? kv.value : GGUF_DEFAULT_ALIGNMENT;
}

/** Everything before the tensor data: header, metadata, tensor infos, padding. */
export function encodeGgufHeader(spec: GgufFileSpec): Buffer {
  const alignment = alignmentOf(spec.metadata);
  const sink = new ByteSink();
  sink.u32(0x46554747); // "GGUF"
  sink.u32(spec.version ?? 3);
  sink.u64(spec.tensors.length);
  sink.u64(spec.metadata.length);
  for (const kv of spec.metadata) {
    sink.str(kv.key);
    sink.u32(kv.type);
    writeValue(sink, kv.type, kv.value, kv.key);
  }
  let offset = 0;
  for (const t of spec.tensors) {
    sink.str(t.name);
    sink.u32(t.dims.length);
    for (const d of t.dims) sink.u64(d);
    sink.u32(t.type);
    sink.u64(offset);
    offset += t.byteLength + padLength(t.byteLength, alignment);
  }
  sink.pad(alignment);
  return Buffer.from(sink.bytes());
}

function padLength(n: number, alignment: number): number {
  return (alignment - (n % alignment)) % alignment;
}

/** Writes a GGUF file atomically (temp file in the same folder, then rename). */
export async function writeGguf(outFile: string, spec: GgufFileSpec): Promise<{ path: string; sizeBytes: number }> {
  const target = path.resolve(outFile);
  const alignment = alignmentOf(spec.metadata);
  // Dot-prefixed and not ending in .gguf: a models-folder watcher ignores it until the rename.
  const temp = path.join(path.dirname(target), `.${path.basename(target)}.${randomBytes(6).toString('hex')}.tmp`);
  const fh = await open(temp, 'w').catch((err: NodeJS.ErrnoException) => {
    const why = err.code === 'ENOENT' ? `the folder ${path.dirname(target)} does not exist` : err.message;
    throw Object.assign(new Error(`cannot write ${target}: ${why}`), { code: err.code });
  });
  let size = 0;
  try {
    const header = encodeGgufHeader(spec);
    await fh.write(header);
    size += header.length;
    const zeros = Buffer.alloc(alignment);
    for (const t of spec.tensors) {
      let written = 0;
      for await (const chunk of t.data()) {
        await fh.write(chunk);
        written += chunk.byteLength;
      }
      if (written !== t.byteLength) {
        throw new Error(`tensor ${t.name}: generator gave ${written} bytes, expected ${t.byteLength}`);
      }
      size += written;
      // Every tensor is padded (the last one too, as llama.cpp's own writer does).
      const pad = padLength(written, alignment);
      if (pad > 0) {
        await fh.write(zeros, 0, pad);
        size += pad;
      }
    }
    await fh.sync();
    await fh.close();
    await rename(temp, target);
  } catch (err) {
    await fh.close().catch(() => undefined);
    await rm(temp, { force: true });
    throw err;
  }
  return { path: target, sizeBytes: size };
}
