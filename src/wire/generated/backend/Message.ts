// Original file: proto/backend.proto


export interface Message {
  'role'?: (string);
  'content'?: (string);
  'name'?: (string);
  'tool_call_id'?: (string);
  'reasoning_content'?: (string);
  'tool_calls'?: (string);
}

export interface Message__Output {
  'role': (string);
  'content': (string);
  'name': (string);
  'tool_call_id': (string);
  'reasoning_content': (string);
  'tool_calls': (string);
}
