import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    include: ['test/**/*.test.ts'],
    environment: 'node',
    // Property tests run thousands of cases: on a shared, loaded CI machine
    // the 5 s default timed out a 2,000-case test that took ~2 s idle. No
    // test here measures time; the benches do.
    testTimeout: 60_000,
  },
});
