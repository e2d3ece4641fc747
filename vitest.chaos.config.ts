import { defineConfig } from 'vitest/config';

/**
 * `npm run test:chaos`: fault-injection tests with real processes (test/chaos). Each file starts
 * its own PostgreSQL, moto and Temporal dev server (restartable, state in SQLite) and kills or
 * pauses them; files run one at a time. Named *.chaos.ts so that `npm test` never picks them up.
 */
export default defineConfig({
  test: {
    pool: 'forks',
    fileParallelism: false,
    include: ['test/chaos/**/*.chaos.ts'],
    exclude: ['test/chaos/tmp-*.chaos.ts'],
    testTimeout: 900_000,
    hookTimeout: 300_000,
    reporters: ['default'],
  },
});
