// Original file: proto/backend.proto


export interface HealthMessage {
}

export interface HealthMessage__Output {
}
