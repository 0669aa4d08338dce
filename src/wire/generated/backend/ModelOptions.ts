// Original file: proto/backend.proto


export interface ModelOptions {
  'Model'?: (string);
  'ContextSize'?: (number);
  'Seed'?: (number);
  'NBatch'?: (number);
  'F16Memory'?: (boolean);
  'MLock'?: (boolean);
  'MMap'?: (boolean);
  'Embeddings'?: (boolean);
  'NUMA'?: (boolean);
  'NGPULayers'?: (number);
  'MainGPU'?: (string);
  'TensorSplit'?: (string);
  'Threads'?: (number);
  'RopeFreqBase'?: (number | string);
  'RopeFreqScale'?: (number | string);
  'ModelFile'?: (string);
  'LoraAdapter'?: (string);
  'DraftModel'?: (string);
  'MMProj'?: (string);
  'Type'?: (string);
  'FlashAttention'?: (string);
  'NoKVOffload'?: (boolean);
  'ModelPath'?: (string);
  'Options'?: (string)[];
  'CacheTypeKey'?: (string);
  'CacheTypeValue'?: (string);
}

export interface ModelOptions__Output {
  'Model': (string);
  'ContextSize': (number);
  'Seed': (number);
  'NBatch': (number);
  'F16Memory': (boolean);
  'MLock': (boolean);
  'MMap': (boolean);
  'Embeddings': (boolean);
  'NUMA': (boolean);
  'NGPULayers': (number);
  'MainGPU': (string);
  'TensorSplit': (string);
  'Threads': (number);
  'RopeFreqBase': (number);
  'RopeFreqScale': (number);
  'ModelFile': (string);
  'LoraAdapter': (string);
  'DraftModel': (string);
  'MMProj': (string);
  'Type': (string);
  'FlashAttention': (string);
  'NoKVOffload': (boolean);
  'ModelPath': (string);
  'Options': (string)[];
  'CacheTypeKey': (string);
  'CacheTypeValue': (string);
}
