/** Finding text in conversations (pure): case-insensitive substring, with a snippet around the hit. */

const SNIPPET_SIDE = 40;

/** A case-insensitive matcher for a literal query (a regular expression, so match offsets are the original text's). */
export function matcher(query: string): RegExp | null {
  const q = query.trim();
  if (q === '') return null;
  return new RegExp(q.replace(/[.*+?^${}()|[\]\\]/g, '\\$&'), 'iu');
}

/** About `side` characters either side of the first match, on one line, with … where it was cut; null when no match. */
export function snippet(text: string, re: RegExp, side = SNIPPET_SIDE): string | null {
  const m = re.exec(text);
  if (!m) return null;
  let start = Math.max(0, m.index - side);
  let end = Math.min(text.length, m.index + m[0].length + side);
  // Never cut a surrogate pair in half.
  if (start > 0 && isLowSurrogate(text.charCodeAt(start))) start--;
  if (end < text.length && isLowSurrogate(text.charCodeAt(end))) end++;
  const body = text.slice(start, end).replace(/\s+/g, ' ').trim();
  return `${start > 0 ? '…' : ''}${body}${end < text.length ? '…' : ''}`;
}

function isLowSurrogate(code: number): boolean {
  return code >= 0xdc00 && code <= 0xdfff;
}
