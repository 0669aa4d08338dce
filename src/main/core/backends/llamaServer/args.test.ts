import { describe, expect, it } from 'vitest';
import { LlamaLogErrors } from './args';
import { whyItExited } from './host';

describe('llama-server\'s log: why a start failed (Engine 1)', () => {
  const failedLoad = [
    '0.00.006.600 I llama_model_loader: loading model from /m/bad.gguf',
    "0.00.006.695 E gguf_init_from_reader: invalid magic characters: '?:??', expected 'GGUF'",
    '0.00.006.917 E llama_model_load: error loading model: llama_model_loader: failed to load model from /m/bad.gguf',
    '0.00.011.096 I srv    operator(): operator(): cleaning up before exit...',
    '0.00.012.083 E srv  llama_server: exiting due to model loading error',
    '',
  ].join('\n');

  it('takes the first error line, without time and level, however the output is chunked', () => {
    for (const size of [1, 7, 64, failedLoad.length]) {
      const errors = new LlamaLogErrors();
      for (let i = 0; i < failedLoad.length; i += size) errors.push(failedLoad.slice(i, i + size));
      expect(errors.first()).toBe("gguf_init_from_reader: invalid magic characters: '?:??', expected 'GGUF'");
    }
  });

  it('reads older builds\' lines (no level) and finds nothing in a clean log', () => {
    const old = new LlamaLogErrors();
    old.push('llama_model_loader: loaded meta data\nllama_model_load: error loading model: unknown model architecture: \'x\'\n');
    expect(old.first()).toBe("llama_model_load: error loading model: unknown model architecture: 'x'");
    const clean = new LlamaLogErrors();
    clean.push('0.00.001.000 I main: server is listening on http://127.0.0.1:8080\n');
    expect(clean.first()).toBeNull();
  });

  it('says the cause first and keeps a different last line', () => {
    expect(whyItExited('0.00.012.083 E srv  llama_server: exiting due to model loading error', 'invalid magic')).toBe(
      'invalid magic (last line: 0.00.012.083 E srv  llama_server: exiting due to model loading error)',
    );
    expect(whyItExited('0.1 E boom', 'boom')).toBe('boom');
    expect(whyItExited('last', null)).toBe('last');
    expect(whyItExited(null, null)).toBeNull();
  });
});
