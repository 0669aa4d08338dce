// Original file: proto/backend.proto


export interface TokenizationResponse {
  'length'?: (number);
  'tokens'?: (number)[];
}

export interface TokenizationResponse__Output {
  'length': (number);
  'tokens': (number)[];
}
