import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { DATA_DIR_ENV, dataDirFromLaunch } from './launchOptions';

describe('launch options', () => {
  it.each([
    [['/opt/Loadout/loadout', '--data', '/tmp/d'], {}, '/tmp/d'],
    [['/usr/bin/electron', '.', '--data=/tmp/e'], {}, '/tmp/e'],
    [['/usr/bin/electron', 'out/main/index.js', '--no-sandbox', '--data', 'rel/dir'], {}, resolve('rel/dir')],
    [['/opt/Loadout/loadout'], { [DATA_DIR_ENV]: '/tmp/env' }, '/tmp/env'],
    [['/opt/Loadout/loadout', '--data', '/tmp/flag'], { [DATA_DIR_ENV]: '/tmp/env' }, '/tmp/flag'],
    [['/opt/Loadout/loadout'], {}, null],
    [['/opt/Loadout/loadout', '--data'], {}, null],
    [['/opt/Loadout/loadout', '--data', '--no-sandbox'], {}, null],
    [['/opt/Loadout/loadout', '--data='], {}, null],
    [['/opt/Loadout/loadout', '--database', 'x'], {}, null],
  ])('%j with %j -> %s', (argv, env, expected) => {
    expect(dataDirFromLaunch(argv, env)).toBe(expected);
  });
});
