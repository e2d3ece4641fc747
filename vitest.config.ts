import { defineConfig } from 'vitest/config';

export default defineConfig({
  test: {
    // Temporal's native bridge crashes inside worker threads; forks are separate processes.
    pool: 'forks',
    // Files share one Temporal test server, moto and PostgreSQL started by the global setup.
    fileParallelism: false,
    globalSetup: ['./test/support/global-setup.ts'],
    // `npm run record:histories` adds the recorder of the replay test's histories.
    include: ['test/**/*.test.ts', ...(process.env.RECORD_HISTORIES === '1' ? ['test/**/*.record.ts'] : [])],
    testTimeout: 120_000,
    hookTimeout: 180_000,
  },
});
