// Original file: proto/backend.proto

import type { ChatDelta as _backend_ChatDelta, ChatDelta__Output as _backend_ChatDelta__Output } from '../backend/ChatDelta';

export interface Reply {
  'message'?: (Buffer | Uint8Array | string);
  'tokens'?: (number);
  'prompt_tokens'?: (number);
  'timing_prompt_processing'?: (number | string);
  'timing_token_generation'?: (number | string);
  'logprobs'?: (Buffer | Uint8Array | string);
  'chat_deltas'?: (_backend_ChatDelta)[];
  /**
   * Loadout extension (numbers from 1000 up, so LocalAI backends ignore it): when one reply
   * carries several sampled tokens, their texts in order; `message` is their concatenation.
   * Empty when the reply is one piece.
   */
  'pieces'?: (Buffer | Uint8Array | string)[];
}

export interface Reply__Output {
  'message': (Buffer);
  'tokens': (number);
  'prompt_tokens': (number);
  'timing_prompt_processing': (number);
  'timing_token_generation': (number);
  'logprobs': (Buffer);
  'chat_deltas': (_backend_ChatDelta__Output)[];
  /**
   * Loadout extension (numbers from 1000 up, so LocalAI backends ignore it): when one reply
   * carries several sampled tokens, their texts in order; `message` is their concatenation.
   * Empty when the reply is one piece.
   */
  'pieces': (Buffer)[];
}
