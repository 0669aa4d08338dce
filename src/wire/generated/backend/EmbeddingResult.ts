// Original file: proto/backend.proto


export interface EmbeddingResult {
  'embeddings'?: (number | string)[];
  'tokens'?: (number);
  'dim'?: (number);
  'prompt_tokens'?: (number);
}

export interface EmbeddingResult__Output {
  'embeddings': (number)[];
  'tokens': (number);
  'dim': (number);
  'prompt_tokens': (number);
}
