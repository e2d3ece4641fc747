/**
 * A command run as in a second terminal next to `npm start`: the test run's shell without what
 * `npm start` gives its own processes (keys, tokens, the emulator, the task queue), so whatever
 * the command needs beyond it comes from the stack's state file (src/app/stack-state.ts).
 */
/** Set by the test run (global-setup) or npm start for its children; a user's shell has none of them. */
const NOT_IN_A_USERS_SHELL = [
  'AWS_ENDPOINT_URL',
  'AWS_REGION',
  'AWS_ACCESS_KEY_ID',
  'AWS_SECRET_ACCESS_KEY',
  'AWS_IOT_ROLE_ARN',
  'AWS_SQS_QUEUE_URL',
  'MOTO_IOT_CA_FILE',
  'ENCRYPTION_KEY',
  'TEMPORAL_CODEC_KEYS',
  'TEMPORAL_TASK_QUEUE',
  'API_TOKEN',
  'SOLAR_IOT_REAL_AWS',
  'SOLAR_IOT_API_URL',
  'SOLAR_IOT_API_TOKEN',
  'SOLAR_IOT_API_TOKEN_FILE',
];

/**
 * The environment of the second terminal: the test process' own (DATABASE_URL and
 * TEMPORAL_ADDRESS stay: the test gave them to `npm start` too, as a user with their own
 * PostgreSQL and Temporal would) without NOT_IN_A_USERS_SHELL, plus `extra`.
 */
export function secondTerminal(extra: Record<string, string>): Record<string, string | undefined> {
  const env: Record<string, string | undefined> = { ...process.env };
  for (const k of NOT_IN_A_USERS_SHELL) delete env[k];
  return { ...env, ...extra };
}
