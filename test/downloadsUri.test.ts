import { describe, expect, it } from 'vitest';
import { parseModelUri, targetPath, targetProblem, uriTarget } from '../src/main/core/downloads/uri';

const opts = { hfEndpoint: 'http://127.0.0.1:9999', ollamaRegistry: 'http://127.0.0.1:9998', modelsDir: '/models' };

describe('model URIs (downloads-spec section 2)', () => {
  it.each([
    ['huggingface://o/r/m-Q4_K_M.gguf', 'http://127.0.0.1:9999/o/r/resolve/main/m-Q4_K_M.gguf', 'm-Q4_K_M.gguf'],
    ['hf://o/r/sub/dir/m.gguf', 'http://127.0.0.1:9999/o/r/resolve/main/sub/dir/m.gguf', 'm.gguf'],
    ['hf.co/o/r/m.gguf', 'http://127.0.0.1:9999/o/r/resolve/main/m.gguf', 'm.gguf'],
    ['huggingface.co/o/r/blob/v2/m.gguf', 'http://127.0.0.1:9999/o/r/resolve/v2/m.gguf', 'm.gguf'],
    ['https://huggingface.co/o/r/blob/main/m%20x.gguf?download=true', 'http://127.0.0.1:9999/o/r/resolve/main/m%20x.gguf', 'm x.gguf'],
    ['https://hf.co/o/r/resolve/dev/m.gguf', 'http://127.0.0.1:9999/o/r/resolve/dev/m.gguf', 'm.gguf'],
    ['https://example.com/files/m.gguf?sig=1', 'https://example.com/files/m.gguf?sig=1', 'm.gguf'],
    ['http://127.0.0.1:8000/m.gguf', 'http://127.0.0.1:8000/m.gguf', 'm.gguf'],
    ['github:o/r/models/m.gguf', 'https://raw.githubusercontent.com/o/r/main/models/m.gguf', 'm.gguf'],
    ['github://o/r/m.gguf@v1', 'https://raw.githubusercontent.com/o/r/v1/m.gguf', 'm.gguf'],
    ['ollama://llama3.2:1b', 'http://127.0.0.1:9998/v2/library/llama3.2/manifests/1b', 'llama3.2-1b.gguf'],
    ['ollama://me/tiny', 'http://127.0.0.1:9998/v2/me/tiny/manifests/latest', 'tiny-latest.gguf'],
  ])('G1: %s maps to its URL and target', (uri, url, target) => {
    const parsed = parseModelUri(uri, opts);
    expect(parsed.target).toBe(target);
    expect('url' in parsed && parsed.url).toBe(url);
  });

  it('G1: file:// only inside the models folder', () => {
    expect(parseModelUri('file:///models/a/m.gguf', opts)).toMatchObject({ kind: 'file', path: '/models/a/m.gguf', target: 'm.gguf' });
    expect(() => parseModelUri('file:///etc/m.gguf', opts)).toThrow(/outside the models folder/);
    expect(() => parseModelUri('file:///models/../etc/m.gguf', opts)).toThrow(/outside the models folder/);
  });

  it.each(['oci://registry/model', 'ftp://x/m.gguf', 's3://b/m.gguf', 'just-a-name', 'hf://o/r'])('G1: %s is refused as invalid, listing the schemes', (uri) => {
    let error: unknown;
    try {
      parseModelUri(uri, opts);
    } catch (e) {
      error = e;
    }
    expect(error).toMatchObject({ code: 'invalid' });
    if (!uri.startsWith('hf://')) expect((error as Error).message).toMatch(/huggingface:\/\/.*github:.*ollama:\/\//);
  });

  it('G2: @revision after the repo or after the file; the catalog gets the same target', () => {
    for (const uri of ['huggingface://o/r@v1.0/m.gguf', 'huggingface://o/r/m.gguf@v1.0']) {
      expect(parseModelUri(uri, opts)).toMatchObject({ repo: 'o/r', revision: 'v1.0', file: 'm.gguf', target: 'm.gguf' });
      expect(uriTarget(uri)).toBe('m.gguf');
    }
    expect(uriTarget('ftp://x/m.gguf')).toBeNull();
    expect(uriTarget('hf://o/r/..%2F..%2Fetc%2Fpasswd.gguf')).toBeNull();
  });

  it.each([
    ['hf://o/r/%2E%2E', /\. or \.\./],
    ['https://x.org/a%2F..%2Fb.gguf', /folder/],
    ['https://x.org/a%5Cb.gguf', /backslash/],
    ['https://x.org/a%00.gguf', /NUL/],
    ['https://x.org/C%3Am.gguf', /drive letter/],
    ['hf://o/r/CON.gguf', /reserved/],
    ['hf://o/r/' + 'a'.repeat(252) + '.gguf', /255 bytes/],
    ['hf://o/r/.hidden.gguf', /hidden/],
    ['hf://o/r/model.yaml', /config/],
    ['hf://o/r/model.yml', /config/],
    ['hf://o/r/README.md', /must end in \.gguf/],
  ])('G3: %s is refused with the reason', (uri, reason) => {
    expect(() => parseModelUri(uri, opts)).toThrow(reason);
  });

  it('G3: a backend model extension may be allowed; targets stay inside the folder', () => {
    expect(parseModelUri('hf://o/r/m.bin', { ...opts, extensions: ['.gguf', '.bin'] }).target).toBe('m.bin');
    expect(targetPath('/models', 'm.gguf')).toBe('/models/m.gguf');
    expect(() => targetPath('/models', '../m.gguf')).toThrow(/folder/);
    expect(() => targetPath('/models', '/abs/m.gguf')).toThrow(/folder/);
    expect(targetProblem('ok.gguf')).toBeNull();
  });
});
