/**
 * The behaviour IDs (L13, C6, W4...) that code comments and test names carry are explained in
 * docs/behaviour/. This test keeps it so: an ID used anywhere in src/, test/, e2e/ or scripts/
 * without a `### ID: title` entry in those pages fails here, and so does a page that names a
 * source path that no longer exists or links to an entry that is not there.
 */
import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { join, relative, resolve } from 'node:path';
import { describe, expect, it } from 'vitest';

const root = resolve(__dirname, '..');
const docsDir = join(root, 'docs', 'behaviour');
const SCANNED = ['src', 'test', 'e2e', 'scripts'];
const CODE_FILE = /\.(ts|tsx|mts|cts|js|mjs|cjs)$/;

/**
 * The letters of the specifications' ID families: catalog, load, requests, unload/supervision,
 * watchdog, events, invariants; then GPU (V), cluster (D) and downloads (G), documented as built.
 */
const ID = /\b([CLRUWEIVDG][1-9]\d{0,2})\b/g;

/** Text that looks like an ID and is not one, blanked before scanning. */
const NOT_IDS: { what: string; pattern: RegExp }[] = [
  { what: 'a URL percent escape (%E0)', pattern: /%[0-9A-Fa-f]{2}/g },
  { what: "V8's name (the JavaScript engine)", pattern: /\bV8(?=['\u2019]s\b|\s+engine)/g },
  { what: 'a GGUF tensor type name', pattern: /(['"])I(?:8|16|32|64)\1/g },
  { what: 'SVG path data', pattern: /\bd="[^"]*"/g },
];

/** The behaviour IDs a piece of source text uses. */
export function idsIn(text: string): string[] {
  let cleaned = text;
  for (const { pattern } of NOT_IDS) cleaned = cleaned.replace(pattern, ' ');
  return [...cleaned.matchAll(ID)].map((m) => m[1]);
}

function filesUnder(dir: string, keep: (name: string) => boolean): string[] {
  const out: string[] = [];
  if (!existsSync(dir)) return out;
  for (const name of readdirSync(dir)) {
    if (name === 'node_modules' || name.startsWith('.')) continue;
    const p = join(dir, name);
    if (statSync(p).isDirectory()) out.push(...filesUnder(p, keep));
    else if (keep(name)) out.push(p);
  }
  return out;
}

/** Every ID used in code and tests, with the first place each is used. */
function usedIds(): Map<string, string> {
  const used = new Map<string, string>();
  for (const dir of SCANNED) {
    for (const file of filesUnder(join(root, dir), (n) => CODE_FILE.test(n))) {
      const lines = readFileSync(file, 'utf8').split('\n');
      lines.forEach((line, i) => {
        for (const id of idsIn(line)) if (!used.has(id)) used.set(id, `${relative(root, file)}:${i + 1}`);
      });
    }
  }
  return used;
}

interface Page {
  file: string;
  text: string;
}

function pages(): Page[] {
  return filesUnder(docsDir, (n) => n.endsWith('.md')).map((file) => ({ file, text: readFileSync(file, 'utf8') }));
}

/** GitHub's anchor for a heading: lower case, punctuation dropped, spaces to dashes. */
function slug(heading: string): string {
  return heading.trim().toLowerCase().replace(/[^\p{L}\p{N}\- _]/gu, '').replace(/ /g, '-');
}

function headings(text: string): string[] {
  return [...text.matchAll(/^#{1,6} (.+)$/gm)].map((m) => m[1]);
}

/** ID -> the pages that define it with a `### ID: title` heading. */
function definedIds(all: Page[]): Map<string, string[]> {
  const defined = new Map<string, string[]>();
  for (const page of all) {
    for (const m of page.text.matchAll(/^### ([A-Z]{1,2}\d{1,3}): \S/gm)) {
      defined.set(m[1], [...(defined.get(m[1]) ?? []), relative(root, page.file)]);
    }
  }
  return defined;
}

describe('behaviour IDs are explained in docs/behaviour', () => {
  it('the scanner finds IDs in test names and comments and skips look-alikes', () => {
    // Built from parts so that this file itself does not use an undocumented ID.
    const made = 'W' + '99';
    expect(idsIn(`it('L13: a user load always retries'); // see C6, ${made}`)).toEqual(['L13', 'C6', made]);
    expect(idsIn(`fetch('/api/models/%E0%A4%A/plan'); // V8's Math.log; 24: 'I8', 32: 'I32'`)).toEqual([]);
    expect(idsIn('<path d="M3 4.5L6 12 C1 2" />')).toEqual([]);
    expect(idsIn('E2E, F16, Q4_K, I5x, xL1')).toEqual([]);
  });

  it('every ID used in src/, test/, e2e/ and scripts/ has an entry', () => {
    const used = usedIds();
    // The scan really reaches the code: the loader's own IDs are there.
    expect(used.has('L13') && used.has('W2') && used.has('I5')).toBe(true);
    const defined = definedIds(pages());
    const missing = [...used].filter(([id]) => !defined.has(id)).map(([id, where]) => `${id} (first used at ${where})`);
    expect(
      missing,
      'Add a "### ID: title" entry to the page of its area in docs/behaviour/ (see its README.md), ' +
        'or, if the text is not a behaviour ID, add it to NOT_IDS in this test',
    ).toEqual([]);
  });

  it('each ID is defined once', () => {
    const twice = [...definedIds(pages())].filter(([, files]) => files.length > 1).map(([id, files]) => `${id}: ${files.join(', ')}`);
    expect(twice).toEqual([]);
  });

  it('the paths the pages name exist (code moved? update its entry)', () => {
    const stale: string[] = [];
    for (const page of pages()) {
      for (const m of page.text.matchAll(/`((?:src|test|e2e|scripts)\/[^`\s]*)`/g)) {
        if (!existsSync(join(root, m[1]))) stale.push(`${relative(root, page.file)}: ${m[1]}`);
      }
    }
    expect(stale).toEqual([]);
  });

  it('links between the pages reach a page and a heading that exist', () => {
    const all = pages();
    const anchors = new Map(all.map((p) => [relative(docsDir, p.file), new Set(headings(p.text).map(slug))]));
    const broken: string[] = [];
    for (const page of all) {
      for (const m of page.text.matchAll(/\]\(([\w.-]+\.md)(?:#([^)]+))?\)/g)) {
        const target = anchors.get(m[1]);
        if (!target || (m[2] && !target.has(m[2]))) broken.push(`${relative(root, page.file)}: ${m[0]}`);
      }
    }
    expect(broken).toEqual([]);
  });

  it('the README links the behaviour pages', () => {
    expect(readFileSync(join(root, 'README.md'), 'utf8')).toContain('docs/behaviour/README.md');
  });
});
