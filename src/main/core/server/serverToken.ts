/**
 * The web page's access token, kept in the data dir (`server-token`) so that it survives a
 * restart: an open page reconnects by itself and a bookmarked URL keeps working. Made once, from
 * 24 random bytes in base64url (letters, digits, `-`, `_`); a missing, empty or malformed file is
 * replaced by a new token (old links then stop working, which the page says).
 */
import { randomBytes } from 'node:crypto';
import { chmodSync, readFileSync, statSync } from 'node:fs';
import { join } from 'node:path';
import { writeFileAtomicSync } from '../fsx/writeFileAtomic';

export const SERVER_TOKEN_FILE = 'server-token';

/** 24 random bytes make 32 characters; anything shorter is too easy to guess to be kept. */
const VALID_TOKEN = /^[A-Za-z0-9_-]{32,256}$/;

export function isValidServerToken(token: string): boolean {
  return VALID_TOKEN.test(token);
}

export function newServerToken(): string {
  return randomBytes(24).toString('base64url');
}

/** The token saved in `dataDir`, or a new one saved there (readable by the owner only). */
export function serverToken(dataDir: string): string {
  const file = join(dataDir, SERVER_TOKEN_FILE);
  let saved = '';
  try {
    saved = readFileSync(file, 'utf8').trim();
  } catch {
    // missing or unreadable: replaced below
  }
  if (isValidServerToken(saved)) {
    keepPrivate(file);
    return saved;
  }
  const token = newServerToken();
  // Created 0600 and renamed over the target: no reader (or crash) ever sees a torn token, and no
  // moment where the token is readable by others.
  try {
    writeFileAtomicSync(file, `${token}\n`, { mode: 0o600 });
  } catch (e) {
    throw new Error(`could not save the web page's access token in ${file} (${(e as Error).message}). Check that the data folder is writable, or start with --data <another folder>.`);
  }
  return token;
}

/** A token file someone made readable by others (copied, restored from a backup) is closed again. */
function keepPrivate(file: string): void {
  if (process.platform === 'win32') return; // no POSIX modes; the profile folder is private already
  try {
    if ((statSync(file).mode & 0o077) !== 0) chmodSync(file, 0o600);
  } catch {
    // not ours to fix (another owner): the token still works
  }
}
