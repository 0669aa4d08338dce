#!/usr/bin/env node
/**
 * `npm run serve`: runs headless Loadout from the same bundles the desktop app ships (out/),
 * building them first when they are missing or older than the sources, so a fresh clone needs
 * no separate build step. Running the bundle rather than TypeScript through a loader keeps
 * the core's memory and every backend's start-up as lean as in the desktop app.
 */
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import { buildIfStale, root } from './build-if-stale.mjs';

if (!buildIfStale()) {
  process.stderr.write('loadout: the build failed (see above). Run `npm ci` and try again.\n');
  process.exit(1);
}

const cli = await import(pathToFileURL(join(root, 'out', 'main', 'cli.js')).href);
await cli.main(process.argv.slice(2));
