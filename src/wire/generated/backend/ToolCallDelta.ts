// Original file: proto/backend.proto


export interface ToolCallDelta {
  'index'?: (number);
  'id'?: (string);
  'name'?: (string);
  'arguments'?: (string);
}

export interface ToolCallDelta__Output {
  'index': (number);
  'id': (string);
  'name': (string);
  'arguments': (string);
}
