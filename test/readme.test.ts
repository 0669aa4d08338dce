/** The README's promises that code can check: here, that its API table is the router's. */
import { readFileSync } from 'node:fs';
import { resolve } from 'node:path';
import { describe, expect, it } from 'vitest';
import { ROUTES } from '../src/main/core/server/api';

const readme = readFileSync(resolve(__dirname, '..', 'README.md'), 'utf8');

/** Rows of the README's route table: | `METHOD` | `/path/{name}` | ... | */
const documented = [...readme.matchAll(/^\| `(GET|POST|PUT|DELETE|PATCH)` \| `(\/[^`]+)` \|/gm)].map(([, method, path]) => ({ method, path }));
const concrete = (path: string) => path.replace(/\{name\}/g, 'some-model');

describe('README', () => {
  it('the API section names every route with its HTTP method, and no route that does not exist', () => {
    expect(documented.length).toBeGreaterThan(0);
    for (const route of ROUTES) {
      const rows = documented.filter((d) => d.method === route.method && route.pattern.test(concrete(d.path)));
      expect(rows, `README lists no "${route.method} ${route.pattern.source}"`).not.toHaveLength(0);
    }
    for (const d of documented) {
      const served = ROUTES.filter((r) => r.pattern.test(concrete(d.path))).map((r) => r.method);
      expect(served, `README's "${d.method} ${d.path}"`).toContain(d.method);
    }
  });
});
