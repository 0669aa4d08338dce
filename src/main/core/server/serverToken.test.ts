/** The page's access token file in the data dir: made once, reused, replaced when unusable, private. */
import { chmodSync, mkdirSync, mkdtempSync, readFileSync, readdirSync, rmSync, statSync, writeFileSync } from 'node:fs';
import os from 'node:os';
import { join } from 'node:path';
import { afterEach, describe, expect, it } from 'vitest';
import { SERVER_TOKEN_FILE, isValidServerToken, serverToken } from './serverToken';

const dirs: string[] = [];
afterEach(() => {
  for (const d of dirs.splice(0)) {
    chmodSync(d, 0o700);
    rmSync(d, { recursive: true, force: true });
  }
});

function dataDir(): string {
  const d = mkdtempSync(join(os.tmpdir(), 'loadout-token-'));
  dirs.push(d);
  return d;
}

const posix = process.platform !== 'win32';

describe('server token file', () => {
  it('is made once (32 base64url characters, in <dataDir>/server-token) and reused on later starts', () => {
    const dir = dataDir();
    const first = serverToken(dir);
    expect(first).toMatch(/^[A-Za-z0-9_-]{32}$/);
    expect(readFileSync(join(dir, SERVER_TOKEN_FILE), 'utf8').trim()).toBe(first);
    expect(serverToken(dir)).toBe(first);
    expect(serverToken(dir)).toBe(first);
    // Another data dir has its own token.
    expect(serverToken(dataDir())).not.toBe(first);
    // No temp file left behind.
    expect(readdirSync(dir)).toEqual([SERVER_TOKEN_FILE]);
  });

  it('keeps a token the user wrote by hand if it is long enough (a trailing newline is fine)', () => {
    const dir = dataDir();
    const mine = 'my-own_token-that-is-long-enough-1234';
    writeFileSync(join(dir, SERVER_TOKEN_FILE), `${mine}\n`);
    expect(serverToken(dir)).toBe(mine);
  });

  it.each([
    ['empty', ''],
    ['only whitespace', ' \n'],
    ['too short', 'abcDEF123'],
    ['31 characters', 'a'.repeat(31)],
    ['wrong characters', 'abcd/efgh+ijkl=mnop.qrst uvwx!yz12'],
    ['two lines', `${'a'.repeat(32)}\n${'b'.repeat(32)}`],
  ])('replaces a malformed file (%s) with a new token, saved for next time', (_what, content) => {
    const dir = dataDir();
    writeFileSync(join(dir, SERVER_TOKEN_FILE), content);
    const token = serverToken(dir);
    expect(isValidServerToken(token)).toBe(true);
    expect(token).not.toBe(content.trim());
    expect(serverToken(dir)).toBe(token);
  });

  it.runIf(posix)('is readable by its owner only (0600), and a token file opened to others is closed again', () => {
    const dir = dataDir();
    const token = serverToken(dir);
    const file = join(dir, SERVER_TOKEN_FILE);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    chmodSync(file, 0o644);
    expect(serverToken(dir)).toBe(token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
    // A replaced (malformed) file is private too, whatever the old one's mode was.
    writeFileSync(file, 'short', { mode: 0o644 });
    chmodSync(file, 0o644);
    expect(serverToken(dir)).not.toBe(token);
    expect(statSync(file).mode & 0o777).toBe(0o600);
  });

  it('a data dir where the token cannot be saved gives an error that says what to do', () => {
    const dir = dataDir();
    // A folder in the file's place cannot be replaced by a file.
    mkdirSync(join(dir, SERVER_TOKEN_FILE, 'x'), { recursive: true });
    expect(() => serverToken(dir)).toThrow(/could not save the web page's access token in .*server-token.*--data <another folder>/);
    expect(readdirSync(dir)).toEqual([SERVER_TOKEN_FILE]);
  });
});
