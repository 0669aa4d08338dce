/**
 * `npm run build-engine`: "optimize for this machine" (issue 15 item 2, clarifications 9) from the
 * command line; Settings > Backends runs the same build (src/main/core/engineBuild.ts says what it
 * is and where it is offered). A local build is lost on `npm ci`. `--check` only says whether it
 * is offered; `--remove` deletes the local build, so the prebuilt binary is used again.
 */
import { spawn } from 'node:child_process';
import { buildCommand, buildEnv, compilerVersion, engineBuildOffer, removeLocalBuildSync } from '../src/main/core/engineBuild';

async function main(): Promise<void> {
  const args = new Set(process.argv.slice(2));
  const offer = engineBuildOffer();
  if (args.has('--remove')) {
    removeLocalBuildSync(offer.packageDir);
    console.log('removed the local build: the prebuilt binary is used again');
    return;
  }
  if (!offer.offered) {
    console.error(`build-engine: not offered: ${offer.reason}`);
    process.exit(1);
  }
  if (args.has('--check')) {
    console.log(`build-engine: offered (${offer.packageDir})`);
    return;
  }
  console.log(`build-engine: building llama.cpp for this machine with ${compilerVersion() ?? 'an unknown compiler'} (CPU only; about 10 minutes on 2 cores)`);
  const started = Date.now();
  const child = spawn(process.execPath, buildCommand(offer.packageDir), { stdio: 'inherit', env: buildEnv(offer.packageDir, process.env) });
  const code = await new Promise<number>((r) => child.once('exit', (c) => r(c ?? 1)));
  const minutes = ((Date.now() - started) / 60_000).toFixed(1);
  if (code !== 0) {
    console.error(`build-engine: the build failed after ${minutes} min (exit ${code}); the prebuilt binary stays in use.`);
    process.exit(code);
  }
  console.log(`build-engine: done in ${minutes} min. New backends use the local build on the CPU; \`npm run build-engine -- --remove\` goes back.`);
}

void main();
