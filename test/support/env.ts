/**
 * What test/support/global-setup.ts hands to every test file. The same values are in process.env of the
 * test workers (vitest forks inherit the main process' environment after global setup), so code
 * under test that reads its configuration from the environment works unchanged.
 */
export interface StackEnv {
  DATABASE_URL: string;
  TEMPORAL_ADDRESS: string;
  /** `existing-path` executable for TestWorkflowEnvironment.createTimeSkipping; '' = SDK download. */
  TEMPORAL_TEST_SERVER_PATH: string;
  AWS_ENDPOINT_URL: string;
  AWS_REGION: string;
  AWS_ACCESS_KEY_ID: string;
  AWS_SECRET_ACCESS_KEY: string;
  AWS_IOT_ROLE_ARN: string;
  ENCRYPTION_KEY: string;
}

/** The test run's Temporal Web UI, configured as `npm start` configures it (global-setup.ts). */
export interface WebUiEnv {
  url: string;
  /** Where the UI's codec endpoint points: the test that opens the UI starts the codec server. */
  codecPort: number;
  /** The codec server's token (CODEC_SERVER_TOKEN_FILE), also in the UI's codec endpoint. */
  codecTokenFile: string;
}

declare module 'vitest' {
  export interface ProvidedContext {
    stack: StackEnv;
    /** null when the caller's TEMPORAL_ADDRESS replaces the dev server. */
    webUi: WebUiEnv | null;
    /** The run's throw-away folder (removed after the run): what tests build once per run goes here. */
    workDir: string;
  }
}

export const STACK_ENV_KEYS = [
  'DATABASE_URL',
  'TEMPORAL_ADDRESS',
  'TEMPORAL_TEST_SERVER_PATH',
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_IOT_ROLE_ARN',
  'ENCRYPTION_KEY',
] as const satisfies readonly (keyof StackEnv)[];

/** A fixed, obviously-test-only key: 64 hex characters. */
export const TEST_ENCRYPTION_KEY = '0123456789abcdef'.repeat(4);
