import { defineConfig } from 'vitest/config';

// Tests spawn real backend processes; on a 2-core machine parallel files starve each other
// and turn timing-based checks flaky, so files run one after another.
export default defineConfig({
  test: {
    include: ['src/**/*.test.ts', 'test/**/*.test.ts', 'scripts/**/*.test.ts'],
    fileParallelism: false,
    pool: 'forks',
    testTimeout: 60_000,
    hookTimeout: 60_000,
    reporters: ['default'],
  },
});
