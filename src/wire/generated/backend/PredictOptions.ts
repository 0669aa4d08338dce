// Original file: proto/backend.proto

import type { Message as _backend_Message, Message__Output as _backend_Message__Output } from '../backend/Message';

export interface PredictOptions {
  'Prompt'?: (string);
  'Seed'?: (number);
  'Threads'?: (number);
  'Tokens'?: (number);
  'TopK'?: (number);
  'Repeat'?: (number);
  'Batch'?: (number);
  'NKeep'?: (number);
  'Temperature'?: (number | string);
  'Penalty'?: (number | string);
  'StopPrompts'?: (string)[];
  'IgnoreEOS'?: (boolean);
  'TailFreeSamplingZ'?: (number | string);
  'TypicalP'?: (number | string);
  'FrequencyPenalty'?: (number | string);
  'PresencePenalty'?: (number | string);
  'Mirostat'?: (number);
  'MirostatETA'?: (number | string);
  'MirostatTAU'?: (number | string);
  'LogitBias'?: (string);
  'Grammar'?: (string);
  'TopP'?: (number | string);
  'Embeddings'?: (string);
  'UseTokenizerTemplate'?: (boolean);
  'Messages'?: (_backend_Message)[];
  'CorrelationId'?: (string);
  'Tools'?: (string);
  'ToolChoice'?: (string);
  'Metadata'?: ({[key: string]: string});
  'MinP'?: (number | string);
  'ModelIdentity'?: (string);
}

export interface PredictOptions__Output {
  'Prompt': (string);
  'Seed': (number);
  'Threads': (number);
  'Tokens': (number);
  'TopK': (number);
  'Repeat': (number);
  'Batch': (number);
  'NKeep': (number);
  'Temperature': (number);
  'Penalty': (number);
  'StopPrompts': (string)[];
  'IgnoreEOS': (boolean);
  'TailFreeSamplingZ': (number);
  'TypicalP': (number);
  'FrequencyPenalty': (number);
  'PresencePenalty': (number);
  'Mirostat': (number);
  'MirostatETA': (number);
  'MirostatTAU': (number);
  'LogitBias': (string);
  'Grammar': (string);
  'TopP': (number);
  'Embeddings': (string);
  'UseTokenizerTemplate': (boolean);
  'Messages': (_backend_Message__Output)[];
  'CorrelationId': (string);
  'Tools': (string);
  'ToolChoice': (string);
  'Metadata': ({[key: string]: string});
  'MinP': (number);
  'ModelIdentity': (string);
}
