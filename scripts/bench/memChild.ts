/**
 * The "headless core" of the memory figure, in a process of its own: the core on a models
 * folder, and nothing else (no HTTP server: its web UI may build itself with Vite at start, a
 * one-off that is not the core's own memory). Run by bench-core.ts as
 *   node --expose-gc --import tsx scripts/bench/memChild.ts <dataDir> <modelsDir> <expectedModels>
 * or as an esbuild bundle under plain node. Prints one line `RESULT <json>` and exits.
 */
import { createCore } from '../../src/main/core/createCore';

const [dataDir, modelsDir, expectedText] = process.argv.slice(2);
if (!dataDir || !modelsDir) {
  process.stderr.write('usage: memChild <dataDir> <modelsDir> [expectedModels]\n');
  process.exit(2);
}

const sleep = (ms: number) => new Promise((resolve) => setTimeout(resolve, ms));
const gc = (globalThis as { gc?: () => void }).gc;

async function main(): Promise<void> {
  const started = performance.now();
  // createCore returns once the catalog scan is done (it awaits catalog.start()).
  const core = await createCore({ dataDir, overrides: { models_dir: modelsDir }, demoModel: false });
  const readyMs = performance.now() - started;
  const models = core.commands.snapshot().models.length;
  if (expectedText && models !== Number(expectedText)) {
    throw new Error(`the catalog has ${models} models, expected ${expectedText}`);
  }
  // Let start-up work settle (watchers, the first watchdog tick) before reading memory.
  await sleep(1500);
  const before = process.memoryUsage();
  if (gc) {
    gc();
    gc();
  }
  await sleep(100);
  const after = process.memoryUsage();
  process.stdout.write(
    `RESULT ${JSON.stringify({
      pid: process.pid,
      models,
      readyMs,
      gcExposed: gc !== undefined,
      rssBeforeGc: before.rss,
      rss: after.rss,
      heapUsed: after.heapUsed,
      external: after.external,
      arrayBuffers: after.arrayBuffers,
    })}\n`,
  );
  await core.dispose();
}

main().then(
  () => process.exit(0),
  (e: unknown) => {
    process.stderr.write(`memChild: ${e instanceof Error ? e.message : String(e)}\n`);
    process.exit(1);
  },
);
