import { describe, expect, it } from 'vitest';
import { isProblemLine } from './problemLine';

describe('isProblemLine', () => {
  it('leaves routine backend output alone', () => {
    for (const line of [
      '[llama] load model 167 ms (/tmp/models/demo.gguf)',
      "[llama] chat template 15 ms (the GGUF's: JinjaTemplate)",
      'ggml_init: warning: 1 thread only (fake device fault0)',
      'llama_model_loader: loaded meta data with 24 key-value pairs',
    ]) {
      expect(isProblemLine(line), line).toBe(false);
    }
  });

  it('marks lines that report trouble', () => {
    for (const line of [
      'error: failed to load model',
      'GGML_ASSERT(n_dims <= 4) failed',
      'fatal: out of memory',
      'llama_model_load: error loading model: tensor data is not within file bounds',
      'Aborted (core dumped)',
      'cannot open /models/x.gguf',
    ]) {
      expect(isProblemLine(line), line).toBe(true);
    }
  });
});
