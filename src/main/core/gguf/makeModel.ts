/**
 * Deterministic generator of tiny but valid llama-architecture GGUF v3 files with random
 * weights (see test-models.md). Same options, same bytes. They load in llama.cpp and stream
 * gibberish made of English-ish word pieces: every part of the real path runs without a
 * downloaded model. Also the app's out-of-the-box demo model.
 */
import { ggufArray, GgufValueType, GGML_TYPE_F32, type GgufKv } from './ggufTypes';
import { writeGguf, type GgufTensorSpec } from './ggufWriter';

export type ModelPreset = 'tiny' | 'small' | 'small-h64' | 'medium';

export interface MakeModelOptions {
  preset?: ModelPreset;
  seed?: number;
  name?: string;
  contextLength?: number;
  /** Jinja chat template; null leaves `tokenizer.chat_template` out. Default: ChatML. */
  chatTemplate?: string | null;
  /** Metadata keys to drop, to make deliberately broken models in tests. */
  omitKeys?: string[];
}

interface Shape {
  layers: number;
  embedding: number;
  heads: number;
  kvHeads: number;
  feedForward: number;
  vocab: number;
  context: number;
}

export const MODEL_PRESETS: Record<ModelPreset, Shape> = {
  // ~0.7 MB: for tests.
  tiny: { layers: 2, embedding: 64, heads: 4, kvHeads: 4, feedForward: 256, vocab: 370, context: 2048 },
  // stories15M's shape, ~99 MB in F32: per-token work like a real small model, for benchmarks.
  small: { layers: 6, embedding: 288, heads: 6, kvHeads: 6, feedForward: 768, vocab: 32000, context: 2048 },
  // small with 64-wide attention heads, as most real models' are (64, 128, 256): small's 48-wide
  // heads take a scalar path in the flash-attention kernel of node-llama-cpp's prebuilt binary on
  // AVX-512 CPUs, which is that binary's cost, not the engine's (README, bench:llama-server).
  'small-h64': { layers: 6, embedding: 256, heads: 4, kvHeads: 4, feedForward: 768, vocab: 32000, context: 2048 },
  // ~134M parameters, ~536 MB in F32 (GPT-2-small's width and depth): where per-token work is the
  // matrix products rather than the engine's own overhead. Benchmarks only, never default tests.
  medium: { layers: 12, embedding: 768, heads: 12, kvHeads: 12, feedForward: 2048, vocab: 32000, context: 2048 },
};

export const DEFAULT_CHAT_TEMPLATE =
  "{% for message in messages %}{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}{% endfor %}" +
  "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}";

// ---------------------------------------------------------------------------------------------
// Seeded PRNG: sfc32 (small, fast, good enough), seeded through splitmix32. Gaussian samples
// come from Box-Muller; V8's Math.log/sqrt/cos/sin are its own fdlibm port, so the bytes do not
// depend on the platform's libm.

function splitmix32(state: number): () => number {
  let s = state >>> 0;
  return () => {
    s = (s + 0x9e3779b9) >>> 0;
    let z = s;
    z = Math.imul(z ^ (z >>> 16), 0x85ebca6b);
    z = Math.imul(z ^ (z >>> 13), 0xc2b2ae35);
    return (z ^ (z >>> 16)) >>> 0;
  };
}

export class Rng {
  private a: number;
  private b: number;
  private c: number;
  private d: number;
  private spare: number | null = null;

  constructor(seed: number) {
    const lo = seed >>> 0;
    const hi = Math.floor(seed / 0x1_0000_0000) >>> 0;
    const mix = splitmix32(lo ^ Math.imul(hi, 0x27d4eb2d));
    this.a = mix();
    this.b = mix();
    this.c = mix();
    this.d = mix() | 1;
    for (let i = 0; i < 12; i++) this.next();
  }

  next(): number {
    const t = (((this.a + this.b) | 0) + this.d) | 0;
    this.d = (this.d + 1) | 0;
    this.a = this.b ^ (this.b >>> 9);
    this.b = (this.c + (this.c << 3)) | 0;
    this.c = (this.c << 21) | (this.c >>> 11);
    this.c = (this.c + t) | 0;
    return t >>> 0;
  }

  /** Standard normal sample. */
  normal(): number {
    if (this.spare !== null) {
      const s = this.spare;
      this.spare = null;
      return s;
    }
    const u1 = (this.next() + 1) / 0x1_0000_0001; // (0, 1): log never sees 0
    const u2 = this.next() / 0x1_0000_0000;
    const r = Math.sqrt(-2 * Math.log(u1));
    this.spare = r * Math.sin(2 * Math.PI * u2);
    return r * Math.cos(2 * Math.PI * u2);
  }
}

// ---------------------------------------------------------------------------------------------
// Vocabulary: SentencePiece style, so llama.cpp's "llama" tokenizer runs with byte fallback.

const TOKEN_TYPE = { normal: 1, unknown: 2, control: 3, byte: 6 } as const;
const WORD_START = '\u2581';

const WORDS = (
  'the of and to in is was he for it with as his on be at by had not are but from or have an they ' +
  'which one you were her all she there would their we him been has when who will more no if out so ' +
  'said what up its about into than them can only other new some could time these two may then do ' +
  'first any my now such like our over man me even most made after also did many before must through ' +
  'back years where much your way well down should because each just those people how too little state ' +
  'good very make world still own see men work long get here between both life being under never day ' +
  'same another know while last might us great old year off come since against go came right used take ' +
  'three small house light water garden river morning stone green cold warm quiet story forest window ' +
  'road moon bird little tree sun cat dog happy found went looked asked saw play big friend home night'
).split(' ');

const SUFFIXES = ['s', 'ed', 'ing', 'er', 'ly', 'est', 'ness', 'tion', 'al', 'y'];
const ONSETS = ['b', 'c', 'd', 'f', 'g', 'h', 'l', 'm', 'n', 'p', 'r', 's', 't', 'v', 'w', 'br', 'cl', 'dr', 'fl', 'gr', 'pl', 'st', 'sh', 'th', 'tr'];
const VOWELS = ['a', 'e', 'i', 'o', 'u', 'ea', 'ou', 'ai'];
const CODAS = ['', 'n', 'r', 'l', 't', 'st', 'nd', 'm', 'ck', 'ng', 's', 'th'];
// Made-up words must not spell something rude on a demo screen.
const BLOCKED = /fuck|shit|cunt|dick|cock|slut|nig|fag|piss|tit|cum|wank|rape|porn|anal|twat|crap|damn|butt|sex|fart|puss|bitch|whore|hell|dam/;

interface Vocab {
  tokens: string[];
  scores: number[];
  types: number[];
  /** Pieces the model may generate: words, syllables, punctuation (not bytes, controls, prefixes). */
  generatable: boolean[];
}

export function buildVocab(size: number): Vocab {
  const tokens: string[] = [];
  const scores: number[] = [];
  const types: number[] = [];
  const generatable: boolean[] = [];
  const ids = new Map<string, number>();
  const add = (text: string, type: number, score: number, gen: boolean): void => {
    const id = ids.get(text);
    if (id !== undefined) {
      generatable[id] ||= gen;
      return;
    }
    if (tokens.length >= size) return;
    ids.set(text, tokens.length);
    tokens.push(text);
    scores.push(score);
    types.push(type);
    generatable.push(gen);
  };
  add('<unk>', TOKEN_TYPE.unknown, 0, false);
  add('<s>', TOKEN_TYPE.control, 0, false);
  add('</s>', TOKEN_TYPE.control, 0, false);
  for (let b = 0; b < 256; b++) add(`<0x${b.toString(16).toUpperCase().padStart(2, '0')}>`, TOKEN_TYPE.byte, 0, false);
  add('<|im_start|>', TOKEN_TYPE.control, 0, false);
  add('<|im_end|>', TOKEN_TYPE.control, 0, false);
  const specials = tokens.length;
  if (size <= specials + 8) throw new RangeError(`vocab size ${size} is too small (needs > ${specials + 8})`);

  // Word pieces. The "llama" tokenizer merges two adjacent symbols only when their concatenation
  // is a token (the highest score first), so every prefix of a word goes in with it: that lets
  // prompts tokenize into words rather than bytes. Longer pieces score higher.
  const piece = (text: string, gen: boolean): void => add(text, TOKEN_TYPE.normal, text.length, gen);
  const word = (w: string): void => {
    for (let i = 2; i < w.length; i++) piece(w.slice(0, i), false);
    piece(w, true);
  };
  piece(WORD_START, false);
  for (const ch of '.,!?') piece(ch, true);
  for (const w of WORDS) word(WORD_START + w);
  for (const s of SUFFIXES) word(s);
  // The small preset needs tens of thousands of pieces: pronounceable made-up syllables, then
  // two-syllable words (pairs spread out so they do not all start alike).
  const syllables: string[] = [];
  for (const o of ONSETS) for (const v of VOWELS) for (const c of CODAS) syllables.push(o + v + c);
  const made = (w: string): void => {
    if (!BLOCKED.test(w)) word(w);
  };
  for (const s of syllables) made(WORD_START + s);
  for (const s of syllables) made(s);
  const n = syllables.length;
  for (let k = 0; tokens.length < size && k < n * n; k++) {
    const w = WORD_START + syllables[k % n] + syllables[(k * 7 + Math.floor(k / n)) % n];
    if (!BLOCKED.test(w)) piece(w, true);
  }
  if (tokens.length < size) throw new RangeError(`cannot build a vocab of ${size} tokens`);
  return { tokens, scores, types, generatable };
}

// ---------------------------------------------------------------------------------------------

const CHUNK_FLOATS = 64 * 1024;
const OUTPUT_SCALE = 4;

/** F32 tensor filled with `value`. */
function constTensor(name: string, dims: number[], value: number): GgufTensorSpec {
  const count = dims.reduce((a, b) => a * b, 1);
  return {
    name,
    dims,
    type: GGML_TYPE_F32,
    byteLength: count * 4,
    *data() {
      for (let done = 0; done < count; done += CHUNK_FLOATS) {
        const n = Math.min(CHUNK_FLOATS, count - done);
        yield new Uint8Array(new Float32Array(n).fill(value).buffer);
      }
    },
  };
}

/**
 * F32 tensor of normal(0, 1/sqrt(fan_in)) weights, fan_in = dims[0] (the row length).
 * `rowScale` multiplies whole rows; a row scaled by 0 still draws from the PRNG, so the stream
 * for later tensors does not depend on it.
 */
function randomTensor(name: string, dims: number[], rng: Rng, rowScale?: (row: number) => number): GgufTensorSpec {
  const count = dims.reduce((a, b) => a * b, 1);
  const rowLength = dims[0];
  const std = 1 / Math.sqrt(rowLength);
  return {
    name,
    dims,
    type: GGML_TYPE_F32,
    byteLength: count * 4,
    *data() {
      for (let done = 0; done < count; done += CHUNK_FLOATS) {
        const n = Math.min(CHUNK_FLOATS, count - done);
        const chunk = new Float32Array(n);
        for (let i = 0; i < n; i++) chunk[i] = rng.normal() * std;
        if (rowScale) {
          for (let i = 0; i < n; i++) chunk[i] *= rowScale(Math.floor((done + i) / rowLength));
        }
        yield new Uint8Array(chunk.buffer);
      }
    },
  };
}

/**
 * The metadata and tensors of a generated model, before writing. The tensors share one PRNG
 * stream: write them once, in order (writeGguf does).
 */
export function modelSpec(options: MakeModelOptions = {}): { metadata: GgufKv[]; tensors: GgufTensorSpec[] } {
  const preset = options.preset ?? 'tiny';
  const shape = MODEL_PRESETS[preset];
  if (!shape) throw new RangeError(`unknown preset "${String(preset)}" (use one of ${Object.keys(MODEL_PRESETS).join(', ')})`);
  const seed = options.seed ?? 1;
  if (!Number.isSafeInteger(seed) || seed < 0) throw new RangeError(`seed must be a whole number >= 0, got ${seed}`);
  const context = options.contextLength ?? shape.context;
  if (!Number.isSafeInteger(context) || context < 1) throw new RangeError(`contextLength must be a positive whole number`);
  const { layers, embedding: E, heads, kvHeads, feedForward: FF, vocab: V } = shape;
  const headDim = E / heads;
  const kvDim = headDim * kvHeads;
  const vocab = buildVocab(V);
  const name = options.name ?? `Loadout ${preset} (random weights, seed ${seed})`;
  const template = options.chatTemplate === undefined ? DEFAULT_CHAT_TEMPLATE : options.chatTemplate;

  const u32 = (key: string, value: number): GgufKv => ({ key, type: GgufValueType.UINT32, value });
  const f32 = (key: string, value: number): GgufKv => ({ key, type: GgufValueType.FLOAT32, value });
  const str = (key: string, value: string): GgufKv => ({ key, type: GgufValueType.STRING, value });
  const bool = (key: string, value: boolean): GgufKv => ({ key, type: GgufValueType.BOOL, value });
  const metadata: GgufKv[] = [
    str('general.architecture', 'llama'),
    str('general.name', name),
    str('general.description', 'Random weights made by Loadout for testing: it runs, but its text is gibberish.'),
    u32('general.file_type', 0), // ALL_F32
    u32('llama.context_length', context),
    u32('llama.embedding_length', E),
    u32('llama.block_count', layers),
    u32('llama.feed_forward_length', FF),
    u32('llama.attention.head_count', heads),
    u32('llama.attention.head_count_kv', kvHeads),
    f32('llama.attention.layer_norm_rms_epsilon', 1e-5),
    u32('llama.rope.dimension_count', headDim),
    f32('llama.rope.freq_base', 10000),
    u32('llama.vocab_size', V),
    str('tokenizer.ggml.model', 'llama'),
    { key: 'tokenizer.ggml.tokens', type: GgufValueType.ARRAY, value: ggufArray(GgufValueType.STRING, vocab.tokens) },
    { key: 'tokenizer.ggml.scores', type: GgufValueType.ARRAY, value: ggufArray(GgufValueType.FLOAT32, vocab.scores) },
    { key: 'tokenizer.ggml.token_type', type: GgufValueType.ARRAY, value: ggufArray(GgufValueType.INT32, vocab.types) },
    u32('tokenizer.ggml.unknown_token_id', 0),
    u32('tokenizer.ggml.bos_token_id', 1),
    u32('tokenizer.ggml.eos_token_id', 2),
    bool('tokenizer.ggml.add_bos_token', true),
    bool('tokenizer.ggml.add_eos_token', false),
  ];
  if (template !== null) metadata.push(str('tokenizer.chat_template', template));
  const omit = new Set(options.omitKeys ?? []);

  // One PRNG stream, consumed in tensor order: the writer pulls tensors one after another.
  const rng = new Rng(seed);
  const tensors: GgufTensorSpec[] = [
    randomTensor('token_embd.weight', [E, V], rng),
    constTensor('output_norm.weight', [E], 1),
    // The one departure from plain random weights, so output reads like words: rows of tokens
    // that should not be generated (bytes, controls, EOS, word prefixes) are zero, so their logit
    // is 0, and word rows are scaled up (logits ~ normal(0, 16)) so the top words dwarf the
    // zero-logit mass even at temperature 1. Greedy decoding never picks a zero row.
    randomTensor('output.weight', [E, V], rng, (row) => (vocab.generatable[row] ? OUTPUT_SCALE : 0)),
  ];
  for (let l = 0; l < layers; l++) {
    const blk = `blk.${l}.`;
    tensors.push(
      constTensor(`${blk}attn_norm.weight`, [E], 1),
      randomTensor(`${blk}attn_q.weight`, [E, E], rng),
      randomTensor(`${blk}attn_k.weight`, [E, kvDim], rng),
      randomTensor(`${blk}attn_v.weight`, [E, kvDim], rng),
      randomTensor(`${blk}attn_output.weight`, [E, E], rng),
      constTensor(`${blk}ffn_norm.weight`, [E], 1),
      randomTensor(`${blk}ffn_gate.weight`, [E, FF], rng),
      randomTensor(`${blk}ffn_up.weight`, [E, FF], rng),
      randomTensor(`${blk}ffn_down.weight`, [FF, E], rng),
    );
  }
  return { metadata: metadata.filter((kv) => !omit.has(kv.key)), tensors };
}

/** Writes a generated model to `outFile` (atomically). */
export async function makeModel(outFile: string, options: MakeModelOptions = {}): Promise<{ path: string; sizeBytes: number }> {
  const { metadata, tensors } = modelSpec(options);
  return writeGguf(outFile, { version: 3, metadata, tensors });
}
