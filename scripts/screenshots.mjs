// Regenerates the README's screenshots (docs/screenshots/*.png) from the two browser tests that
// set up their scenes: the showcase (models, plan, dark) and the chat view. `npm test` runs the
// same tests without writing into docs/.
import { spawnSync } from 'node:child_process';

const run = (args, env = process.env) => {
  const r = spawnSync('npx', args, { stdio: 'inherit', env, shell: process.platform === 'win32' });
  if (r.status !== 0) process.exit(r.status ?? 1);
};

run(['electron-vite', 'build']);
run(['playwright', 'test', 'e2e/showcase.spec.ts', 'e2e/chat.spec.ts', '-g', 'screenshot'], { ...process.env, LOADOUT_README_SCREENSHOTS: '1' });
console.log('README screenshots written to docs/screenshots/');
