import type * as grpc from '@grpc/grpc-js';
import type { MessageTypeDefinition } from '@grpc/proto-loader';

import type { BackendClient as _backend_BackendClient, BackendDefinition as _backend_BackendDefinition } from './backend/Backend';
import type { ChatDelta as _backend_ChatDelta, ChatDelta__Output as _backend_ChatDelta__Output } from './backend/ChatDelta';
import type { EmbeddingResult as _backend_EmbeddingResult, EmbeddingResult__Output as _backend_EmbeddingResult__Output } from './backend/EmbeddingResult';
import type { HealthMessage as _backend_HealthMessage, HealthMessage__Output as _backend_HealthMessage__Output } from './backend/HealthMessage';
import type { MemoryUsageData as _backend_MemoryUsageData, MemoryUsageData__Output as _backend_MemoryUsageData__Output } from './backend/MemoryUsageData';
import type { Message as _backend_Message, Message__Output as _backend_Message__Output } from './backend/Message';
import type { ModelOptions as _backend_ModelOptions, ModelOptions__Output as _backend_ModelOptions__Output } from './backend/ModelOptions';
import type { PredictOptions as _backend_PredictOptions, PredictOptions__Output as _backend_PredictOptions__Output } from './backend/PredictOptions';
import type { Reply as _backend_Reply, Reply__Output as _backend_Reply__Output } from './backend/Reply';
import type { Result as _backend_Result, Result__Output as _backend_Result__Output } from './backend/Result';
import type { StatusResponse as _backend_StatusResponse, StatusResponse__Output as _backend_StatusResponse__Output } from './backend/StatusResponse';
import type { TokenizationResponse as _backend_TokenizationResponse, TokenizationResponse__Output as _backend_TokenizationResponse__Output } from './backend/TokenizationResponse';
import type { ToolCallDelta as _backend_ToolCallDelta, ToolCallDelta__Output as _backend_ToolCallDelta__Output } from './backend/ToolCallDelta';

type SubtypeConstructor<Constructor extends new (...args: any) => any, Subtype> = {
  new(...args: ConstructorParameters<Constructor>): Subtype;
};

export interface ProtoGrpcType {
  backend: {
    Backend: SubtypeConstructor<typeof grpc.Client, _backend_BackendClient> & { service: _backend_BackendDefinition }
    ChatDelta: MessageTypeDefinition<_backend_ChatDelta, _backend_ChatDelta__Output>
    EmbeddingResult: MessageTypeDefinition<_backend_EmbeddingResult, _backend_EmbeddingResult__Output>
    HealthMessage: MessageTypeDefinition<_backend_HealthMessage, _backend_HealthMessage__Output>
    MemoryUsageData: MessageTypeDefinition<_backend_MemoryUsageData, _backend_MemoryUsageData__Output>
    Message: MessageTypeDefinition<_backend_Message, _backend_Message__Output>
    ModelOptions: MessageTypeDefinition<_backend_ModelOptions, _backend_ModelOptions__Output>
    PredictOptions: MessageTypeDefinition<_backend_PredictOptions, _backend_PredictOptions__Output>
    Reply: MessageTypeDefinition<_backend_Reply, _backend_Reply__Output>
    Result: MessageTypeDefinition<_backend_Result, _backend_Result__Output>
    StatusResponse: MessageTypeDefinition<_backend_StatusResponse, _backend_StatusResponse__Output>
    TokenizationResponse: MessageTypeDefinition<_backend_TokenizationResponse, _backend_TokenizationResponse__Output>
    ToolCallDelta: MessageTypeDefinition<_backend_ToolCallDelta, _backend_ToolCallDelta__Output>
  }
}

