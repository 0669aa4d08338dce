/**
 * Reads GGUF metadata without loading the model (C5): only the header is read, in chunks, and
 * long arrays (the vocabulary) are skipped without decoding. Corrupt input fails with a GgufError
 * that says what is wrong; no length read from the file can make us allocate more than
 * MAX_STRING_BYTES at once, and no count can make us loop or keep more than the caps below allow
 * (a sparse file of many GB can claim billions of empty entries that all "fit").
 */
import { open, type FileHandle } from 'node:fs/promises';
import path from 'node:path';
import type { GgufInfo } from '../../../shared/model';
import {
  FILE_TYPE_GUESSED,
  FILE_TYPE_NAMES,
  GGML_MAX_DIMS,
  GGML_TYPE_NAMES,
  GGUF_DEFAULT_ALIGNMENT,
  GGUF_MAGIC,
  GgufValueType,
  type GgufArray,
  type GgufKv,
  type GgufValue,
} from './ggufTypes';

export class GgufError extends Error {
  constructor(message: string) {
    super(message);
    this.name = 'GgufError';
  }
}

export interface GgufTensorInfo {
  name: string;
  dims: number[];
  type: number;
  /** ggml type name (F32, Q4_K ...), or `type N` for a type this app does not know. */
  typeName: string;
  /** Offset from the start of the data section. */
  offset: number;
  elements: number;
}

export interface GgufHeader {
  version: number;
  fileSize: number;
  alignment: number;
  /** Absolute file offset where tensor data starts. */
  dataOffset: number;
  metadata: Map<string, GgufKv>;
  /** Byte lengths of the string values read with `lengthOnly` (they are not in `metadata`). */
  stringLengths: Map<string, number>;
  tensors: GgufTensorInfo[];
}

export interface ReadGgufOptions {
  /** Arrays longer than this keep only their length (`items: null`). Default 1024. */
  maxArrayItems?: number;
  /** Arrays under keys with this prefix keep only their length, whatever it is. */
  skipArraysUnder?: string;
  /** String values under these keys are stepped over; `stringLengths` keeps their byte length. */
  lengthOnly?: ReadonlySet<string>;
}

type ArrayLimit = { maxArrayItems: number };
const SKIP_ITEMS: ArrayLimit = { maxArrayItems: -1 };

const FIRST_CHUNK_BYTES = 64 * 1024;
const MAX_CHUNK_BYTES = 1024 * 1024;
/** A chat template is tens of KB; a single string of more than this is corruption. */
const MAX_STRING_BYTES = 16 * 1024 * 1024;
const MAX_ARRAY_DEPTH = 8;
/** Far beyond real models (about a thousand tensors, a few dozen keys, a 262k-token vocabulary). */
const MAX_TENSORS = 1 << 17;
const MAX_KEYS = 1 << 16;
const MAX_ARRAY_ITEMS = 1 << 24;
/** Real headers are a few MB (the vocabulary); reading stops here whatever the counts say. */
const MAX_HEADER_BYTES = 256 * 1024 * 1024;

/** Bytes per element for fixed-size value types. */
const FIXED_SIZE: Record<number, number> = {
  [GgufValueType.UINT8]: 1,
  [GgufValueType.INT8]: 1,
  [GgufValueType.BOOL]: 1,
  [GgufValueType.UINT16]: 2,
  [GgufValueType.INT16]: 2,
  [GgufValueType.UINT32]: 4,
  [GgufValueType.INT32]: 4,
  [GgufValueType.FLOAT32]: 4,
  [GgufValueType.UINT64]: 8,
  [GgufValueType.INT64]: 8,
  [GgufValueType.FLOAT64]: 8,
};
/** Smallest possible encoding of one element, to bound counts read from the file. */
function minSize(type: number): number {
  if (type === GgufValueType.STRING) return 8;
  if (type === GgufValueType.ARRAY) return 12;
  return FIXED_SIZE[type] ?? 1;
}

/**
 * ggml types: [elements per block, bytes per block] (as ggml_blck_size/ggml_type_size report
 * them in the llama.cpp node-llama-cpp 3.21.1 ships), to check that tensor data fits the file
 * (a truncated download is the usual corrupt GGUF).
 */
const BLOCK: Record<number, [number, number]> = {
  0: [1, 4], 1: [1, 2], 2: [32, 18], 3: [32, 20], 6: [32, 22], 7: [32, 24], 8: [32, 34], 9: [32, 36],
  10: [256, 84], 11: [256, 110], 12: [256, 144], 13: [256, 176], 14: [256, 210], 15: [256, 292],
  16: [256, 66], 17: [256, 74], 18: [256, 98], 19: [256, 50], 20: [32, 18], 21: [256, 110],
  22: [256, 82], 23: [256, 136], 24: [1, 1], 25: [1, 2], 26: [1, 4], 27: [1, 8], 28: [1, 8],
  29: [256, 56], 30: [1, 2], 34: [256, 54], 35: [256, 66], 39: [32, 17], 40: [64, 36], 41: [128, 18],
  42: [64, 18],
};

/** Bytes a tensor of `elements` of ggml type `type` takes in the file (and in memory); null for an unknown type. */
export function ggmlTensorBytes(type: number, elements: number): number | null {
  const block = BLOCK[type];
  return block ? Math.ceil(elements / block[0]) * block[1] : null;
}

/** Buffered little-endian reader over a file handle; `pos` is an absolute file offset. */
class Reader {
  private buf = Buffer.alloc(0);
  private bufStart = 0;
  private chunk = FIRST_CHUNK_BYTES / 2;
  pos = 0;

  constructor(
    private readonly fh: FileHandle,
    readonly fileSize: number,
    readonly label: string,
  ) {}

  truncated(what: string, needEnd: number): GgufError {
    return new GgufError(
      `${this.label} is truncated or corrupt: reading ${what} needs byte ${needEnd} but the file ends at byte ${this.fileSize}. ` +
        'If it was downloaded, download it again.',
    );
  }

  /** True when the next n bytes are buffered (the hot path stays synchronous). */
  has(n: number): boolean {
    return this.pos >= this.bufStart && this.pos + n <= this.bufStart + this.buf.length;
  }

  tooBig(what: string): GgufError {
    return new GgufError(
      `${this.label} is corrupt: its header would run past ${MAX_HEADER_BYTES / 1024 / 1024} MB at ${what}; real GGUF headers are a few MB. ` +
        'If it was downloaded, download it again.',
    );
  }

  async fill(n: number, what: string): Promise<void> {
    if (this.pos + n > this.fileSize) throw this.truncated(what, this.pos + n);
    if (this.pos + n > MAX_HEADER_BYTES) throw this.tooBig(what);
    // Chunks grow as the header turns out long (a big vocabulary), to keep the number of reads low.
    this.chunk = Math.min(this.chunk * 2, MAX_CHUNK_BYTES);
    const size = Math.min(Math.max(n, this.chunk), this.fileSize - this.pos);
    const next = Buffer.allocUnsafe(size);
    let got = 0;
    while (got < size) {
      const { bytesRead } = await this.fh.read(next, got, size - got, this.pos + got);
      if (bytesRead === 0) break; // the file shrank while we read it
      got += bytesRead;
    }
    if (got < n) throw this.truncated(what, this.pos + n);
    this.buf = next.subarray(0, got);
    this.bufStart = this.pos;
  }

  async need(n: number, what: string): Promise<void> {
    if (!this.has(n)) await this.fill(n, what);
  }

  /** Moves past n bytes without reading them. */
  skip(n: number, what: string): void {
    if (this.pos + n > this.fileSize) throw this.truncated(what, this.pos + n);
    if (this.pos + n > MAX_HEADER_BYTES) throw this.tooBig(what);
    this.pos += n;
  }

  private at(n: number): number {
    const o = this.pos - this.bufStart;
    this.pos += n;
    return o;
  }
  u8(): number {
    return this.buf.readUInt8(this.at(1));
  }
  i8(): number {
    return this.buf.readInt8(this.at(1));
  }
  u16(): number {
    return this.buf.readUInt16LE(this.at(2));
  }
  i16(): number {
    return this.buf.readInt16LE(this.at(2));
  }
  u32(): number {
    return this.buf.readUInt32LE(this.at(4));
  }
  i32(): number {
    return this.buf.readInt32LE(this.at(4));
  }
  f32(): number {
    return this.buf.readFloatLE(this.at(4));
  }
  f64(): number {
    return this.buf.readDoubleLE(this.at(8));
  }
  u64(): number | bigint {
    const o = this.at(8);
    const hi = this.buf.readUInt32LE(o + 4);
    // BigInt is slow; only values above 2^53 need it.
    if (hi < 0x200000) return hi * 0x1_0000_0000 + this.buf.readUInt32LE(o);
    return this.buf.readBigUInt64LE(o);
  }
  i64(): number | bigint {
    const v = this.buf.readBigInt64LE(this.at(8));
    return v <= BigInt(Number.MAX_SAFE_INTEGER) && v >= BigInt(Number.MIN_SAFE_INTEGER) ? Number(v) : v;
  }
  utf8(n: number): string {
    return this.buf.toString('utf8', this.at(n), this.pos - this.bufStart);
  }
}

/** A u64 count or length that must fit in the rest of the file at `minBytes` per unit. */
async function readCount(r: Reader, minBytes: number, what: string, unit = 'entries', max = Infinity): Promise<number> {
  await r.need(8, what);
  const at = r.pos;
  const n = r.u64();
  const remaining = r.fileSize - r.pos;
  if (typeof n === 'bigint' || n * minBytes > remaining) {
    throw new GgufError(
      `${r.label} is corrupt or truncated: ${what} at byte ${at} claims ${String(n)} ` +
        `${unit}, but only ${remaining} bytes follow. If it was downloaded, download it again.`,
    );
  }
  if (n > max) {
    throw new GgufError(`${r.label} is corrupt: ${what} at byte ${at} claims ${n} ${unit}; no GGUF model has more than ${max}.`);
  }
  return n;
}

async function readString(r: Reader, what: string): Promise<string> {
  const at = r.pos;
  const n = await readCount(r, 1, `the length of ${what}`, 'bytes');
  if (n > MAX_STRING_BYTES) {
    throw new GgufError(`${r.label} is corrupt: ${what} at byte ${at} claims ${n} bytes, which no GGUF string needs.`);
  }
  await r.need(n, what);
  return r.utf8(n);
}

/** Steps over `count` strings; synchronous while the lengths are in the buffer (a 32k vocab is ~1 ms). */
async function skipStrings(r: Reader, count: number, what: string): Promise<void> {
  for (let i = 0; i < count; i++) {
    if (!r.has(8)) {
      const n = await readCount(r, 1, `the length of ${what}`, 'bytes');
      r.skip(n, what);
      continue;
    }
    const at = r.pos;
    const n = r.u64();
    if (typeof n === 'bigint' || n > r.fileSize - r.pos) {
      throw new GgufError(
        `${r.label} is corrupt or truncated: the length of ${what} at byte ${at} claims ${String(n)} bytes, ` +
          `but only ${r.fileSize - r.pos} bytes follow. If it was downloaded, download it again.`,
      );
    }
    r.skip(n, what);
  }
}

async function readValue(r: Reader, type: number, what: string, opts: ArrayLimit, depth: number): Promise<GgufValue> {
  if (type === GgufValueType.STRING) return readString(r, what);
  if (type === GgufValueType.ARRAY) return readArray(r, what, opts, depth + 1);
  const size = FIXED_SIZE[type];
  if (size === undefined) throw new GgufError(`${r.label} is corrupt: ${what} has unknown value type ${type}.`);
  await r.need(size, what);
  switch (type) {
    case GgufValueType.UINT8: return r.u8();
    case GgufValueType.INT8: return r.i8();
    case GgufValueType.BOOL: return r.u8() !== 0;
    case GgufValueType.UINT16: return r.u16();
    case GgufValueType.INT16: return r.i16();
    case GgufValueType.UINT32: return r.u32();
    case GgufValueType.INT32: return r.i32();
    case GgufValueType.FLOAT32: return r.f32();
    case GgufValueType.UINT64: return r.u64();
    case GgufValueType.INT64: return r.i64();
    default: return r.f64();
  }
}

async function readArray(r: Reader, what: string, opts: ArrayLimit, depth: number): Promise<GgufArray> {
  if (depth > MAX_ARRAY_DEPTH) throw new GgufError(`${r.label} is corrupt: ${what} nests arrays more than ${MAX_ARRAY_DEPTH} deep.`);
  await r.need(4, what);
  const itemType = r.u32() as GgufArray['itemType'];
  if (itemType !== GgufValueType.STRING && itemType !== GgufValueType.ARRAY && FIXED_SIZE[itemType] === undefined) {
    throw new GgufError(`${r.label} is corrupt: ${what} is an array of unknown value type ${itemType}.`);
  }
  const length = await readCount(r, minSize(itemType), `the length of ${what}`, 'items', MAX_ARRAY_ITEMS);
  if (length <= opts.maxArrayItems) {
    const items: GgufValue[] = new Array(length);
    for (let i = 0; i < length; i++) items[i] = await readValue(r, itemType, what, opts, depth);
    return { itemType, length, items };
  }
  // Too long to keep (a vocabulary): step over it without decoding.
  const fixed = FIXED_SIZE[itemType];
  if (fixed !== undefined) {
    r.skip(length * fixed, what);
  } else if (itemType === GgufValueType.STRING) {
    await skipStrings(r, length, what);
  } else {
    for (let i = 0; i < length; i++) await readArray(r, what, SKIP_ITEMS, depth + 1);
  }
  return { itemType, length, items: null };
}

function typeName(type: number): string {
  return GGML_TYPE_NAMES[type] ?? `type ${type}`;
}

/** Header, metadata and tensor infos of a GGUF file. */
export async function readGgufHeader(file: string, options: ReadGgufOptions = {}): Promise<GgufHeader> {
  const opts: ArrayLimit = { maxArrayItems: options.maxArrayItems ?? 1024 };
  const skipPrefix = options.skipArraysUnder;
  const label = path.basename(file);
  const fh = await open(file, 'r');
  try {
    const { size: fileSize } = await fh.stat();
    const r = new Reader(fh, fileSize, label);
    if (fileSize === 0) throw new GgufError(`${label} is not a GGUF file: the file is empty.`);
    if (fileSize < 8) throw new GgufError(`${label} is not a GGUF file: it is only ${fileSize} bytes long.`);
    await r.fill(8, 'the file header');
    const magic = r.u32();
    if (magic !== GGUF_MAGIC) {
      throw new GgufError(`${label} is not a GGUF file (bad magic: it starts with ${JSON.stringify(Buffer.from(new Uint32Array([magic]).buffer).toString('latin1'))}, not "GGUF"). Pick a .gguf model file.`);
    }
    const version = r.u32();
    if (version === 1) throw new GgufError(`${label} uses GGUF version 1, which is too old; convert the model again with a current llama.cpp.`);
    if (version !== 2 && version !== 3) {
      const swapped = Buffer.alloc(4);
      swapped.writeUInt32BE(version);
      const hint = [2, 3].includes(swapped.readUInt32LE()) ? ' It looks like a big-endian GGUF; use a little-endian build of the model.' : ' The file may be corrupt, or newer than this app.';
      throw new GgufError(`${label} has unsupported GGUF version ${version}.${hint}`);
    }
    // Each tensor info takes at least 8 + 4 + 4 + 8 bytes; each key-value at least 8 + 4 + 1.
    const tensorCount = await readCount(r, 24, 'the tensor count', 'entries', MAX_TENSORS);
    const kvCount = await readCount(r, 13, 'the metadata count', 'entries', MAX_KEYS);

    const metadata = new Map<string, GgufKv>();
    const stringLengths = new Map<string, number>();
    for (let i = 0; i < kvCount; i++) {
      const key = await readString(r, `metadata key #${i + 1}`);
      await r.need(4, `the type of ${key}`);
      const type = r.u32() as GgufKv['type'];
      if (type === GgufValueType.STRING && options.lengthOnly?.has(key)) {
        const n = await readCount(r, 1, `the length of ${key}`, 'bytes');
        r.skip(n, key);
        stringLengths.set(key, n);
        continue;
      }
      const value = await readValue(r, type, key, skipPrefix !== undefined && key.startsWith(skipPrefix) ? SKIP_ITEMS : opts, 0);
      metadata.set(key, { key, type, value });
    }

    const tensors: GgufTensorInfo[] = [];
    for (let i = 0; i < tensorCount; i++) {
      const name = await readString(r, `tensor name #${i + 1}`);
      await r.need(4, `tensor ${name}`);
      const nDims = r.u32();
      if (nDims > GGML_MAX_DIMS) throw new GgufError(`${label} is corrupt: tensor ${name} claims ${nDims} dimensions (at most ${GGML_MAX_DIMS}).`);
      await r.need(8 * nDims + 12, `tensor ${name}`);
      const dims: number[] = [];
      let elements = 1;
      for (let d = 0; d < nDims; d++) {
        const dim = r.u64();
        if (typeof dim === 'bigint') throw new GgufError(`${label} is corrupt: tensor ${name} has an impossible dimension ${dim}.`);
        dims.push(dim);
        elements *= dim;
      }
      const type = r.u32();
      const offset = r.u64();
      if (typeof offset === 'bigint' || !Number.isSafeInteger(elements)) {
        throw new GgufError(`${label} is corrupt: tensor ${name} has an impossible size or offset.`);
      }
      tensors.push({ name, dims, type, typeName: typeName(type), offset, elements });
    }

    const alignKv = metadata.get('general.alignment')?.value;
    const alignment = typeof alignKv === 'number' && alignKv > 0 ? alignKv : GGUF_DEFAULT_ALIGNMENT;
    const dataOffset = Math.ceil(r.pos / alignment) * alignment;
    // A header that parses but whose tensor data runs past the end is an incomplete download.
    let dataEnd = dataOffset;
    for (const t of tensors) {
      const bytes = ggmlTensorBytes(t.type, t.elements);
      if (bytes === null) continue;
      dataEnd = Math.max(dataEnd, dataOffset + t.offset + bytes);
    }
    if (dataEnd > fileSize) {
      throw new GgufError(
        `${label} is truncated: its tensor data should end at byte ${dataEnd} but the file is ${fileSize} bytes. ` +
          'If it was downloaded, download it again.',
      );
    }
    return { version, fileSize, alignment, dataOffset, metadata, stringLengths, tensors };
  } finally {
    await fh.close();
  }
}

function num(v: GgufValue | undefined): number | null {
  if (typeof v === 'number') return Number.isFinite(v) ? v : null;
  if (typeof v === 'bigint') return Number(v);
  // Some architectures store per-layer values as arrays (e.g. head counts); report the largest.
  if (v && typeof v === 'object' && v.items) {
    const nums = v.items.map(num).filter((n): n is number => n !== null);
    return nums.length > 0 ? Math.max(...nums) : null;
  }
  return null;
}

function str(v: GgufValue | undefined): string | null {
  return typeof v === 'string' ? v : null;
}

const CHAT_TEMPLATE_KEY = 'tokenizer.chat_template';

function templateBytes(header: GgufHeader): number | null {
  const skipped = header.stringLengths.get(CHAT_TEMPLATE_KEY);
  if (skipped !== undefined) return skipped;
  const text = str(header.metadata.get(CHAT_TEMPLATE_KEY)?.value);
  return text === null ? null : Buffer.byteLength(text);
}

/** What the UI and the memory estimate need from a GGUF header (C5). */
export function ggufInfoFromHeader(header: GgufHeader): GgufInfo {
  const get = (key: string): GgufValue | undefined => header.metadata.get(key)?.value;
  const arch = str(get('general.architecture'));
  const archNum = (key: string): number | null => (arch ? num(get(`${arch}.${key}`)) : null);

  let quantization: string | null = null;
  const fileType = num(get('general.file_type'));
  if (fileType !== null) quantization = FILE_TYPE_NAMES[fileType & ~FILE_TYPE_GUESSED] ?? null;
  if (quantization === null && header.tensors.length > 0) {
    // No (known) file type: name the type that holds most of the weights.
    const byType = new Map<number, number>();
    for (const t of header.tensors) byType.set(t.type, (byType.get(t.type) ?? 0) + t.elements);
    const [dominant] = [...byType.entries()].sort((a, b) => b[1] - a[1])[0];
    quantization = typeName(dominant);
  }

  const headCount = archNum('attention.head_count');
  return {
    architecture: arch,
    name: str(get('general.name')),
    parameterCount: header.tensors.length > 0 ? header.tensors.reduce((sum, t) => sum + t.elements, 0) : null,
    contextLength: archNum('context_length'),
    quantization,
    chatTemplateBytes: templateBytes(header),
    embeddingLength: archNum('embedding_length'),
    blockCount: archNum('block_count'),
    headCount,
    headCountKv: archNum('attention.head_count_kv') ?? headCount,
  };
}

/** Reads a model file's GGUF metadata (C5). Throws GgufError for files that are not valid GGUF. */
export async function readGgufInfo(file: string): Promise<GgufInfo> {
  // The vocabulary (tokens, scores, merges) is most of a small model's header and none of its
  // info: decoding it for every file of a big models folder was most of the scan's garbage.
  // The chat template can be megabytes; the backend reads it from the file, rows need only its size.
  return ggufInfoFromHeader(await readGgufHeader(file, { skipArraysUnder: 'tokenizer.ggml.', lengthOnly: new Set([CHAT_TEMPLATE_KEY]) }));
}

/**
 * Bytes of an f16 KV cache for `contextSize` tokens: 2 (K and V) x layers x context x kv_dim x 2,
 * kv_dim = embedding_length / head_count x head_count_kv. 0 when the header lacks the shape.
 */
export function estimateKvCacheBytes(info: GgufInfo, contextSize: number): number {
  const { blockCount, embeddingLength, headCount } = info;
  if (!blockCount || !embeddingLength || !headCount || !(contextSize > 0)) return 0;
  const kvDim = (embeddingLength / headCount) * (info.headCountKv ?? headCount);
  return 2 * blockCount * contextSize * kvDim * 2;
}
