import { spawn, spawnSync, type ChildProcess } from 'node:child_process';
import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { fileURLToPath } from 'node:url';
import { afterEach, beforeEach, describe, expect, it } from 'vitest';
import { getLlama, LlamaChatSession, LlamaLogLevel, type Token } from 'node-llama-cpp';
import { buildVocab, makeModel, modelSpec, MODEL_PRESETS } from './makeModel';
import { parseArgs } from './makeModelCli';
import { readGgufHeader, readGgufInfo } from './readGguf';

const here = path.dirname(fileURLToPath(import.meta.url));
const repoRoot = path.resolve(here, '../../../..');

let dir: string;
const children: ChildProcess[] = [];
beforeEach(() => {
  dir = fs.mkdtempSync(path.join(os.tmpdir(), 'loadout-makemodel-'));
});
afterEach(() => {
  // A failed assertion must not leave a child running.
  for (const c of children.splice(0)) if (c.exitCode === null && c.signalCode === null) c.kill('SIGKILL');
  fs.rmSync(dir, { recursive: true, force: true });
});

describe('makeModel', () => {
  it('same seed gives identical bytes, a different seed different bytes', async () => {
    const a = await makeModel(path.join(dir, 'a.gguf'), { seed: 7 });
    const b = await makeModel(path.join(dir, 'b.gguf'), { seed: 7 });
    const c = await makeModel(path.join(dir, 'c.gguf'), { seed: 8 });
    const [ba, bb, bc] = [a, b, c].map((r) => fs.readFileSync(r.path));
    expect(ba.equals(bb)).toBe(true);
    expect(bc.length).toBe(ba.length);
    expect(bc.equals(ba)).toBe(false);
  });

  it('tiny is about 0.7 MB and its reported size is the file size', async () => {
    const { path: file, sizeBytes } = await makeModel(path.join(dir, 'tiny.gguf'));
    expect(file).toBe(path.join(dir, 'tiny.gguf'));
    expect(fs.statSync(file).size).toBe(sizeBytes);
    expect(sizeBytes).toBeGreaterThan(0.6 * 1024 * 1024);
    expect(sizeBytes).toBeLessThan(0.8 * 1024 * 1024);
  });

  it('writes atomically: replaces an existing file and leaves no temp file behind', async () => {
    const file = path.join(dir, 'm.gguf');
    fs.writeFileSync(file, 'old');
    await makeModel(file, { seed: 2 });
    expect(fs.readdirSync(dir)).toEqual(['m.gguf']);
    expect(fs.readFileSync(file).subarray(0, 4).toString()).toBe('GGUF');
  });

  it('fails with a clear message when the folder does not exist', async () => {
    await expect(makeModel(path.join(dir, 'missing', 'm.gguf'))).rejects.toThrow(/folder .*missing does not exist/);
  });

  it('writes the options into the metadata; omitKeys and a null template drop keys', async () => {
    const file = path.join(dir, 'named.gguf');
    await makeModel(file, { name: 'Demo', contextLength: 512, chatTemplate: null, omitKeys: ['llama.feed_forward_length'] });
    const header = await readGgufHeader(file);
    expect(header.version).toBe(3);
    expect(header.metadata.get('general.name')?.value).toBe('Demo');
    expect(header.metadata.get('llama.context_length')?.value).toBe(512);
    expect(header.metadata.has('tokenizer.chat_template')).toBe(false);
    expect(header.metadata.has('llama.feed_forward_length')).toBe(false);
    expect(header.metadata.has('llama.attention.head_count')).toBe(true);
    const info = await readGgufInfo(path.join(dir, 'named.gguf'));
    expect(info.chatTemplateBytes).toBeNull();
  });

  it('the small preset has the stories15M shape and is about 99 MB (spec only, not written)', () => {
    const { metadata, tensors } = modelSpec({ preset: 'small' });
    const get = (k: string) => metadata.find((m) => m.key === k)?.value;
    expect([get('llama.block_count'), get('llama.embedding_length'), get('llama.attention.head_count'), get('llama.feed_forward_length')]).toEqual([6, 288, 6, 768]);
    expect(get('llama.vocab_size')).toBe(32000);
    expect(tensors).toHaveLength(3 + 6 * 9);
    const bytes = tensors.reduce((s, t) => s + t.byteLength, 0);
    expect(bytes / 1e6).toBeGreaterThan(95);
    expect(bytes / 1e6).toBeLessThan(100);
    expect(tensors.find((t) => t.name === 'blk.5.ffn_down.weight')?.dims).toEqual([768, 288]);
  });

  it('the small-h64 preset is small with 64-wide attention heads (spec only, not written)', () => {
    const { metadata } = modelSpec({ preset: 'small-h64' });
    const get = (k: string) => metadata.find((m) => m.key === k)?.value as number;
    expect(get('llama.embedding_length') / get('llama.attention.head_count')).toBe(64);
    expect([get('llama.block_count'), get('llama.feed_forward_length'), get('llama.vocab_size')]).toEqual([6, 768, 32000]);
  });

  it('the medium preset has about 134M parameters, about 540 MB in F32 (spec only, not written)', () => {
    const { metadata, tensors } = modelSpec({ preset: 'medium' });
    const get = (k: string) => metadata.find((m) => m.key === k)?.value;
    expect([get('llama.block_count'), get('llama.embedding_length'), get('llama.attention.head_count'), get('llama.feed_forward_length')]).toEqual([12, 768, 12, 2048]);
    expect(tensors).toHaveLength(3 + 12 * 9);
    const bytes = tensors.reduce((s, t) => s + t.byteLength, 0);
    expect(bytes / 4 / 1e6).toBeGreaterThan(130);
    expect(bytes / 4 / 1e6).toBeLessThan(138);
    expect(bytes / 1e6).toBeGreaterThan(520);
    expect(bytes / 1e6).toBeLessThan(560);
  });

  it('builds a SentencePiece vocab with unique tokens, byte fallback and word pieces', () => {
    for (const size of [MODEL_PRESETS.tiny.vocab, MODEL_PRESETS.small.vocab]) {
      const v = buildVocab(size);
      expect(v.tokens).toHaveLength(size);
      expect(new Set(v.tokens).size).toBe(size);
      expect(v.tokens.slice(0, 3)).toEqual(['<unk>', '<s>', '</s>']);
      expect(v.types.slice(0, 3)).toEqual([2, 3, 3]);
      expect(v.tokens[3 + 0x41]).toBe('<0x41>');
      expect(v.types.filter((t) => t === 6)).toHaveLength(256);
      expect(v.tokens).toContain('\u2581the');
      // Only word pieces are meant to be generated.
      v.generatable.forEach((g, id) => {
        if (g) expect(v.types[id]).toBe(1);
      });
    }
  });
});

describe('makeModel in llama.cpp (node-llama-cpp in-process)', () => {
  it('loads a tiny model and generates the same tokens twice at temperature 0', async () => {
    const file = (await makeModel(path.join(dir, 'tiny.gguf'), { seed: 1 })).path;
    // build: 'never': otherwise a failed binary self-test silently compiles llama.cpp for minutes.
    const llama = await getLlama({ build: 'never', gpu: false, logLevel: LlamaLogLevel.error });
    try {
      const model = await llama.loadModel({ modelPath: file });
      const context = await model.createContext({ contextSize: 1024, threads: 1 });
      const sequence = context.getSequence();
      const prompt = model.tokenize('Once upon a time, the little cat');
      // Byte fallback: any text round-trips through the tokenizer.
      expect(model.detokenize(model.tokenize('héllo, 世界'))).toBe('héllo, 世界');

      const generate = async (): Promise<Token[]> => {
        await sequence.clearHistory();
        const out: Token[] = [];
        for await (const token of sequence.evaluate(prompt, { temperature: 0 })) {
          out.push(token);
          if (out.length === 40) break;
        }
        return out;
      };
      const first = await generate();
      const second = await generate();
      expect(first).toHaveLength(40);
      expect(second).toEqual(first);
      const text = model.detokenize(first);
      expect(text).toMatch(/[a-z]{2,}/);
      expect(text).not.toContain('\uFFFD');

      // The GGUF's chat template drives chat formatting.
      await sequence.clearHistory();
      const session = new LlamaChatSession({ contextSequence: sequence });
      const reply = await session.prompt('Hello', { temperature: 0, maxTokens: 12 });
      expect(reply.length).toBeGreaterThan(0);
      expect(session.chatWrapper.wrapperName).toMatch(/ChatML|Jinja/i);
      session.dispose();
      await context.dispose();
      await model.dispose();
    } finally {
      await llama.dispose();
    }
  });

  it('a model without llama.feed_forward_length makes llama.cpp abort (checked in a child process)', async () => {
    const file = (await makeModel(path.join(dir, 'broken.gguf'), { omitKeys: ['llama.feed_forward_length'] })).path;
    // A script file, not `node -e`: node-llama-cpp forks a self-test with the parent's execArgv.
    const script = path.join(dir, 'load.mjs');
    const entry = path.join(repoRoot, 'node_modules/node-llama-cpp/dist/index.js');
    fs.writeFileSync(
      script,
      `import { getLlama, LlamaLogLevel } from ${JSON.stringify(entry)};
const llama = await getLlama({ build: 'never', gpu: false, logLevel: LlamaLogLevel.error });
await llama.loadModel({ modelPath: ${JSON.stringify(file)} });
console.log('loaded');
`,
    );
    const child = spawn(process.execPath, [script], { stdio: ['ignore', 'pipe', 'pipe'] });
    children.push(child);
    let output = '';
    child.stdout.on('data', (d) => (output += d));
    child.stderr.on('data', (d) => (output += d));
    const [code, signal] = await new Promise<[number | null, NodeJS.Signals | null]>((resolve) => child.on('exit', (c, s) => resolve([c, s])));
    expect({ code, signal }).toEqual({ code: null, signal: 'SIGABRT' });
    expect(output).toContain('GGML_ASSERT');
  });
});

describe('make-model CLI', () => {
  it('writes the file and prints its path and size, making its folder if needed', () => {
    const out = path.join(dir, 'new-folder', 'cli.gguf');
    const res = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'makeModelCli.ts'), '--out', out, '--seed', '5', '--name', 'CLI model'], {
      cwd: repoRoot,
      encoding: 'utf8',
    });
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    expect(res.stdout).toContain(out);
    expect(res.stdout).toContain(`${fs.statSync(out).size} bytes`);
  });

  const cli = (args: string[], env: NodeJS.ProcessEnv = process.env) =>
    spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'makeModelCli.ts'), ...args], { cwd: repoRoot, encoding: 'utf8', env });

  it('--help prints the usage and where the file goes, and exits 0', () => {
    const res = cli(['--help']);
    expect(res.status).toBe(0);
    expect(res.stderr).toBe('');
    expect(res.stdout).toMatch(/^usage: npm run make-model -- /);
    expect(res.stdout).toContain('in the folder Loadout watches');
    expect(cli(['-h']).status).toBe(0);
  });

  it('without --out it writes into the models folder Loadout watches (the data folder\'s models_dir), never over a file', () => {
    const data = path.join(dir, 'data');
    const res = cli(['--data', data, '--seed', '2']);
    expect(res.stderr).toBe('');
    expect(res.status).toBe(0);
    const written = path.join(data, 'models', 'tiny.gguf');
    expect(res.stdout).toContain(written);
    expect(fs.existsSync(written)).toBe(true);

    const again = cli(['--data', data]);
    expect(again.status).toBe(1);
    expect(again.stderr).toMatch(/tiny\.gguf already exists; pass --out/);

    // A saved models_dir is the folder the app watches, so that is where the file goes.
    const moved = path.join(dir, 'elsewhere');
    fs.writeFileSync(path.join(data, 'settings.json'), JSON.stringify({ models_dir: moved }));
    expect(cli(['--data', data, '--preset', 'tiny']).status).toBe(0);
    expect(fs.existsSync(path.join(moved, 'tiny.gguf'))).toBe(true);

    // With no flag at all: the default data folder (here under XDG_CONFIG_HOME on Linux).
    if (process.platform === 'linux') {
      const home = path.join(dir, 'config-home');
      expect(cli([], { ...process.env, XDG_CONFIG_HOME: home }).status).toBe(0);
      expect(fs.existsSync(path.join(home, 'Loadout', 'models', 'tiny.gguf'))).toBe(true);
    }
  });

  it('exits 1 with a usage line on bad arguments', () => {
    const res = spawnSync(process.execPath, ['--import', 'tsx', path.join(here, 'makeModelCli.ts'), '--seed', 'x'], { cwd: repoRoot, encoding: 'utf8' });
    expect(res.status).toBe(1);
    expect(res.stderr).toMatch(/--seed must be a whole number/);
    expect(res.stderr).toMatch(/^usage: npm run make-model -- \[--out <file.gguf>\]/m);
  });

  it('parses every flag and rejects unknown or incomplete ones', () => {
    expect(parseArgs(['--out', 'x.gguf', '--seed', '3', '--preset', 'small', '--name', 'N', '--context', '128'])).toEqual({
      out: 'x.gguf',
      modelsDir: null,
      dataDir: null,
      options: { seed: 3, preset: 'small', name: 'N', contextLength: 128 },
    });
    expect(parseArgs(['--models', '/m'])).toEqual({ out: null, modelsDir: '/m', dataDir: null, options: {} });
    expect(parseArgs(['--seed', '1', '--help'])).toEqual({ help: true });
    expect(() => parseArgs(['--out', 'x', '--models', '/m'])).toThrow(/leave out --models/);
    expect(() => parseArgs(['--out'])).toThrow('--out needs a value');
    expect(() => parseArgs(['--out', 'x', '--preset', 'huge'])).toThrow(/one of tiny, small, small-h64, medium/);
    expect(() => parseArgs(['--out', 'x', '--what'])).toThrow(/unknown argument/);
  });
});
