import { describe, expect, it } from 'vitest';
import { parse } from 'yaml';
import { editConfigText, newConfigText, type ConfigPatch } from './editConfig';

// [what, original text, patch, expected text]: each edit touches only what it must (C6).
const cases: Array<[string, string, ConfigPatch, string]> = [
  ['replaces a scalar in place, keeping its comment', 'name: a\ncontext_size: 512   # small\n', { context_size: 4096 }, 'name: a\ncontext_size: 4096   # small\n'],
  ['fills an empty value', 'name: a\nttl:\nb: 1\n', { ttl: 30 }, 'name: a\nttl: 30\nb: 1\n'],
  ['appends a missing key at the end', 'name: a\n# trailing comment\n', { pinned: true }, 'name: a\n# trailing comment\npinned: true\n'],
  ['adds a newline before appending to a file without one', 'name: a', { ttl: 5 }, 'name: a\nttl: 5\n'],
  ['does not write a default that is absent', 'name: a\n', { pinned: false, disabled: false, concurrency_groups: [], ttl: null }, 'name: a\n'],
  ['removes a key with its line', 'name: a\nttl: 60 # one minute\nz: 1\n', { ttl: null }, 'name: a\nz: 1\n'],
  ['rewrites list items under the key, keeping the key line', 'concurrency_groups: # mine\n    - a\n    - b\nz: 1\n', { concurrency_groups: ['gpu', 'true'] }, 'concurrency_groups: # mine\n    - gpu\n    - "true"\nz: 1\n'],
  ['replaces a wrongly typed value', 'name: a\nconcurrency_groups: 5 # bad\n', { concurrency_groups: ['g'] }, 'name: a\nconcurrency_groups: [g] # bad\n'],
  ['follows the file\'s list indentation when adding a list', 'known_usecases:\n- chat\n', { concurrency_groups: ['g'] }, 'known_usecases:\n- chat\nconcurrency_groups:\n- g\n'],
  ['replaces parallel in a block list, keeping other options', 'options:\n  - a:b\n  - parallel:2 # slots\n', { parallel: 8 }, 'options:\n  - a:b\n  - parallel:8 # slots\n'],
  ['replaces n_parallel and drops a second parallel item', 'options:\n- n_parallel:2\n- x\n- parallel:3\n', { parallel: 4 }, 'options:\n- parallel:4\n- x\n'],
  ['adds parallel after the last option', 'options:\n  - use_jinja:true\nname: a\n', { parallel: 2 }, 'options:\n  - use_jinja:true\n  - parallel:2\nname: a\n'],
  ['adds parallel to a flow list', 'options: [use_jinja:true]\n', { parallel: 2 }, 'options: [use_jinja:true, parallel:2]\n'],
  ['removes the options key when parallel was its only item', 'name: a\noptions:\n  - parallel:2\n', { parallel: null }, 'name: a\n'],
  ['D35: appends a cluster block', 'name: a\n', { cluster: { min_replicas: 1, max_replicas: 2, node_selector: { gpu: 'cuda', 'example.com/zone': '1' } } }, 'name: a\ncluster:\n  min_replicas: 1\n  max_replicas: 2\n  node_selector:\n    gpu: cuda\n    example.com/zone: "1"\n'],
  ['D35: replaces a cluster block whole, keeping the lines around it', 'name: a\ncluster: # replicas\n  min_replicas: 3\n  node_selector: {gpu: cuda}\nttl: 5\n', { cluster: { max_replicas: 4 } }, 'name: a\ncluster:\n  max_replicas: 4\nttl: 5\n'],
  ['D35: an empty cluster block removes the key', 'name: a\ncluster:\n  min_replicas: 1\nttl: 5\n', { cluster: { min_replicas: null, max_replicas: null, node_selector: null } }, 'name: a\nttl: 5\n'],
  ['D35: a null cluster removes the key; an absent one stays absent', 'name: a\ncluster: {min_replicas: 1}\n', { cluster: null }, 'name: a\n'],
  ['D35: replaces a flow cluster block at the end of a file without a newline', 'name: a\ncluster: {min_replicas: 1}', { cluster: { min_replicas: 2 } }, 'name: a\ncluster:\n  min_replicas: 2'],
  ['keeps CRLF line endings', 'name: a\r\nttl: 1\r\n', { ttl: 2, pinned: true }, 'name: a\r\nttl: 2\r\npinned: true\r\n'],
];

describe('editConfigText (C6)', () => {
  it.each(cases)('C6: %s', (_what, original, patch, expected) => {
    expect(editConfigText(original, patch)).toBe(expected);
  });

  it('C6: a layout the splice does not handle falls back to the Document API with the same meaning and comments', () => {
    const flowRoot = editConfigText('# top\n{name: a, ttl: 1}\n', { pinned: true, ttl: 2 });
    expect(parse(flowRoot)).toEqual({ name: 'a', ttl: 2, pinned: true });
    expect(flowRoot).toContain('# top');
    const flowShrink = editConfigText('options: [parallel:1, use_jinja:true] # opts\n', { parallel: null });
    expect(parse(flowShrink)).toEqual({ options: ['use_jinja:true'] });
  });

  it('C6: a new config for a bare GGUF names the model and its file relative to the models dir', () => {
    const text = newConfigText('tiny', 'sub/tiny.gguf', 'sub/tiny.gguf', { pinned: true, parallel: 2 });
    expect(parse(text)).toEqual({ name: 'tiny', backend: 'llama-cpp', parameters: { model: 'sub/tiny.gguf' }, pinned: true, options: ['parallel:2'] });
    expect(text.startsWith('# Model config written by Loadout for sub/tiny.gguf')).toBe(true);
  });
});
