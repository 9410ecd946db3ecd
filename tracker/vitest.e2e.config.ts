import { defineConfig } from 'vitest/config';

// Real-browser tests: one Chromium, files run one after another (2 shared cores).
export default defineConfig({
  test: {
    include: ['e2e/**/*.e2e.test.ts'],
    environment: 'node',
    testTimeout: 90_000,
    hookTimeout: 60_000,
    fileParallelism: false,
  },
});
