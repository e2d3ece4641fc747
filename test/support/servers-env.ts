/**
 * The environment of a product process a test starts on its own terms: the test run's servers
 * (global-setup) and PATH and HOME, nothing else of the test process (its keys, task queue, ...).
 */
import { inject } from 'vitest';

export function serversEnv(extra: Record<string, string> = {}): Record<string, string | undefined> {
  const stack = inject('stack');
  return {
    PATH: process.env.PATH,
    HOME: process.env.HOME,
    DATABASE_URL: stack.DATABASE_URL,
    TEMPORAL_ADDRESS: stack.TEMPORAL_ADDRESS,
    AWS_ENDPOINT_URL: stack.AWS_ENDPOINT_URL,
    AWS_REGION: stack.AWS_REGION,
    AWS_ACCESS_KEY_ID: stack.AWS_ACCESS_KEY_ID,
    AWS_SECRET_ACCESS_KEY: stack.AWS_SECRET_ACCESS_KEY,
    AWS_IOT_ROLE_ARN: stack.AWS_IOT_ROLE_ARN,
    ...extra,
  };
}
