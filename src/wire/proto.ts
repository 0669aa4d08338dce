/** Loads proto/backend.proto once; shared by the gRPC client (core) and our backend programs. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { dirname, join, sep } from 'node:path';
import { fileURLToPath } from 'node:url';
import type { ProtoGrpcType } from './generated/backend';

/**
 * Field names as LocalAI spells them, 64-bit numbers as JS numbers, enums by name, absent fields
 * filled with their defaults. scripts/gen-wire.ts generates the types from the same options.
 */
export const PROTO_LOAD_OPTIONS = {
  keepCase: true,
  longs: Number,
  enums: String,
  defaults: true,
  oneofs: true,
} as const satisfies protoLoader.Options;

/**
 * The proto sits at `<project>/proto/backend.proto` in a source checkout and next to the bundle
 * (copied into `out/`, unpacked from the asar) in a build; look in both.
 */
export function backendProtoPath(): string {
  if (process.env.LOADOUT_PROTO) return process.env.LOADOUT_PROTO;
  // Walk up from this module: sources (src/wire), bundles (out/main, out/main/backend)
  // and packaged apps (resources/app.asar/out/main) all have proto/ at the project root.
  let dir = dirname(fileURLToPath(import.meta.url));
  const looked: string[] = [];
  for (let i = 0; i < 7; i++) {
    const candidate = join(dir, 'proto', 'backend.proto');
    const unpacked = candidate.replace(`${sep}app.asar${sep}`, `${sep}app.asar.unpacked${sep}`);
    if (existsSync(unpacked)) return unpacked;
    if (existsSync(candidate)) return candidate;
    looked.push(candidate);
    const parent = dirname(dir);
    if (parent === dir) break;
    dir = parent;
  }
  throw new Error(`backend.proto not found (looked in ${looked.join(', ')}); reinstall Loadout`);
}

export type BackendServiceConstructor = ProtoGrpcType['backend']['Backend'];

let cached: BackendServiceConstructor | undefined;

/** The `backend.Backend` service: a client constructor whose `.service` a server adds. */
export function backendService(): BackendServiceConstructor {
  if (cached) return cached;
  const definition = protoLoader.loadSync(backendProtoPath(), PROTO_LOAD_OPTIONS);
  cached = (grpc.loadPackageDefinition(definition) as unknown as ProtoGrpcType).backend.Backend;
  return cached;
}
