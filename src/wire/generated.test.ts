import { mkdtempSync, readdirSync, readFileSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, relative } from 'node:path';
import { afterAll, describe, expect, it } from 'vitest';
import { GENERATED_DIR, generateWireTypes } from '../../scripts/gen-wire';

function filesUnder(dir: string): Map<string, string> {
  const out = new Map<string, string>();
  for (const entry of readdirSync(dir, { recursive: true, withFileTypes: true })) {
    if (!entry.isFile()) continue;
    const path = join(entry.parentPath, entry.name);
    out.set(relative(dir, path), readFileSync(path, 'utf8'));
  }
  return out;
}

describe('generated wire types', () => {
  const fresh = mkdtempSync(join(tmpdir(), 'loadout-wire-'));
  afterAll(() => rmSync(fresh, { recursive: true, force: true }));

  it('match proto/backend.proto (after editing the proto, run `npm run gen:wire` and commit the result)', () => {
    generateWireTypes(fresh);
    const committed = filesUnder(GENERATED_DIR);
    const regenerated = filesUnder(fresh);
    expect([...committed.keys()].sort()).toEqual([...regenerated.keys()].sort());
    for (const [file, text] of regenerated) expect(committed.get(file), `src/wire/generated/${file} is stale`).toBe(text);
  });
});
