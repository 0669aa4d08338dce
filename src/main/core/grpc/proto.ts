/** Loads proto/backend.proto once; shared by the gRPC client (core) and our backend programs. */
import * as grpc from '@grpc/grpc-js';
import * as protoLoader from '@grpc/proto-loader';
import { existsSync } from 'node:fs';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';

/**
 * The proto sits at `<project>/proto/backend.proto` in a source checkout and next to the bundle
 * (copied into `out/`, unpacked from the asar) in a build; look in both.
 */
export function backendProtoPath(): string {
  const here = dirname(fileURLToPath(import.meta.url));
  const candidates = [
    process.env.LOADOUT_PROTO,
    resolve(here, '../../../../proto/backend.proto'),
    resolve(here, '../../proto/backend.proto'),
    resolve(here, '../proto/backend.proto'),
    join(process.cwd(), 'proto/backend.proto'),
  ].filter((p): p is string => !!p);
  const found = candidates.find((p) => existsSync(p.replace('app.asar', 'app.asar.unpacked')) || existsSync(p));
  if (!found) throw new Error(`backend.proto not found (looked in ${candidates.join(', ')})`);
  return found.includes('app.asar') && existsSync(found.replace('app.asar', 'app.asar.unpacked'))
    ? found.replace('app.asar', 'app.asar.unpacked')
    : found;
}

let cached: grpc.ServiceClientConstructor | undefined;

/** The generated `backend.Backend` service constructor (field names kept as LocalAI spells them). */
export function backendService(): grpc.ServiceClientConstructor {
  if (cached) return cached;
  const definition = protoLoader.loadSync(backendProtoPath(), {
    keepCase: true,
    longs: Number,
    enums: String,
    defaults: true,
    oneofs: true,
  });
  const pkg = grpc.loadPackageDefinition(definition) as unknown as {
    backend: { Backend: grpc.ServiceClientConstructor };
  };
  cached = pkg.backend.Backend;
  return cached;
}
