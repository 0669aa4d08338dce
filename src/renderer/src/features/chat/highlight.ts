/**
 * Syntax highlighting for code blocks (lowlight: highlight.js grammars, output as a hast tree that
 * Markdown.tsx turns into React spans, never HTML). Only a handful of common languages are
 * registered, to keep the bundle small; other languages show as plain code.
 */
import bash from 'highlight.js/lib/languages/bash';
import c from 'highlight.js/lib/languages/c';
import cpp from 'highlight.js/lib/languages/cpp';
import css from 'highlight.js/lib/languages/css';
import diff from 'highlight.js/lib/languages/diff';
import go from 'highlight.js/lib/languages/go';
import java from 'highlight.js/lib/languages/java';
import javascript from 'highlight.js/lib/languages/javascript';
import json from 'highlight.js/lib/languages/json';
import python from 'highlight.js/lib/languages/python';
import rust from 'highlight.js/lib/languages/rust';
import sql from 'highlight.js/lib/languages/sql';
import typescript from 'highlight.js/lib/languages/typescript';
import xml from 'highlight.js/lib/languages/xml';
import yaml from 'highlight.js/lib/languages/yaml';
import type { Root } from 'hast';
import { createLowlight } from 'lowlight';

const lowlight = createLowlight({ bash, c, cpp, css, diff, go, java, javascript, json, python, rust, sql, typescript, xml, yaml });
lowlight.registerAlias({ bash: ['sh', 'shell', 'zsh', 'console'], javascript: ['js', 'jsx', 'mjs'], typescript: ['ts', 'tsx'], python: ['py'], xml: ['html', 'svg'], yaml: ['yml'], cpp: ['c++', 'hpp', 'cc'], rust: ['rs'] });

/** Longer code is shown plain: highlighting it would hold up the page for more than a frame or two. */
export const HIGHLIGHT_LIMIT = 20_000;

/** The highlighted tree, or null for an unknown language or code too long to highlight. */
export function highlightCode(lang: string, code: string): Root | null {
  const name = lang.toLowerCase();
  if (code.length > HIGHLIGHT_LIMIT || !lowlight.registered(name)) return null;
  return lowlight.highlight(name, code);
}
