import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal's native bridge crashes inside worker threads; forks are separate processes.
    pool: 'forks',
    // Files share one Temporal test server, moto and PostgreSQL started by the global setup.
    fileParallelism: false,
    globalSetup: ['./test/global-setup.ts'],
    include: ['test/**/*.test.ts'],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
