/**
 * `npm run gen:wire [outDir]`: regenerates the wire types in src/wire/generated from
 * proto/backend.proto with proto-loader-gen-types, using the same load options the runtime
 * loads the proto with, so the types describe exactly what grpc-js hands out.
 * src/wire/generated.test.ts regenerates into a temp dir and fails when the committed files are stale.
 */
import { execFileSync } from 'node:child_process';
import { rmSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { PROTO_LOAD_OPTIONS } from '../src/wire/proto';

export const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..');
export const GENERATED_DIR = join(ROOT, 'src/wire/generated');

export function generateWireTypes(outDir: string): void {
  const bin = join(dirname(createRequire(import.meta.url).resolve('@grpc/proto-loader/package.json')), 'build/bin/proto-loader-gen-types.js');
  const o = PROTO_LOAD_OPTIONS;
  const flags = [
    ...(o.keepCase ? ['--keepCase'] : []),
    `--longs=${o.longs.name}`,
    `--enums=${o.enums.name}`,
    ...(o.defaults ? ['--defaults'] : []),
    ...(o.oneofs ? ['--oneofs'] : []),
    '--grpcLib=@grpc/grpc-js',
    '--includeComments',
  ];
  rmSync(outDir, { recursive: true, force: true });
  // Relative proto path, run from the root: the files name their source as proto/backend.proto.
  execFileSync(process.execPath, [bin, ...flags, '-O', outDir, 'proto/backend.proto'], { cwd: ROOT, stdio: 'inherit' });
}

if (process.argv[1] && resolve(process.argv[1]) === fileURLToPath(import.meta.url)) {
  generateWireTypes(process.argv[2] ? resolve(process.argv[2]) : GENERATED_DIR);
}
