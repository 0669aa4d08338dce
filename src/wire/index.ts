/**
 * The wire with backends (proto/backend.proto), imported by both sides: the core's gRPC client
 * and our backend programs. Node only; nothing here knows about the core or a backend.
 *
 * Message types are generated (`npm run gen:wire`): `X` is what a sender may write (fields
 * optional), `X__Output` what a receiver gets (every field present, defaults filled in).
 */
export { backendService } from './proto';
export { freePort } from './freePort';

export type { BackendHandlers } from './generated/backend/Backend';
export type { ChatDelta, ChatDelta__Output } from './generated/backend/ChatDelta';
export type { EmbeddingResult, EmbeddingResult__Output } from './generated/backend/EmbeddingResult';
export type { HealthMessage, HealthMessage__Output } from './generated/backend/HealthMessage';
export type { MemoryUsageData, MemoryUsageData__Output } from './generated/backend/MemoryUsageData';
export type { ModelOptions, ModelOptions__Output } from './generated/backend/ModelOptions';
export type { PredictOptions, PredictOptions__Output } from './generated/backend/PredictOptions';
export type { Reply, Reply__Output } from './generated/backend/Reply';
export type { Result, Result__Output } from './generated/backend/Result';
export type { StatusResponse, StatusResponse__Output } from './generated/backend/StatusResponse';
export type { TokenizationResponse, TokenizationResponse__Output } from './generated/backend/TokenizationResponse';
export type { ToolCallDelta, ToolCallDelta__Output } from './generated/backend/ToolCallDelta';

import type { Message, Message__Output } from './generated/backend/Message';
import type { StatusResponse__Output } from './generated/backend/StatusResponse';
/** One chat turn of PredictOptions.Messages (the proto calls it `Message`). */
export type ChatMessage = Message;
export type ChatMessage__Output = Message__Output;
/** A backend's state as Status reports it. */
export type StatusState = StatusResponse__Output['state'];
