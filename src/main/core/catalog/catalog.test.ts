import fs from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { afterAll, afterEach, beforeAll, describe, expect, it } from 'vitest';
import { isLoadoutError } from '../../../shared/errors';
import { FakeClock } from '../clock';
import { makeModel } from '../gguf/makeModel';
import { Catalog, parallelOf, parseOptions } from './catalog';
import type { CatalogChange, CatalogEntry } from './types';
import { walkModelsDir, WALK_LIMITS } from './walkModelsDir';

// Real generated GGUFs, made once and copied into each test's folder.
let seedDir: string;
let tinyA: string;
let tinyB: string;
const dirs: string[] = [];
const catalogs: Catalog[] = [];

beforeAll(async () => {
  seedDir = fs.mkdtempSync(path.join(os.tmpdir(), 'loadout-catalog-seed-'));
  tinyA = (await makeModel(path.join(seedDir, 'a.gguf'), { preset: 'tiny', seed: 1, name: 'Tiny A' })).path;
  tinyB = (await makeModel(path.join(seedDir, 'b.gguf'), { preset: 'tiny', seed: 2, name: 'Tiny B' })).path;
});
afterAll(() => fs.rmSync(seedDir, { recursive: true, force: true }));
afterEach(() => {
  for (const c of catalogs.splice(0)) c.dispose();
  for (const d of dirs.splice(0)) fs.rmSync(d, { recursive: true, force: true });
});

function modelsDir(): string {
  const d = fs.mkdtempSync(path.join(os.tmpdir(), 'loadout-catalog-'));
  dirs.push(d);
  return d;
}

/** Writes `files` (path -> text, or 'A'/'B' for a copy of a generated GGUF) under `root`. */
function put(root: string, files: Record<string, string>): void {
  for (const [rel, content] of Object.entries(files)) {
    const full = path.join(root, rel);
    fs.mkdirSync(path.dirname(full), { recursive: true });
    if (content === 'A' || content === 'B') fs.copyFileSync(content === 'A' ? tinyA : tinyB, full);
    else fs.writeFileSync(full, content);
  }
}

function catalog(dir: string, opts: { debounceMs?: number; clock?: FakeClock } = {}): Catalog {
  const c = new Catalog({ modelsDir: dir, debounceMs: opts.debounceMs ?? 20, clock: opts.clock });
  catalogs.push(c);
  return c;
}

function byName(list: CatalogEntry[]): Record<string, CatalogEntry> {
  return Object.fromEntries(list.map((e) => [e.name, e]));
}

/** Resolves with the first batch of changes that `match`es; fails after `ms` without one. */
function nextChange(c: Catalog, match: (changes: CatalogChange[]) => boolean, ms = 5000): Promise<CatalogChange[]> {
  return new Promise((resolve, reject) => {
    const timer = setTimeout(() => {
      off();
      reject(new Error(`no matching catalog change within ${ms} ms`));
    }, ms);
    const off = c.onChange((changes) => {
      if (!match(changes)) return;
      clearTimeout(timer);
      off();
      resolve(changes);
    });
  });
}

/** Matches a batch that upserts `name` in its final state (a file being written may show up half-written first). */
const upserted = (name: string, status = 'ok') => (cs: CatalogChange[]) =>
  cs.some((c) => c.type === 'upsert' && c.entry.name === name && c.entry.status === status);

describe('catalog scan (C1)', () => {
  it('C1: bare GGUFs in nested folders are models named after the file stem, backend llama-cpp, sorted by name', async () => {
    const dir = modelsDir();
    put(dir, { 'zeta.gguf': 'A', 'deep/er/Alpha.Q4_K_M.gguf': 'B', 'notes.txt': 'not a model' });
    const list = await catalog(dir).scan();
    expect(list.map((e) => e.name)).toEqual(['Alpha.Q4_K_M', 'zeta']);
    const alpha = list[0];
    expect(alpha.status).toBe('ok');
    expect(alpha.error).toBeNull();
    expect(alpha.config.backend).toBe('llama-cpp');
    expect(alpha.config.parameters.model).toBe('deep/er/Alpha.Q4_K_M.gguf');
    expect(alpha.file).toBe(path.join(dir, 'deep/er/Alpha.Q4_K_M.gguf'));
    expect(alpha.configPath).toBeNull();
    expect(alpha.sizeBytes).toBe(fs.statSync(tinyB).size);
    // C5: header metadata read without loading.
    expect(alpha.gguf).toMatchObject({ architecture: 'llama', name: 'Tiny B', contextLength: 2048, blockCount: 2 });
    expect(alpha.gguf?.chatTemplateBytes).toBeGreaterThan(0);
  });

  it('C1: a GGUF named by a config is listed once, under the config name (relative to the models dir or the YAML folder, or absolute)', async () => {
    const dir = modelsDir();
    const outside = modelsDir();
    put(outside, { 'far.gguf': 'B' });
    put(dir, {
      'one.gguf': 'A',
      'one.yaml': 'name: first\nparameters:\n  model: one.gguf\n',
      'sub/two.gguf': 'A',
      'sub/two.yaml': 'name: second\nparameters:\n  model: two.gguf\n', // next to the YAML
      'three.yaml': `name: third\nparameters:\n  model: ${path.join(outside, 'far.gguf')}\n`,
      'four.yaml': `name: fourth\nparameters:\n  model: file://${path.join(dir, 'sub/two.gguf')}\n`,
    });
    const list = await catalog(dir).scan();
    expect(list.map((e) => [e.name, e.status])).toEqual([
      ['first', 'ok'],
      ['fourth', 'ok'],
      ['second', 'ok'],
      ['third', 'ok'],
    ]);
    const m = byName(list);
    expect(m.first.file).toBe(path.join(dir, 'one.gguf'));
    expect(m.first.configPath).toBe(path.join(dir, 'one.yaml'));
    expect(m.second.file).toBe(path.join(dir, 'sub/two.gguf'));
    expect(m.third.file).toBe(path.join(outside, 'far.gguf'));
    expect(m.third.gguf?.name).toBe('Tiny B');
    expect(m.fourth.file).toBe(path.join(dir, 'sub/two.gguf'));
  });

  it('C1: mmproj files are never models; a split GGUF is one model named after its first part, sized as all parts', async () => {
    const dir = modelsDir();
    put(dir, {
      'mmproj-model-f16.gguf': 'A',
      'llava/llava-v1.6-mmproj.gguf': 'A',
      'big-00001-of-00003.gguf': 'A',
      'big-00002-of-00003.gguf': 'B',
      'big-00003-of-00003.gguf': 'B',
      'half-00001-of-00002.gguf': 'A',
    });
    const list = await catalog(dir).scan();
    expect(list.map((e) => e.name)).toEqual(['big', 'half']);
    const m = byName(list);
    expect(m.big.status).toBe('ok');
    expect(m.big.file).toBe(path.join(dir, 'big-00001-of-00003.gguf'));
    expect(m.big.sizeBytes).toBe(fs.statSync(tinyA).size + 2 * fs.statSync(tinyB).size);
    expect(m.half.status).toBe('error');
    expect(m.half.error).toMatch(/split model incomplete: part 2 of 2 missing/);
  });

  it('C1: hidden folders and node_modules are skipped; symlinked folders are followed without looping', async () => {
    const dir = modelsDir();
    const elsewhere = modelsDir();
    put(dir, { '.cache/hidden.gguf': 'A', 'node_modules/pkg/dep.gguf': 'A', 'real/m.gguf': 'A', '._gallery_x.yaml': 'name: x\n' });
    put(elsewhere, { 'linked.gguf': 'B' });
    fs.symlinkSync(elsewhere, path.join(dir, 'link'));
    fs.symlinkSync(dir, path.join(dir, 'real/loop')); // a cycle back to the root
    fs.symlinkSync(path.join(dir, 'real/m.gguf'), path.join(dir, 'alias.gguf')); // a symlinked file
    const names = (await catalog(dir).scan()).map((e) => e.name);
    expect(names).toEqual(['alias', 'linked', 'm']);
  });

  it('C1: bare GGUFs whose stems clash get distinct names, configs keep theirs', async () => {
    const dir = modelsDir();
    put(dir, {
      'a/model.gguf': 'A',
      'b/model.gguf': 'B',
      'chat.yaml': 'name: model\nbackend: remote-box\n',
    });
    const list = await catalog(dir).scan();
    expect(list.map((e) => [e.name, e.file && path.relative(dir, e.file)])).toEqual([
      ['model', null],
      ['model (a/model.gguf)', 'a/model.gguf'],
      ['model (b/model.gguf)', 'b/model.gguf'],
    ]);
    expect(list.every((e) => e.status === 'ok')).toBe(true);
  });
});

describe('model configs (C2)', () => {
  it('C2: the LocalAI keys map into ModelConfig; unknown keys are ignored', async () => {
    const dir = modelsDir();
    put(dir, {
      'm.gguf': 'A',
      'm.yaml': [
        'name: full',
        'backend: llama',
        'parameters:',
        '  model: m.gguf',
        '  temperature: 0.2',
        '  top_p: 0.9',
        '  top_k: 40',
        '  max_tokens: 128',
        '  seed: 7',
        'context_size: 4096',
        'threads: 1',
        'f16: true',
        'mmap: false',
        'gpu_layers: -1',
        'embeddings: yes   # YAML 1.1 words are booleans in LocalAI (Go yaml.v3) too',
        'stopwords: ["</s>", 42]',
        'concurrency_groups: [gpu, big]',
        'pinned: true',
        'ttl: 300',
        'options: ["parallel:4", "use_jinja:true"]',
        'grpc: {attempts: 5, attempts_sleep_time: 2}',
        'template:',
        '  chat: "{{.Input}}"',
        '  chat_message: "{{.RoleName}}: {{.Content}}"',
        '  use_tokenizer_template: false',
        '  join_chat_messages_by_character: ""',
        'roles: {user: "USER:", assistant: 7}',
        'system_prompt: Be brief.',
        'mirostat: 2',
        'prompt_cache_all: true',
        '',
      ].join('\n'),
    });
    const [e] = await catalog(dir).scan();
    expect(e.status).toBe('ok');
    expect(e.config).toEqual({
      name: 'full',
      backend: 'llama',
      parameters: { model: 'm.gguf', temperature: 0.2, top_p: 0.9, top_k: 40, max_tokens: 128, seed: 7 },
      context_size: 4096,
      threads: 1,
      f16: true,
      mmap: false,
      gpu_layers: -1,
      embeddings: true,
      stopwords: ['</s>', '42'],
      concurrency_groups: ['gpu', 'big'],
      pinned: true,
      disabled: false,
      ttl: 300,
      options: ['parallel:4', 'use_jinja:true'],
      template: {
        chat: '{{.Input}}',
        chat_message: '{{.RoleName}}: {{.Content}}',
        use_tokenizer_template: false,
        join_chat_messages_by_character: '',
      },
      roles: { user: 'USER:', assistant: '7' },
      system_prompt: 'Be brief.',
    });
    expect(parallelOf(e.config)).toBe(4);
  });

  it('C2: a LocalAI gallery config with unknown keys and a huggingface:// model loads unchanged and is not_downloaded with its URI', async () => {
    const dir = modelsDir();
    const uri = 'huggingface://bartowski/Llama-3.2-1B-Instruct-GGUF/Llama-3.2-1B-Instruct-Q4_K_M.gguf';
    const yaml = `# installed from the LocalAI gallery
name: llama-3.2-1b-instruct:q4_k_m
backend: llama-cpp
context_size: 8192
f16: true
mmap: true
known_usecases:
- chat
function:
  disable_no_action: true
  grammar:
    disable: true
  response_regex:
  - <function=(?P<name>\\w+)>(?P<arguments>.*)</function>
parameters:
  model: ${uri}
stopwords:
- <|im_end|>
- <dummy32000>
- <|eot_id|>
template:
  chat: |
    <|begin_of_text|>{{.Input }}
    <|start_header_id|>assistant<|end_header_id|>
  chat_message: |-
    <|start_header_id|>{{if eq .RoleName "assistant"}}assistant{{else if eq .RoleName "system"}}system{{else}}user{{end}}<|end_header_id|>

    {{ if .Content -}}
    {{.Content -}}
    {{ end -}}<|eot_id|>
  completion: |
    {{.Input}}
  function: |
    {{ toJson .Functions }}
download_files:
- filename: Llama-3.2-1B-Instruct-Q4_K_M.gguf
  sha256: 6f85a640a97cf2bf5b8e764087b1e83da0fdb51d7c9fab7d0fece9385611df83
  uri: ${uri}
`;
    put(dir, { 'llama-3.2-1b-instruct.yaml': yaml, 'other.gguf': 'A' });
    const c = catalog(dir);
    const m = byName(await c.scan());
    const e = m['llama-3.2-1b-instruct:q4_k_m'];
    expect(e.status).toBe('not_downloaded');
    expect(e.uri).toBe(uri);
    expect(e.error).toBe(`not downloaded yet: ${uri}`);
    expect(e.file).toBeNull();
    expect(e.config.parameters.model).toBe(uri);
    expect(e.config.template?.chat_message).toContain('{{if eq .RoleName "assistant"}}');
    expect(e.config.template?.function).toBe('{{ toJson .Functions }}\n');
    expect(e.config.stopwords).toEqual(['<|im_end|>', '<dummy32000>', '<|eot_id|>']);
    expect(m.other.status).toBe('ok');
    // The file itself is never rewritten by a scan.
    expect(fs.readFileSync(path.join(dir, 'llama-3.2-1b-instruct.yaml'), 'utf8')).toBe(yaml);

    // Once downloaded (LocalAI names the file after the URI's last segment), it is ok.
    put(dir, { 'Llama-3.2-1B-Instruct-Q4_K_M.gguf': 'B' });
    const after = byName(await c.scan());
    expect(after['llama-3.2-1b-instruct:q4_k_m']).toMatchObject({ status: 'ok', uri: null, error: null });
    expect(after['llama-3.2-1b-instruct:q4_k_m'].file).toBe(path.join(dir, 'Llama-3.2-1B-Instruct-Q4_K_M.gguf'));
    expect(after['Llama-3.2-1B-Instruct-Q4_K_M']).toBeUndefined(); // not listed twice
  });

  it('G41: a split model stays not_downloaded until every part in download_files is in the folder', async () => {
    const dir = modelsDir();
    const uri = 'huggingface://o/r/big-00001-of-00002.gguf';
    put(dir, {
      'big.yaml': `name: big\nparameters:\n  model: ${uri}\ndownload_files:\n- filename: big-00001-of-00002.gguf\n  uri: ${uri}\n- filename: big-00002-of-00002.gguf\n  uri: huggingface://o/r/big-00002-of-00002.gguf\n`,
      'big-00001-of-00002.gguf': 'A',
    });
    const c = catalog(dir);
    expect(byName(await c.scan()).big).toMatchObject({ status: 'not_downloaded', uri });
    put(dir, { 'big-00002-of-00002.gguf.part': 'B' }); // still downloading: a partial is not the part
    expect(byName(await c.scan()).big.status).toBe('not_downloaded');
    put(dir, { 'big-00002-of-00002.gguf': 'B' });
    expect(byName(await c.scan()).big).toMatchObject({ status: 'ok', file: path.join(dir, 'big-00001-of-00002.gguf') });
  });

  it('C2: disabled: true is status disabled; a remote-only config is ok with no file; a missing name uses the file stem', async () => {
    const dir = modelsDir();
    put(dir, {
      'm.gguf': 'A',
      'off.yaml': 'name: off\ndisabled: true\nparameters:\n  model: m.gguf\n',
      'remote.yaml': 'name: remote\nbackend: gpu-box\n',
      'nameless.yaml': 'parameters:\n  model: m.gguf\ncontext_size: 512\n',
    });
    const m = byName(await catalog(dir).scan());
    expect(Object.keys(m).sort()).toEqual(['nameless', 'off', 'remote']);
    expect(m.off.status).toBe('disabled');
    expect(m.remote).toMatchObject({ status: 'ok', file: null, uri: null, gguf: null });
    expect(m.nameless).toMatchObject({ status: 'ok', config: { name: 'nameless', context_size: 512 } });
  });

  it('C2: a template value naming a .tmpl file in the models folder uses that file (older LocalAI configs)', async () => {
    const dir = modelsDir();
    put(dir, {
      'm.gguf': 'A',
      'chatml.tmpl': '<|im_start|>{{.Input}}',
      'm.yaml': 'name: m\nparameters:\n  model: m.gguf\ntemplate:\n  chat: chatml\n  completion: "{{.Input}}"\n',
    });
    const c = catalog(dir);
    const [e] = await c.scan();
    expect(e.config.template).toEqual({ chat: '<|im_start|>{{.Input}}', completion: '{{.Input}}' });
    fs.writeFileSync(path.join(dir, 'chatml.tmpl'), '<|im_start|>user {{.Input}}');
    const [after] = await c.scan();
    expect(after.config.template?.chat).toBe('<|im_start|>user {{.Input}}');
    expect(after.loadKey).not.toBe(e.loadKey);
  });

  it('C2: parseOptions and parallelOf read key:value options (parallel defaults to 1, at least 1)', () => {
    expect(parseOptions(['parallel:4', 'use_jinja: true', 'flag', 'a:b:c', 'parallel:9'])).toEqual({
      parallel: '4',
      use_jinja: 'true',
      flag: 'true',
      a: 'b:c',
    });
    const cfg = (options: string[]) => ({ name: 'x', parameters: {}, stopwords: [], concurrency_groups: [], pinned: false, disabled: false, options });
    expect(parallelOf(cfg([]))).toBe(1);
    expect(parallelOf(cfg(['parallel:3']))).toBe(3);
    expect(parallelOf(cfg(['n_parallel:2']))).toBe(2);
    expect(parallelOf(cfg(['parallel:0']))).toBe(1);
    expect(parallelOf(cfg(['parallel:lots']))).toBe(1);
  });
});

describe('bad configs never stop the scan (C4)', () => {
  it('C4: a YAML syntax error lists that file under its stem with the file and line; the others work', async () => {
    const dir = modelsDir();
    put(dir, {
      'good.gguf': 'A',
      'broken.yaml': 'name: broken\nparameters:\n  model: [good.gguf\ncontext_size: 10\n',
      'listed.yaml': '- name: one\n- name: two\n',
      'empty.yaml': '',
    });
    const m = byName(await catalog(dir).scan());
    expect(m.good.status).toBe('ok');
    expect(m.broken.status).toBe('error');
    expect(m.broken.configPath).toBe(path.join(dir, 'broken.yaml'));
    expect(m.broken.error).toMatch(/^broken\.yaml is not valid YAML at line \d+, column \d+: /);
    expect(m.listed.error).toMatch(/listed\.yaml holds a list of 2 model configs; Loadout reads one model per file/);
    expect(m.empty.error).toMatch(/empty\.yaml is empty/);
  });

  it('C4: wrong types name the key, the expected type and the file; numeric strings are not numbers', async () => {
    const dir = modelsDir();
    put(dir, {
      'm.gguf': 'A',
      'ok.yaml': 'name: ok\nparameters:\n  model: m.gguf\n',
      'ctx.yaml': 'name: ctx\nparameters:\n  model: m.gguf\ncontext_size: "big"\n',
      'groups.yaml': 'name: groups\nparameters:\n  model: m.gguf\nconcurrency_groups: 5\n',
      'pin.yaml': 'name: pin\nparameters:\n  model: m.gguf\npinned: "yes please"\n',
      'quoted.yaml': 'name: quoted\nparameters:\n  model: m.gguf\nthreads: "4"\n',
      'frac.yaml': 'name: frac\nparameters:\n  model: m.gguf\n  top_k: 1.5\nttl: -5\noptions: ["parallel:many"]\n',
      'week.yaml': 'name: week\nparameters:\n  model: m.gguf\nttl: 3000000\n',
    });
    const m = byName(await catalog(dir).scan());
    expect(m.ok.status).toBe('ok');
    expect(m.ctx).toMatchObject({ status: 'error', error: 'ctx.yaml line 4: context_size must be a whole number, but it is the text "big".' });
    expect(m.groups.error).toBe('groups.yaml line 4: concurrency_groups must be a list of text items, but it is the number 5.');
    expect(m.pin.error).toBe('pin.yaml line 4: pinned must be true or false, but it is the text "yes please".');
    expect(m.quoted.error).toBe('quoted.yaml line 4: threads must be a whole number, but it is the text "4".');
    expect(m.frac.error).toContain('frac.yaml line 4: parameters.top_k must be a whole number, but it is the number 1.5.');
    expect(m.frac.error).toContain('frac.yaml line 5: ttl must be 0 or more, but it is -5.');
    expect(m.frac.error).toContain('frac.yaml line 6: the parallel option must be a whole number of at least 1');
    // Node's timers overflow past 24.8 days: a ttl is at most a week (Trust 14).
    expect(m.week.error).toBe('week.yaml line 4: ttl must be at most 604800 seconds (one week), but it is 3000000.');
  });

  it('C4: of two configs with one name the first by path works; the other is an error naming the first file', async () => {
    const dir = modelsDir();
    put(dir, {
      'm.gguf': 'A',
      'a.yaml': 'name: twin\nparameters:\n  model: m.gguf\n',
      'z/b.yaml': 'name: twin\nparameters:\n  model: m.gguf\ncontext_size: 99\n',
    });
    const list = await catalog(dir).scan();
    expect(list.map((e) => [e.name, e.status, e.configPath])).toEqual([
      ['twin', 'ok', path.join(dir, 'a.yaml')],
      ['twin (z/b.yaml)', 'error', path.join(dir, 'z/b.yaml')],
    ]);
    expect(list[1].error).toMatch(/^duplicate name twin: also defined in a\.yaml/);
  });


  it('C4 (Trust 16): a name the API could never load (spaces at its ends, a control character) is an error on that model', async () => {
    const dir = modelsDir();
    put(dir, { 'm.gguf': 'A', 'spaced.yaml': 'name: "twin "\nparameters:\n  model: m.gguf\n', 'nul.yaml': 'name: "a\\0b"\nparameters:\n  model: m.gguf\n', 'trailing .gguf': 'B' });
    const rows = byName(await catalog(dir).scan());
    expect(rows['twin '].status).toBe('error');
    expect(rows['twin '].error).toMatch(/spaced\.yaml.*the name must not start or end with spaces/);
    expect(rows['a\0b'].error).toMatch(/the name must not contain control characters/);
    expect(rows['trailing '].error).toMatch(/must not start or end with spaces: rename trailing \.gguf/);
  });

  it('C4: a new config never takes a name a model already has, even when its path sorts first; a restart goes by path', async () => {
    const dir = modelsDir();
    put(dir, { 'm.gguf': 'A', 'z/owner.yaml': 'name: twin\nparameters:\n  model: m.gguf\n' });
    const c = catalog(dir);
    const before = (await c.scan())[0];
    expect(before.name).toBe('twin');
    put(dir, { 'a-newcomer.yaml': 'name: twin\nparameters:\n  model: m.gguf\ncontext_size: 99\n' });
    const list = await c.scan();
    expect(list.map((e) => [e.name, e.status, path.relative(dir, e.configPath ?? '')])).toEqual([
      ['twin', 'ok', 'z/owner.yaml'],
      ['twin (a-newcomer.yaml)', 'error', 'a-newcomer.yaml'],
    ]);
    // The owner's row is the same object: no change is emitted for it, so nothing says "reload to apply".
    expect(c.get('twin')).toBe(before);
    expect(c.get('twin (a-newcomer.yaml)')?.error).toMatch(/^duplicate name twin: also defined in z\/owner\.yaml\. Rename/);

    // A bare GGUF that has a name keeps it too.
    put(dir, { 'solo.gguf': 'B' });
    await c.scan();
    put(dir, { 'b.yaml': 'name: solo\nbackend: remote-box\n' });
    const after = byName(await c.scan());
    expect(after.solo.configPath).toBeNull();
    expect(after['solo (b.yaml)'].error).toMatch(/^duplicate name solo: also the name of solo\.gguf/);

    // At a cold start nobody holds a name yet: the first by path keeps it, every time.
    const restarted = await catalog(dir).scan();
    expect(restarted.filter((e) => e.name === 'twin').map((e) => path.relative(dir, e.configPath ?? ''))).toEqual(['a-newcomer.yaml']);
  });
  it('C4: a missing model file is an error naming the path; a URI is not_downloaded instead', async () => {
    const dir = modelsDir();
    put(dir, {
      'ok.gguf': 'A',
      'gone.yaml': 'name: gone\nparameters:\n  model: nowhere.gguf\n',
      'url.yaml': 'name: url\nparameters:\n  model: https://example.com/models/x.gguf?download=true\n',
    });
    const m = byName(await catalog(dir).scan());
    expect(m.ok.status).toBe('ok');
    expect(m.gone).toMatchObject({ status: 'error', file: null });
    expect(m.gone.error).toMatch(new RegExp(`^model file not found: ${path.join(dir, 'nowhere.gguf').replace(/[.*+?^${}()|[\]\\]/g, '\\$&')}`));
    expect(m.url).toMatchObject({ status: 'not_downloaded', uri: 'https://example.com/models/x.gguf?download=true' });
  });

  it('C5: a truncated or corrupt GGUF is an error on that model only', async () => {
    const dir = modelsDir();
    put(dir, { 'good.gguf': 'A', 'named.yaml': 'name: named\nparameters:\n  model: trunc.gguf\n' });
    const bytes = fs.readFileSync(tinyA);
    fs.writeFileSync(path.join(dir, 'trunc.gguf'), bytes.subarray(0, 200));
    fs.writeFileSync(path.join(dir, 'junk.gguf'), Buffer.from('this is not a model at all'));
    const m = byName(await catalog(dir).scan());
    expect(m.good.status).toBe('ok');
    expect(m.named).toMatchObject({ status: 'error', file: path.join(dir, 'trunc.gguf'), gguf: null });
    expect(m.named.error).toMatch(/trunc\.gguf/);
    expect(m.junk.status).toBe('error');
    expect(m.junk.error).toMatch(/junk\.gguf is not a GGUF file/);
  });

  it('C5: metadata is cached: an unchanged rescan emits nothing and keeps the same objects; a rewritten GGUF is read again', async () => {
    const dir = modelsDir();
    put(dir, { 'm.gguf': 'A', 'n.gguf': 'A' });
    const c = catalog(dir);
    const first = await c.scan();
    const seen: CatalogChange[][] = [];
    c.onChange((ch) => seen.push(ch));
    const again = await c.scan();
    expect(seen).toEqual([]);
    expect(again[0]).toBe(first[0]);
    put(dir, { 'm.gguf': 'B' });
    const third = byName(await c.scan());
    expect(third.m.gguf?.name).toBe('Tiny B');
    expect(seen).toHaveLength(1);
    expect(seen[0].map((x) => (x.type === 'upsert' ? x.entry.name : x.name))).toEqual(['m']);
  });
});

describe('live catalog (C6)', () => {
  it('C6: adding, changing and removing files reaches listeners through the watcher', async () => {
    const dir = modelsDir();
    put(dir, { 'sub/keep.gguf': 'A' });
    const c = catalog(dir);
    await c.start();
    expect(c.list().map((e) => e.name)).toEqual(['keep']);

    let next = nextChange(c, upserted('added'));
    put(dir, { 'sub/added.gguf': 'B' });
    expect((await next).find((x) => x.type === 'upsert')).toMatchObject({ entry: { name: 'added', status: 'ok' } });

    // A new subfolder is watched too.
    next = nextChange(c, upserted('nested'));
    put(dir, { 'sub/new/deeper/nested.gguf': 'A' });
    await next;

    next = nextChange(c, upserted('cfg'));
    put(dir, { 'cfg.yaml': 'name: cfg\nparameters:\n  model: sub/keep.gguf\ncontext_size: 1024\n' });
    const added = await next;
    expect(added).toContainEqual({ type: 'remove', name: 'keep' }); // now named by the config
    next = nextChange(c, (cs) => cs.some((x) => x.type === 'upsert' && x.entry.config.context_size === 2048));
    put(dir, { 'cfg.yaml': 'name: cfg\nparameters:\n  model: sub/keep.gguf\ncontext_size: 2048\n' });
    await next;

    next = nextChange(c, (cs) => cs.some((x) => x.type === 'remove' && x.name === 'added'));
    fs.rmSync(path.join(dir, 'sub/added.gguf'));
    await next;
    expect(c.list().map((e) => e.name)).toEqual(['cfg', 'nested']);
  });

  it('C6: file events are debounced on the injected clock: a burst of writes is one rescan', async () => {
    const dir = modelsDir();
    const clock = new FakeClock();
    const c = catalog(dir, { clock, debounceMs: 150 });
    await c.start();
    const batches: CatalogChange[][] = [];
    c.onChange((ch) => batches.push(ch));
    // A second watcher on the same folder: once it has seen all three files, so has the catalog's.
    const seen = new Set<string>();
    const watched = new Promise<void>((resolve) => {
      const w = fs.watch(dir, (_e, f) => {
        if (f) seen.add(f);
        if (['a.gguf', 'b.gguf', 'c.yaml'].every((n) => seen.has(n))) {
          w.close();
          resolve();
        }
      });
    });
    put(dir, { 'a.gguf': 'A', 'b.gguf': 'B', 'c.yaml': 'name: c\nbackend: remote\n' });
    await watched;
    await new Promise((r) => setTimeout(r, 50)); // real time passes; fake time does not
    expect(batches).toEqual([]); // nothing until the quiet period passes on the injected clock
    let settled = false;
    const done = nextChange(c, () => true).finally(() => (settled = true));
    for (let i = 0; i < 100 && !settled; i++) {
      clock.advance(150);
      await new Promise((r) => setTimeout(r, 10));
    }
    const changes = await done;
    expect(changes.map((x) => (x.type === 'upsert' ? x.entry.name : x.name)).sort()).toEqual(['a', 'b', 'c']);
  });

  it('C6: a policy-only edit keeps loadKey; a load parameter edit changes it', async () => {
    const dir = modelsDir();
    put(dir, { 'm.gguf': 'A', 'm.yaml': 'name: m\nparameters:\n  model: m.gguf\ncontext_size: 1024\n' });
    const c = catalog(dir);
    const [base] = await c.scan();
    put(dir, {
      'm.yaml': 'name: m\nparameters:\n  model: m.gguf\n  temperature: 0.1\ncontext_size: 1024\npinned: true\nconcurrency_groups: [gpu]\nttl: 60\nstopwords: [x]\n',
    });
    const [policy] = await c.scan();
    expect(policy.config.pinned).toBe(true);
    expect(policy.loadKey).toBe(base.loadKey);
    put(dir, { 'm.yaml': 'name: m\nparameters:\n  model: m.gguf\ncontext_size: 2048\n' });
    const [ctx] = await c.scan();
    expect(ctx.loadKey).not.toBe(base.loadKey);
    put(dir, { 'm.yaml': 'name: m\nparameters:\n  model: m.gguf\ncontext_size: 1024\noptions: [parallel:2]\n' });
    expect((await c.scan())[0].loadKey).not.toBe(base.loadKey);
    put(dir, { 'm.yaml': 'name: m\nparameters:\n  model: m.gguf\ncontext_size: 1024\n', 'm.gguf': 'B' });
    expect((await c.scan())[0].loadKey).not.toBe(base.loadKey); // the file changed
  });

  it('C6: updateConfig keeps comments, key order, unknown keys and formatting; emits before resolving', async () => {
    const dir = modelsDir();
    const original = [
      '# My favourite model',
      'name: fav   # shown in the UI',
      'parameters:',
      '  model: m.gguf',
      '  temperature: 0.7',
      'context_size: 1024 # small on purpose',
      'roles: {user: "USER:", assistant: "ASSISTANT:"}',
      'options:',
      '  - use_jinja:true',
      '  - parallel:2   # two slots',
      '  - cache_type_k:q8_0',
      'known_usecases:',
      '- chat',
      'template:',
      '  chat: |',
      '    {{.Input}}',
      '',
    ].join('\n');
    put(dir, { 'm.gguf': 'A', 'fav.yaml': original });
    const c = catalog(dir);
    await c.scan();
    const before = c.get('fav') as CatalogEntry;
    const emitted: CatalogChange[][] = [];
    c.onChange((ch) => emitted.push(ch));

    const pinned = await c.updateConfig('fav', { pinned: true, concurrency_groups: ['gpu'], ttl: 600 });
    expect(emitted).toHaveLength(1);
    expect(pinned).toMatchObject({ config: { pinned: true, concurrency_groups: ['gpu'], ttl: 600 } });
    expect(pinned.loadKey).toBe(before.loadKey);
    expect(fs.readFileSync(path.join(dir, 'fav.yaml'), 'utf8')).toBe(
      `${original}pinned: true\nconcurrency_groups:\n  - gpu\nttl: 600\n`,
    );

    const edited = await c.updateConfig('fav', { parallel: 4, context_size: 4096 });
    expect(parallelOf(edited.config)).toBe(4);
    expect(edited.config.options).toEqual(['use_jinja:true', 'parallel:4', 'cache_type_k:q8_0']);
    expect(edited.loadKey).not.toBe(before.loadKey);
    expect(fs.readFileSync(path.join(dir, 'fav.yaml'), 'utf8')).toBe(
      original
        .replace('context_size: 1024 #', 'context_size: 4096 #')
        .replace('parallel:2   #', 'parallel:4   #') + 'pinned: true\nconcurrency_groups:\n  - gpu\nttl: 600\n',
    );

    const reset = await c.updateConfig('fav', { parallel: null, ttl: null, context_size: null, pinned: false, concurrency_groups: [] });
    expect(reset.config).toMatchObject({ options: ['use_jinja:true', 'cache_type_k:q8_0'], pinned: false, concurrency_groups: [] });
    expect(reset.config.ttl).toBeUndefined();
    expect(fs.readFileSync(path.join(dir, 'fav.yaml'), 'utf8')).toBe(
      original.replace('context_size: 1024 # small on purpose\n', '').replace('  - parallel:2   # two slots\n', '') + 'pinned: false\n',
    );
  });

  it('C6: updateConfig on a bare GGUF writes a YAML next to it, and the GGUF is not listed twice', async () => {
    const dir = modelsDir();
    put(dir, { 'sub/solo.gguf': 'A', 'sub/solo.yaml': 'name: unrelated\nbackend: remote\n' });
    const c = catalog(dir);
    await c.scan();
    const before = c.get('solo') as CatalogEntry;
    expect(before.configPath).toBeNull();
    const after = await c.updateConfig('solo', { pinned: true, parallel: 2 });
    const created = path.join(dir, 'sub/solo-2.yaml'); // solo.yaml is taken by another model
    expect(after).toMatchObject({ name: 'solo', status: 'ok', configPath: created, file: path.join(dir, 'sub/solo.gguf') });
    expect(after.config).toMatchObject({ pinned: true, options: ['parallel:2'], parameters: { model: 'sub/solo.gguf' } });
    expect(after.loadKey).not.toBe(before.loadKey); // parallel is a load parameter
    const text = fs.readFileSync(created, 'utf8');
    expect(text).toContain('name: solo\n');
    expect(text).toContain('  model: sub/solo.gguf\n');
    expect(c.list().map((e) => e.name)).toEqual(['solo', 'unrelated']);
    // A policy-only edit of a bare GGUF does not ask for a reload.
    put(dir, { 'other.gguf': 'B' });
    const other = (await c.scan()).find((e) => e.name === 'other') as CatalogEntry;
    expect((await c.updateConfig('other', { pinned: true })).loadKey).toBe(other.loadKey);
    expect(fs.existsSync(path.join(dir, 'other.yaml'))).toBe(true);
  });

  it('C6: updateConfig rejects bad patches, unknown models and files with YAML syntax errors', async () => {
    const dir = modelsDir();
    put(dir, { 'm.gguf': 'A', 'broken.yaml': 'name: [\n' });
    const c = catalog(dir);
    await c.scan();
    const fails = async (name: string, patch: unknown, code: string, message: RegExp) => {
      const err = await c.updateConfig(name, patch as never).then(
        () => null,
        (e: unknown) => e,
      );
      expect(isLoadoutError(err)).toBe(true);
      expect(err).toMatchObject({ code });
      expect((err as Error).message).toMatch(message);
    };
    await fails('m', { pinned: 'yes' }, 'invalid', /pinned must be true or false/);
    await fails('m', { context_size: 0 }, 'invalid', /context_size must be a whole number of tokens from 1/);
    await fails('m', { parallel: 2.5 }, 'invalid', /parallel must be/);
    await fails('m', { ttl: -1 }, 'invalid', /ttl must be/);
    await fails('m', { concurrency_groups: 'gpu' }, 'invalid', /concurrency_groups must be a list/);
    await fails('m', { concurrency_groups: ['  '] }, 'invalid', /Group names/);
    await fails('m', { threads: 2 }, 'invalid', /Cannot edit threads/);
    await fails('nope', { pinned: true }, 'not_found', /no model named "nope"/);
    await fails('broken', { pinned: true }, 'invalid', /broken cannot be edited here until its file is fixed: broken\.yaml is not valid YAML/);
    expect(fs.readdirSync(dir).sort()).toEqual(['broken.yaml', 'm.gguf']); // nothing written
  });

  it('C6: setModelsDir rescans from scratch: the old models are removed, the new ones added', async () => {
    const one = modelsDir();
    const two = modelsDir();
    put(one, { 'old.gguf': 'A' });
    put(two, { 'new.gguf': 'B', 'sub/also.gguf': 'A' });
    const c = catalog(one);
    await c.start();
    const changes = nextChange(c, () => true);
    await c.setModelsDir(two);
    const got = await changes;
    expect(got.filter((x) => x.type === 'remove')).toEqual([{ type: 'remove', name: 'old' }]);
    expect(got.filter((x) => x.type === 'upsert').map((x) => (x.type === 'upsert' ? x.entry.name : ''))).toEqual(['also', 'new']);
    expect(c.modelsDir).toBe(two);
    // The new folder is watched, the old one no longer.
    const next = nextChange(c, upserted('late'));
    put(one, { 'ignored.gguf': 'A' });
    put(two, { 'late.gguf': 'A' });
    await next;
    expect(c.get('ignored')).toBeUndefined();
  });
});

describe('hostile files cost little and break nothing else (Trust 12)', () => {
  /** Scans `dir` once, timed: every hostile file must be refused quickly. */
  async function timedScan(dir: string): Promise<Record<string, CatalogEntry>> {
    const t0 = performance.now();
    const list = await catalog(dir).scan();
    expect(performance.now() - t0).toBeLessThan(3000);
    return byName(list);
  }

  it('Trust 12: YAML alias bombs and configs nested thousands deep are error rows, refused before they expand', async () => {
    const dir = modelsDir();
    let laughs = 'l0: &l0 ["lol","lol","lol","lol","lol","lol","lol","lol","lol"]\n';
    for (let i = 1; i < 30; i++) laughs += `l${i}: &l${i} [${Array(9).fill(`*l${i - 1}`).join(',')}]\n`;
    put(dir, {
      'm.gguf': 'A',
      'good.yaml': 'name: good\nparameters:\n  model: m.gguf\n',
      'laughs.yaml': `name: laughs\nparameters:\n  model: m.gguf\n${laughs}`,
      // Deep block nesting once made the yaml parser's stack overflow abort the whole process.
      'deep.yaml': Array.from({ length: 1200 }, (_, i) => `${' '.repeat(i)}- `).join('\n'),
      'brackets.yaml': `name: brackets\nx: ${'['.repeat(100_000)}\n`,
      // Aliases within reason are still fine YAML.
      'anchors.yaml': 'name: anchors\nparameters:\n  model: m.gguf\nbase: &b [1, 2]\nagain: *b\n',
    });
    const rows = await timedScan(dir);
    expect(rows.good.status).toBe('ok');
    expect(rows.anchors.status).toBe('ok');
    expect(rows.laughs.error).toMatch(/laughs\.yaml is refused: its aliases \(\*name\) expand to more than 100 copies/);
    expect(rows.deep.error).toMatch(/deep\.yaml is refused: line \d+ is indented more than 256 columns/);
    expect(rows.brackets.error).toMatch(/brackets\.yaml is refused: line 2 nests brackets more than 100 deep/);
    // Refused files cannot be edited from the GUI either.
    await expect(catalogs[0].updateConfig('laughs', { pinned: true })).rejects.toMatchObject({ code: 'invalid' });
  });

  it('Trust 12: a config over 1 MB is an error row naming its size, and is never read', async () => {
    const dir = modelsDir();
    put(dir, { 'm.gguf': 'A', 'small.yaml': 'name: small\nparameters:\n  model: m.gguf\n' });
    const huge = path.join(dir, 'huge.yaml');
    fs.writeFileSync(huge, 'name: huge\n');
    fs.truncateSync(huge, 50 * 1024 * 1024); // sparse: 50 MB to read, nothing on disk
    fs.chmodSync(huge, 0o200); // write-only: any read would fail with a different message
    const rows = await timedScan(dir);
    expect(rows.small.status).toBe('ok');
    expect(rows.huge.status).toBe('error');
    expect(rows.huge.error).toBe('huge.yaml is 50.0 MB, more than the 1.0 MB a model config may be, so it was not read. Trim it, or move it out of the models folder.');

    // A template file named by a config is bounded the same way.
    put(dir, { 'templated.yaml': 'name: templated\nparameters:\n  model: m.gguf\ntemplate:\n  chat: big\n' });
    fs.writeFileSync(path.join(dir, 'big.tmpl'), '{{.Input}}');
    fs.truncateSync(path.join(dir, 'big.tmpl'), 5 * 1024 * 1024);
    const again = await timedScan(dir);
    expect(again.templated.error).toMatch(/template\.chat names big\.tmpl, which is over 1 MB and was not read/);
  });

  it('Trust 12: a GGUF whose header claims billions of entries is an error on that model only, found at once', async () => {
    const dir = modelsDir();
    put(dir, { 'fine.gguf': 'A' });
    const b = Buffer.alloc(24);
    b.write('GGUF', 0, 'latin1');
    b.writeUInt32LE(3, 4);
    b.writeBigUInt64LE(2n ** 31n, 8);
    const p = path.join(dir, 'absurd.gguf');
    fs.writeFileSync(p, b);
    fs.truncateSync(p, 100 * 2 ** 30); // a sparse 100 GB "model"
    const rows = await timedScan(dir);
    expect(rows.fine.status).toBe('ok');
    expect(rows.absurd.error).toMatch(/absurd\.gguf is corrupt: the tensor count at byte 8 claims 2147483648 entries/);
  });

  it('Trust 12: a 15 MB chat template in a GGUF stays in the file: the row carries its size only', async () => {
    const dir = modelsDir();
    const template = `{# ${'x'.repeat(15 * 1024 * 1024)} #}{{ messages }}`;
    await makeModel(path.join(dir, 'wordy.gguf'), { preset: 'tiny', seed: 1, chatTemplate: template });
    const rows = await timedScan(dir);
    expect(rows.wordy.gguf?.chatTemplateBytes).toBe(Buffer.byteLength(template));
    expect(JSON.stringify(rows.wordy).length).toBeLessThan(2000);
  });
});

describe('symlinks and big trees: the scan is bounded and says so (Trust 13)', () => {
  it('Trust 13: a link to a big folder tree is followed up to the folder bound; the own models are found first, the log says what was left out, once', async () => {
    const dir = modelsDir();
    const big = modelsDir(); // elsewhere, as another disk's folder would be
    put(dir, { 'own.gguf': 'A', 'sub/nested.gguf': 'B' });
    put(big, { 'linked-model.gguf': 'A' });
    for (let a = 0; a < 8; a++) for (let b = 0; b < 10; b++) fs.mkdirSync(path.join(big, `d${a}`, `e${b}`), { recursive: true });
    fs.symlinkSync(big, path.join(dir, 'aaa-everything')); // sorts before the user's own folders
    fs.symlinkSync(dir, path.join(dir, 'sub', 'loop')); // and a loop back to the root
    const logs: string[] = [];
    // The bound scaled down (1,000 by default) so that the tree is quick to make.
    const limits = { ...WALK_LIMITS, maxFolders: 50 };
    const c = new Catalog({ modelsDir: dir, logger: (m) => logs.push(m), walkLimits: limits });
    catalogs.push(c);
    await c.start();
    // Breadth first: the folder's own models and the linked folder's top level are in.
    expect(c.list().map((e) => e.name)).toEqual(['linked-model', 'nested', 'own']);
    expect(c.scanLimits).toEqual([expect.stringMatching(/^stopped at 50 folders \(each one is watched\): \d+ more, from .* on, were not scanned$/)]);
    await c.scan();
    const said = logs.filter((l) => l.includes('stopped at 50 folders'));
    expect(said).toHaveLength(1);
    expect(said[0]).toMatch(/Is a link pointing at a big folder tree\?/);
    // What is watched is what was walked: never more than the bound.
    const watched = (c as unknown as { watcher: { watchers: Map<string, unknown> } }).watcher.watchers;
    expect(watched.size).toBe(limits.maxFolders);
  });

  it('Trust 13: links to files and folders elsewhere are followed; depth and entry counts are bounded and reported', async () => {
    const dir = modelsDir();
    const other = modelsDir();
    put(other, { 'far/away.gguf': 'A' });
    fs.symlinkSync(path.join(other, 'far', 'away.gguf'), path.join(dir, 'file-link.gguf'));
    fs.symlinkSync(path.join(other, 'far'), path.join(dir, 'folder-link'));
    fs.symlinkSync(path.join(other, 'far'), path.join(dir, 'same-folder-again'));
    const deep = Array.from({ length: 18 }, (_, i) => `l${i}`).join('/');
    put(dir, { [`${deep}/too-deep.gguf`]: 'B', 'l0/l1/shallow.gguf': 'B' });
    const names = (await catalog(dir).scan()).map((e) => e.name);
    // One folder reached by two links is walked once; its model keeps the first path's name.
    expect(names).toEqual(['away', 'file-link', 'shallow']);

    const walk = await walkModelsDir(dir, (n) => n.endsWith('.gguf'), { ...WALK_LIMITS, maxEntries: 5 });
    expect(walk.limits.some((l) => /^stopped after 5 entries/.test(l))).toBe(true);
    const full = await walkModelsDir(dir, (n) => n.endsWith('.gguf'));
    expect(full.limits).toEqual([expect.stringMatching(/^folders more than 16 levels deep were not scanned \(the first: .*l16\)$/)]);
  });
});
