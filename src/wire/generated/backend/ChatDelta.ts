// Original file: proto/backend.proto

import type { ToolCallDelta as _backend_ToolCallDelta, ToolCallDelta__Output as _backend_ToolCallDelta__Output } from '../backend/ToolCallDelta';

export interface ChatDelta {
  'content'?: (string);
  'reasoning_content'?: (string);
  'tool_calls'?: (_backend_ToolCallDelta)[];
}

export interface ChatDelta__Output {
  'content': (string);
  'reasoning_content': (string);
  'tool_calls': (_backend_ToolCallDelta__Output)[];
}
