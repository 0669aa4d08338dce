import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { electronBackendCommand } from './backendCommand';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) rmSync(d, { recursive: true, force: true });
});

function layout(files: string[]): string {
  const root = mkdtempSync(join(os.tmpdir(), 'loadout-layout-'));
  dirs.push(root);
  for (const f of files) {
    mkdirSync(join(root, f, '..'), { recursive: true });
    writeFileSync(join(root, f), '');
  }
  return root;
}

describe('L9: the built-in backend runs on Electron\'s own binary', () => {
  it('packaged app: the backend is read from app.asar.unpacked, run as plain Node by the app binary', () => {
    // What electron-builder makes: resources/app.asar (one file, the main bundle inside) next to
    // resources/app.asar.unpacked (real files a child process can run).
    const root = layout(['resources/app.asar.unpacked/out/main/backend/index.js']);
    const mainFile = join(root, 'resources/app.asar/out/main/index.js');
    expect(electronBackendCommand('/opt/Loadout/loadout', mainFile)).toEqual({
      command: '/opt/Loadout/loadout',
      args: [join(root, 'resources/app.asar.unpacked/out/main/backend/index.js')],
      env: { ELECTRON_RUN_AS_NODE: '1' },
    });
  });

  it('macOS bundle layout works the same way', () => {
    const res = 'Loadout.app/Contents/Resources';
    const root = layout([`${res}/app.asar.unpacked/out/main/backend/index.js`]);
    const cmd = electronBackendCommand(join(root, 'Loadout.app/Contents/MacOS/Loadout'), join(root, `${res}/app.asar/out/main/index.js`));
    expect(cmd.args).toEqual([join(root, `${res}/app.asar.unpacked/out/main/backend/index.js`)]);
  });

  it('unpackaged build (npm start): the bundle next to the main one', () => {
    const root = layout(['out/main/index.js', 'out/main/backend/index.js']);
    expect(electronBackendCommand('/usr/lib/electron/electron', join(root, 'out/main/index.js')).args).toEqual([join(root, 'out/main/backend/index.js')]);
  });

  it('main code split into a chunk still finds it', () => {
    const root = layout(['resources/app.asar.unpacked/out/main/backend/index.js']);
    expect(electronBackendCommand('/x', join(root, 'resources/app.asar/out/main/chunks/index-abc.js')).args).toEqual([
      join(root, 'resources/app.asar.unpacked/out/main/backend/index.js'),
    ]);
  });
});
