// Original file: proto/backend.proto

import type * as grpc from '@grpc/grpc-js'
import type { MethodDefinition } from '@grpc/proto-loader'
import type { EmbeddingResult as _backend_EmbeddingResult, EmbeddingResult__Output as _backend_EmbeddingResult__Output } from '../backend/EmbeddingResult';
import type { HealthMessage as _backend_HealthMessage, HealthMessage__Output as _backend_HealthMessage__Output } from '../backend/HealthMessage';
import type { ModelOptions as _backend_ModelOptions, ModelOptions__Output as _backend_ModelOptions__Output } from '../backend/ModelOptions';
import type { PredictOptions as _backend_PredictOptions, PredictOptions__Output as _backend_PredictOptions__Output } from '../backend/PredictOptions';
import type { Reply as _backend_Reply, Reply__Output as _backend_Reply__Output } from '../backend/Reply';
import type { Result as _backend_Result, Result__Output as _backend_Result__Output } from '../backend/Result';
import type { StatusResponse as _backend_StatusResponse, StatusResponse__Output as _backend_StatusResponse__Output } from '../backend/StatusResponse';
import type { TokenizationResponse as _backend_TokenizationResponse, TokenizationResponse__Output as _backend_TokenizationResponse__Output } from '../backend/TokenizationResponse';

export interface BackendClient extends grpc.Client {
  Embedding(argument: _backend_PredictOptions, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_EmbeddingResult__Output>): grpc.ClientUnaryCall;
  Embedding(argument: _backend_PredictOptions, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_EmbeddingResult__Output>): grpc.ClientUnaryCall;
  Embedding(argument: _backend_PredictOptions, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_EmbeddingResult__Output>): grpc.ClientUnaryCall;
  Embedding(argument: _backend_PredictOptions, callback: grpc.requestCallback<_backend_EmbeddingResult__Output>): grpc.ClientUnaryCall;
  embedding(argument: _backend_PredictOptions, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_EmbeddingResult__Output>): grpc.ClientUnaryCall;
  embedding(argument: _backend_PredictOptions, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_EmbeddingResult__Output>): grpc.ClientUnaryCall;
  embedding(argument: _backend_PredictOptions, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_EmbeddingResult__Output>): grpc.ClientUnaryCall;
  embedding(argument: _backend_PredictOptions, callback: grpc.requestCallback<_backend_EmbeddingResult__Output>): grpc.ClientUnaryCall;
  
  Free(argument: _backend_HealthMessage, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  Free(argument: _backend_HealthMessage, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  Free(argument: _backend_HealthMessage, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  Free(argument: _backend_HealthMessage, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  free(argument: _backend_HealthMessage, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  free(argument: _backend_HealthMessage, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  free(argument: _backend_HealthMessage, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  free(argument: _backend_HealthMessage, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  
  Health(argument: _backend_HealthMessage, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  Health(argument: _backend_HealthMessage, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  Health(argument: _backend_HealthMessage, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  Health(argument: _backend_HealthMessage, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  health(argument: _backend_HealthMessage, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  health(argument: _backend_HealthMessage, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  health(argument: _backend_HealthMessage, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  health(argument: _backend_HealthMessage, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  
  LoadModel(argument: _backend_ModelOptions, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  LoadModel(argument: _backend_ModelOptions, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  LoadModel(argument: _backend_ModelOptions, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  LoadModel(argument: _backend_ModelOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  loadModel(argument: _backend_ModelOptions, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  loadModel(argument: _backend_ModelOptions, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  loadModel(argument: _backend_ModelOptions, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  loadModel(argument: _backend_ModelOptions, callback: grpc.requestCallback<_backend_Result__Output>): grpc.ClientUnaryCall;
  
  Predict(argument: _backend_PredictOptions, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  Predict(argument: _backend_PredictOptions, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  Predict(argument: _backend_PredictOptions, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  Predict(argument: _backend_PredictOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  predict(argument: _backend_PredictOptions, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  predict(argument: _backend_PredictOptions, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  predict(argument: _backend_PredictOptions, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  predict(argument: _backend_PredictOptions, callback: grpc.requestCallback<_backend_Reply__Output>): grpc.ClientUnaryCall;
  
  PredictStream(argument: _backend_PredictOptions, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_backend_Reply__Output>;
  PredictStream(argument: _backend_PredictOptions, options?: grpc.CallOptions): grpc.ClientReadableStream<_backend_Reply__Output>;
  predictStream(argument: _backend_PredictOptions, metadata: grpc.Metadata, options?: grpc.CallOptions): grpc.ClientReadableStream<_backend_Reply__Output>;
  predictStream(argument: _backend_PredictOptions, options?: grpc.CallOptions): grpc.ClientReadableStream<_backend_Reply__Output>;
  
  Status(argument: _backend_HealthMessage, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _backend_HealthMessage, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _backend_HealthMessage, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_StatusResponse__Output>): grpc.ClientUnaryCall;
  Status(argument: _backend_HealthMessage, callback: grpc.requestCallback<_backend_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _backend_HealthMessage, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _backend_HealthMessage, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _backend_HealthMessage, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_StatusResponse__Output>): grpc.ClientUnaryCall;
  status(argument: _backend_HealthMessage, callback: grpc.requestCallback<_backend_StatusResponse__Output>): grpc.ClientUnaryCall;
  
  TokenizeString(argument: _backend_PredictOptions, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_TokenizationResponse__Output>): grpc.ClientUnaryCall;
  TokenizeString(argument: _backend_PredictOptions, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_TokenizationResponse__Output>): grpc.ClientUnaryCall;
  TokenizeString(argument: _backend_PredictOptions, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_TokenizationResponse__Output>): grpc.ClientUnaryCall;
  TokenizeString(argument: _backend_PredictOptions, callback: grpc.requestCallback<_backend_TokenizationResponse__Output>): grpc.ClientUnaryCall;
  tokenizeString(argument: _backend_PredictOptions, metadata: grpc.Metadata, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_TokenizationResponse__Output>): grpc.ClientUnaryCall;
  tokenizeString(argument: _backend_PredictOptions, metadata: grpc.Metadata, callback: grpc.requestCallback<_backend_TokenizationResponse__Output>): grpc.ClientUnaryCall;
  tokenizeString(argument: _backend_PredictOptions, options: grpc.CallOptions, callback: grpc.requestCallback<_backend_TokenizationResponse__Output>): grpc.ClientUnaryCall;
  tokenizeString(argument: _backend_PredictOptions, callback: grpc.requestCallback<_backend_TokenizationResponse__Output>): grpc.ClientUnaryCall;
  
}

export interface BackendHandlers extends grpc.UntypedServiceImplementation {
  Embedding: grpc.handleUnaryCall<_backend_PredictOptions__Output, _backend_EmbeddingResult>;
  
  Free: grpc.handleUnaryCall<_backend_HealthMessage__Output, _backend_Result>;
  
  Health: grpc.handleUnaryCall<_backend_HealthMessage__Output, _backend_Reply>;
  
  LoadModel: grpc.handleUnaryCall<_backend_ModelOptions__Output, _backend_Result>;
  
  Predict: grpc.handleUnaryCall<_backend_PredictOptions__Output, _backend_Reply>;
  
  PredictStream: grpc.handleServerStreamingCall<_backend_PredictOptions__Output, _backend_Reply>;
  
  Status: grpc.handleUnaryCall<_backend_HealthMessage__Output, _backend_StatusResponse>;
  
  TokenizeString: grpc.handleUnaryCall<_backend_PredictOptions__Output, _backend_TokenizationResponse>;
  
}

export interface BackendDefinition extends grpc.ServiceDefinition {
  Embedding: MethodDefinition<_backend_PredictOptions, _backend_EmbeddingResult, _backend_PredictOptions__Output, _backend_EmbeddingResult__Output>
  Free: MethodDefinition<_backend_HealthMessage, _backend_Result, _backend_HealthMessage__Output, _backend_Result__Output>
  Health: MethodDefinition<_backend_HealthMessage, _backend_Reply, _backend_HealthMessage__Output, _backend_Reply__Output>
  LoadModel: MethodDefinition<_backend_ModelOptions, _backend_Result, _backend_ModelOptions__Output, _backend_Result__Output>
  Predict: MethodDefinition<_backend_PredictOptions, _backend_Reply, _backend_PredictOptions__Output, _backend_Reply__Output>
  PredictStream: MethodDefinition<_backend_PredictOptions, _backend_Reply, _backend_PredictOptions__Output, _backend_Reply__Output>
  Status: MethodDefinition<_backend_HealthMessage, _backend_StatusResponse, _backend_HealthMessage__Output, _backend_StatusResponse__Output>
  TokenizeString: MethodDefinition<_backend_PredictOptions, _backend_TokenizationResponse, _backend_PredictOptions__Output, _backend_TokenizationResponse__Output>
}
