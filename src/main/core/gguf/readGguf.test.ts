import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { ggufArray, GgufValueType as T, type GgufKv } from './ggufTypes';
import { encodeGgufHeader, writeGguf, type GgufTensorSpec } from './ggufWriter';
import { makeModel, modelSpec, Rng } from './makeModel';
import { estimateKvCacheBytes, GgufError, readGgufHeader, readGgufInfo } from './readGguf';

let dir: string;
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loadout-readgguf-'));
});
afterEach(() => {
  fs.rmSync(dir, { recursive: true, force: true });
});

const file = (name: string) => path.join(dir, name);

/** A tensor spec whose data is zeros (its size from the ggml block layout). */
function zeroTensor(name: string, dims: number[], type = 0, bytesPerElement = 4): GgufTensorSpec {
  const byteLength = dims.reduce((a, b) => a * b, 1) * bytesPerElement;
  return { name, dims, type, byteLength, data: () => [new Uint8Array(byteLength)] };
}

const kv = (key: string, type: GgufKv['type'], value: GgufKv['value']): GgufKv => ({ key, type, value });

async function expectGgufError(p: string, message: RegExp): Promise<void> {
  const err = await readGgufInfo(p).then(
    () => null,
    (e: unknown) => e,
  );
  expect(err).toBeInstanceOf(GgufError);
  expect((err as Error).message).toMatch(message);
}

describe('C5: reading GGUF metadata', () => {
  it('C5: round-trips what makeModel wrote', async () => {
    const p = (await makeModel(file('tiny.gguf'), { seed: 3, name: 'Round trip', contextLength: 4096 })).path;
    const info = await readGgufInfo(p);
    const spec = modelSpec({ seed: 3, name: 'Round trip', contextLength: 4096 });
    expect(info).toEqual({
      architecture: 'llama',
      name: 'Round trip',
      parameterCount: spec.tensors.reduce((s, t) => s + t.byteLength / 4, 0),
      contextLength: 4096,
      quantization: 'F32',
      chatTemplateBytes: Buffer.byteLength(spec.metadata.find((m) => m.key === 'tokenizer.chat_template')?.value as string),
      embeddingLength: 64,
      blockCount: 2,
      headCount: 4,
      headCountKv: 4,
    });

    // Every key and value, the vocabulary included, and every tensor's shape and offset.
    const header = await readGgufHeader(p, { maxArrayItems: Infinity });
    const asF32 = (m: GgufKv): GgufKv => (m.type === T.FLOAT32 ? { ...m, value: Math.fround(m.value as number) } : m);
    expect([...header.metadata.values()]).toEqual(spec.metadata.map(asF32));
    expect(header.tensors.map((t) => [t.name, t.dims, t.typeName])).toEqual(spec.tensors.map((t) => [t.name, t.dims, 'F32']));
    expect(header.dataOffset % 32).toBe(0);
    const last = header.tensors[header.tensors.length - 1];
    expect(header.dataOffset + last.offset + last.elements * 4).toBeLessThanOrEqual(header.fileSize);
    // The bytes at a tensor's offset are its data: norms are 1.0.
    const norm = header.tensors.find((t) => t.name === 'output_norm.weight')!;
    const bytes = fs.readFileSync(p).subarray(header.dataOffset + norm.offset, header.dataOffset + norm.offset + 8);
    expect([bytes.readFloatLE(0), bytes.readFloatLE(4)]).toEqual([1, 1]);
  });

  for (const version of [2, 3] as const) {
    it(`C5: reads every value type and nested arrays (GGUF v${version})`, async () => {
      const big = 2n ** 60n + 5n;
      const metadata: GgufKv[] = [
        kv('general.architecture', T.STRING, 'llama'),
        kv('t.u8', T.UINT8, 250),
        kv('t.i8', T.INT8, -100),
        kv('t.u16', T.UINT16, 65000),
        kv('t.i16', T.INT16, -32000),
        kv('t.u32', T.UINT32, 4_000_000_000),
        kv('t.i32', T.INT32, -2_000_000_000),
        kv('t.f32', T.FLOAT32, 0.15625),
        kv('t.f64', T.FLOAT64, Math.PI),
        kv('t.bool', T.BOOL, true),
        kv('t.string', T.STRING, 'héllo ▁ 世界'),
        kv('t.u64.small', T.UINT64, 123456789012),
        kv('t.u64.big', T.UINT64, big),
        kv('t.i64', T.INT64, -9_007_199_254_740_991),
        kv('t.empty', T.ARRAY, ggufArray(T.INT32, [])),
        kv('t.floats', T.ARRAY, ggufArray(T.FLOAT32, [0.5, -2, 8])),
        kv(
          't.nested',
          T.ARRAY,
          ggufArray(T.ARRAY, [ggufArray(T.STRING, ['a', 'bc']), ggufArray(T.STRING, []), ggufArray(T.STRING, ['ß'])]),
        ),
        kv('t.deep', T.ARRAY, ggufArray(T.ARRAY, [ggufArray(T.ARRAY, [ggufArray(T.UINT64, [1, big])])])),
      ];
      const p = file(`v${version}.gguf`);
      await writeGguf(p, { version, metadata, tensors: [zeroTensor('w', [4, 2])] });
      const header = await readGgufHeader(p);
      expect(header.version).toBe(version);
      expect([...header.metadata.values()]).toEqual(metadata);
      expect(header.tensors).toEqual([{ name: 'w', dims: [4, 2], type: 0, typeName: 'F32', offset: 0, elements: 8 }]);
    });
  }

  it('C5: steps over long arrays, keeping their length', async () => {
    const p = file('long.gguf');
    const strings = Array.from({ length: 5000 }, (_, i) => `tok${i}`);
    const nested = Array.from({ length: 100 }, (_, i) => ggufArray(T.STRING, [`x${i}`, 'y']));
    await writeGguf(p, {
      metadata: [
        kv('strings', T.ARRAY, ggufArray(T.STRING, strings)),
        kv('nested', T.ARRAY, ggufArray(T.ARRAY, nested)),
        kv('after', T.STRING, 'still read'),
      ],
      tensors: [],
    });
    const header = await readGgufHeader(p, { maxArrayItems: 10 });
    expect(header.metadata.get('strings')?.value).toEqual({ itemType: T.STRING, length: 5000, items: null });
    expect(header.metadata.get('nested')?.value).toEqual({ itemType: T.ARRAY, length: 100, items: null });
    expect(header.metadata.get('after')?.value).toBe('still read');
  });

  it('C5: skips the items of arrays under a key prefix (the vocabulary), short or long, and per-layer arrays stay', async () => {
    const p = file('vocab.gguf');
    await writeGguf(p, {
      metadata: [
        kv('tokenizer.ggml.tokens', T.ARRAY, ggufArray(T.STRING, ['a', 'b', 'c'])),
        kv('tokenizer.ggml.scores', T.ARRAY, ggufArray(T.FLOAT32, [0, 1, 2])),
        kv('llama.attention.head_count', T.ARRAY, ggufArray(T.UINT32, [4, 8])),
        kv('tokenizer.chat_template', T.STRING, '{{ messages }}'),
      ],
      tensors: [],
    });
    const header = await readGgufHeader(p, { skipArraysUnder: 'tokenizer.ggml.' });
    expect(header.metadata.get('tokenizer.ggml.tokens')?.value).toEqual({ itemType: T.STRING, length: 3, items: null });
    expect(header.metadata.get('tokenizer.ggml.scores')?.value).toEqual({ itemType: T.FLOAT32, length: 3, items: null });
    expect(header.metadata.get('llama.attention.head_count')?.value).toEqual({ itemType: T.UINT32, length: 2, items: [4, 8] });
    expect(header.metadata.get('tokenizer.chat_template')?.value).toBe('{{ messages }}');
  });

  it('C5: names the quantization from general.file_type, else from the dominant tensor type', async () => {
    const withType = file('q4km.gguf');
    await writeGguf(withType, {
      metadata: [kv('general.architecture', T.STRING, 'llama'), kv('general.file_type', T.UINT32, 15)],
      tensors: [zeroTensor('w', [4, 2])],
    });
    expect((await readGgufInfo(withType)).quantization).toBe('Q4_K_M');

    // llama.cpp ORs 1024 in when it guessed the type.
    const guessed = file('guessed.gguf');
    await writeGguf(guessed, { metadata: [kv('general.file_type', T.UINT32, 1024 + 7)], tensors: [] });
    expect((await readGgufInfo(guessed)).quantization).toBe('Q8_0');

    // No file type: a Q8_0 matrix (blocks of 32 values in 34 bytes) outweighs small F32 norms.
    const noType = file('notype.gguf');
    await writeGguf(noType, {
      metadata: [kv('general.architecture', T.STRING, 'llama')],
      tensors: [
        zeroTensor('norm.a', [64]),
        zeroTensor('norm.b', [64]),
        { name: 'w', dims: [64, 8], type: 8, byteLength: (64 * 8 * 34) / 32, data: () => [new Uint8Array((64 * 8 * 34) / 32)] },
      ],
    });
    const info = await readGgufInfo(noType);
    expect(info.quantization).toBe('Q8_0');
    expect(info.parameterCount).toBe(64 + 64 + 512);
    expect(info.contextLength).toBeNull();
    expect(info.name).toBeNull();
  });

  it('C5: reads a 7B-shaped header (32k vocab, 4 GB of tensors) in milliseconds, without touching tensor data', async () => {
    const V = 32000;
    const tokens = Array.from({ length: V }, (_, i) => `\u2581piece${i}`);
    const metadata: GgufKv[] = [
      kv('general.architecture', T.STRING, 'llama'),
      kv('general.name', T.STRING, 'Big'),
      kv('general.file_type', T.UINT32, 15),
      kv('llama.context_length', T.UINT32, 4096),
      kv('llama.embedding_length', T.UINT32, 4096),
      kv('llama.block_count', T.UINT32, 32),
      kv('llama.attention.head_count', T.UINT32, 32),
      kv('llama.attention.head_count_kv', T.UINT32, 8),
      kv('tokenizer.ggml.tokens', T.ARRAY, ggufArray(T.STRING, tokens)),
      kv('tokenizer.ggml.scores', T.ARRAY, ggufArray(T.FLOAT32, tokens.map((_, i) => -i))),
      kv('tokenizer.ggml.token_type', T.ARRAY, ggufArray(T.INT32, tokens.map(() => 1))),
    ];
    // Q4_K: 256 values per 144-byte block. 32 layers x 7 matrices of 4096 x 11008 ~ 4 GB.
    const tensors: GgufTensorSpec[] = [];
    for (let l = 0; l < 32; l++) {
      for (const m of ['q', 'k', 'v', 'o', 'gate', 'up', 'down']) {
        const byteLength = ((4096 * 11008) / 256) * 144;
        tensors.push({ name: `blk.${l}.${m}`, dims: [4096, 11008], type: 12, byteLength, data: () => [] });
      }
    }
    const header = encodeGgufHeader({ metadata, tensors });
    const p = file('big.gguf');
    fs.writeFileSync(p, header);
    const padded = tensors.reduce((s, t) => s + Math.ceil(t.byteLength / 32) * 32, 0);
    fs.truncateSync(p, header.length + padded); // sparse: no disk used
    expect(fs.statSync(p).size).toBeGreaterThan(4e9);

    await readGgufInfo(p); // warm up the JIT
    const times: number[] = [];
    let info = null;
    for (let i = 0; i < 5; i++) {
      const t0 = performance.now();
      info = await readGgufInfo(p);
      times.push(performance.now() - t0);
    }
    times.sort((a, b) => a - b);
    // About 2-4 ms here. Reading the 4 GB of tensor data would take seconds; the limit leaves room
    // for a busy machine.
    expect(times[2]).toBeLessThan(20);
    expect(info).toMatchObject({ name: 'Big', quantization: 'Q4_K_M', headCountKv: 8, parameterCount: 32 * 7 * 4096 * 11008 });
    // f16 KV cache: 2 x 32 layers x 4096 ctx x (4096 / 32 x 8) x 2 bytes = 512 MiB.
    expect(estimateKvCacheBytes(info!, 4096)).toBe(512 * 1024 * 1024);
  });
});

describe('C5: corrupt, truncated and non-GGUF files fail with a GgufError', () => {
  it('C5: empty file', async () => {
    fs.writeFileSync(file('empty.gguf'), '');
    await expectGgufError(file('empty.gguf'), /empty\.gguf is not a GGUF file: the file is empty/);
  });

  it('C5: random bytes and other formats', async () => {
    const rng = new Rng(42);
    fs.writeFileSync(file('random.gguf'), Buffer.from(Array.from({ length: 4096 }, () => rng.next() & 0xff)));
    await expectGgufError(file('random.gguf'), /not a GGUF file \(bad magic/);
    fs.writeFileSync(file('zip.gguf'), Buffer.from('PK\x03\x04 something else entirely', 'latin1'));
    await expectGgufError(file('zip.gguf'), /not a GGUF file \(bad magic: it starts with "PK\\u0003\\u0004"/);
    fs.writeFileSync(file('short.gguf'), 'GGU');
    await expectGgufError(file('short.gguf'), /only 3 bytes long/);
  });

  it('C5: unsupported versions say why', async () => {
    const header = (version: number, bigEndian = false) => {
      const b = Buffer.alloc(32);
      b.write('GGUF', 0, 'latin1');
      if (bigEndian) b.writeUInt32BE(version, 4);
      else b.writeUInt32LE(version, 4);
      return b;
    };
    fs.writeFileSync(file('v1.gguf'), header(1));
    await expectGgufError(file('v1.gguf'), /GGUF version 1, which is too old/);
    fs.writeFileSync(file('v9.gguf'), header(9));
    await expectGgufError(file('v9.gguf'), /unsupported GGUF version 9/);
    fs.writeFileSync(file('be.gguf'), header(3, true));
    await expectGgufError(file('be.gguf'), /big-endian/);
  });

  it('C5: a file cut anywhere in the header or the data is reported as truncated', async () => {
    const p = (await makeModel(file('tiny.gguf'))).path;
    const full = fs.readFileSync(p);
    const { dataOffset } = await readGgufHeader(p);
    const cuts = [8, 20, 100, 1000, 5000, 9000, dataOffset - 1, dataOffset, dataOffset + 1000, full.length - 1];
    for (let at = 24; at < dataOffset; at += 211) cuts.push(at);
    for (const at of cuts) {
      fs.writeFileSync(file('cut.gguf'), full.subarray(0, at));
      await expectGgufError(file('cut.gguf'), /truncated/);
    }
    fs.writeFileSync(file('cut.gguf'), full.subarray(0, dataOffset + 1000));
    await expectGgufError(file('cut.gguf'), new RegExp(`tensor data should end at byte \\d+ but the file is ${dataOffset + 1000} bytes.*download it again`));
  });

  it('C5: absurd lengths and counts are rejected without allocating them', async () => {
    const base = Buffer.alloc(64);
    base.write('GGUF', 0, 'latin1');
    base.writeUInt32LE(3, 4);
    const variant = (edit: (b: Buffer) => void) => {
      const b = Buffer.from(base);
      edit(b);
      return b;
    };
    // A metadata key whose length claims 1 TB.
    fs.writeFileSync(file('key.gguf'), variant((b) => {
      b.writeBigUInt64LE(0n, 8);
      b.writeBigUInt64LE(1n, 16);
      b.writeBigUInt64LE(2n ** 40n, 24);
    }));
    await expectGgufError(file('key.gguf'), /metadata key #1 at byte 24 claims 1099511627776 bytes, but only 32 bytes follow/);
    // A tensor count beyond what the file could hold.
    fs.writeFileSync(file('count.gguf'), variant((b) => b.writeBigUInt64LE(2n ** 62n, 8)));
    await expectGgufError(file('count.gguf'), /tensor count at byte 8 claims \d+ entries/);
    // A string value of 100 MB inside a file that is that big (sparse): the cap stops it.
    const huge = file('hugestring.gguf');
    const h = Buffer.alloc(64);
    h.write('GGUF', 0, 'latin1');
    h.writeUInt32LE(3, 4);
    h.writeBigUInt64LE(0n, 8);
    h.writeBigUInt64LE(1n, 16);
    h.writeBigUInt64LE(1n, 24);
    h.write('k', 32, 'latin1');
    h.writeUInt32LE(T.STRING, 33);
    h.writeBigUInt64LE(100_000_000n, 37);
    fs.writeFileSync(huge, h);
    fs.truncateSync(huge, 200_000_000);
    await expectGgufError(huge, /k at byte 37 claims 100000000 bytes, which no GGUF string needs/);
  });

  it('C5: absurd counts that a huge sparse file could "hold" are refused at once, without looping or allocating', async () => {
    // 64 GB of zeros reads as billions of empty keys, tensors or strings: each count must be capped.
    const sparse = (name: string, head: Buffer): string => {
      const p = file(name);
      fs.writeFileSync(p, head);
      fs.truncateSync(p, 64 * 2 ** 30);
      return p;
    };
    const head = (tensors: bigint, keys: bigint, rest: Buffer = Buffer.alloc(0)): Buffer => {
      const b = Buffer.alloc(24);
      b.write('GGUF', 0, 'latin1');
      b.writeUInt32LE(3, 4);
      b.writeBigUInt64LE(tensors, 8);
      b.writeBigUInt64LE(keys, 16);
      return Buffer.concat([b, rest]);
    };
    const arrayKv = (key: string, itemType: number, length: bigint): Buffer => {
      const b = Buffer.alloc(8 + key.length + 4 + 4 + 8);
      b.writeBigUInt64LE(BigInt(key.length), 0);
      b.write(key, 8, 'latin1');
      b.writeUInt32LE(T.ARRAY, 8 + key.length);
      b.writeUInt32LE(itemType, 12 + key.length);
      b.writeBigUInt64LE(length, 16 + key.length);
      return b;
    };
    const t0 = performance.now();
    await expectGgufError(sparse('tensors.gguf', head(2n ** 30n, 0n)), /tensor count at byte 8 claims 1073741824 entries; no GGUF model has more than 131072/);
    await expectGgufError(sparse('keys.gguf', head(0n, 2n ** 30n)), /metadata count at byte 16 claims 1073741824 entries; no GGUF model has more than 65536/);
    await expectGgufError(sparse('strings.gguf', head(0n, 1n, arrayKv('k', T.STRING, 2n ** 30n))), /the length of k at byte \d+ claims 1073741824 items; no GGUF model has more than/);
    // Within every count cap, but more header than any model has: reading stops at the cap.
    const big = Buffer.concat([arrayKv('a', T.UINT64, 2n ** 24n - 1n)]);
    const p = file('long.gguf');
    fs.writeFileSync(p, head(0n, 2n, big));
    const fd = fs.openSync(p, 'r+');
    let at = 24 + big.length + 8 * (2 ** 24 - 1);
    for (const key of ['b']) {
      const kvb = arrayKv(key, T.UINT64, 2n ** 24n - 1n);
      fs.writeSync(fd, kvb, 0, kvb.length, at);
      at += kvb.length + 8 * (2 ** 24 - 1);
    }
    fs.closeSync(fd);
    fs.truncateSync(p, 64 * 2 ** 30);
    await expectGgufError(p, /header would run past 256 MB at b; real GGUF headers are a few MB/);
    expect(performance.now() - t0).toBeLessThan(2000);
  });

  it('C5: a 15 MB chat template is measured, not read: the info stays small', async () => {
    const template = `{# ${'x'.repeat(15 * 1024 * 1024)} #}{{ messages }}`;
    const p = (await makeModel(file('big-template.gguf'), { preset: 'tiny', seed: 1, chatTemplate: template })).path;
    const info = await readGgufInfo(p);
    expect(info.chatTemplateBytes).toBe(Buffer.byteLength(template));
    expect(JSON.stringify(info).length).toBeLessThan(1000);
    // The full header still has it, for whoever needs the text.
    const header = await readGgufHeader(p);
    expect(header.metadata.get('tokenizer.chat_template')?.value).toBe(template);
  });

  it('C5: a tensor with too many dimensions or an unknown value type is corrupt', async () => {
    const p = file('dims.gguf');
    await writeGguf(p, { metadata: [], tensors: [zeroTensor('w', [2, 2, 2, 2, 2])] });
    await expectGgufError(p, /tensor w claims 5 dimensions/);
    const q = file('type.gguf');
    await writeGguf(q, { metadata: [kv('x', T.UINT8, 1)], tensors: [] });
    const b = fs.readFileSync(q);
    b.writeUInt32LE(77, 24 + 8 + 1); // the value type of key "x"
    fs.writeFileSync(q, b);
    await expectGgufError(q, /x has unknown value type 77/);
  });

  it('C5: randomly damaged headers give a GgufError or a result, never a crash or another error', async () => {
    const p = (await makeModel(file('tiny.gguf'))).path;
    const full = fs.readFileSync(p);
    const { dataOffset } = await readGgufHeader(p);
    const rng = new Rng(9);
    let errors = 0;
    for (let i = 0; i < 150; i++) {
      const damaged = Buffer.from(full);
      for (let k = 0; k < 4; k++) damaged[8 + (rng.next() % (dataOffset - 8))] = rng.next() & 0xff;
      fs.writeFileSync(file('damaged.gguf'), damaged);
      try {
        await readGgufInfo(file('damaged.gguf'));
      } catch (err) {
        if (!(err instanceof GgufError)) throw err;
        errors++;
      }
    }
    expect(errors).toBeGreaterThan(0);
  });
});

describe('KV cache estimate', () => {
  it('is 2 x layers x context x kv_dim x 2 bytes (f16), with grouped-query heads', () => {
    const info = {
      architecture: 'llama', name: null, parameterCount: null, contextLength: 2048, quantization: 'F32', chatTemplateBytes: null,
      embeddingLength: 64, blockCount: 2, headCount: 4, headCountKv: 4,
    };
    expect(estimateKvCacheBytes(info, 2048)).toBe(2 * 2 * 2048 * 64 * 2);
    expect(estimateKvCacheBytes({ ...info, headCountKv: 1 }, 2048)).toBe(2 * 2 * 2048 * 16 * 2);
    expect(estimateKvCacheBytes({ ...info, headCountKv: null }, 100)).toBe(2 * 2 * 100 * 64 * 2);
    expect(estimateKvCacheBytes({ ...info, blockCount: null }, 2048)).toBe(0);
  });
});
