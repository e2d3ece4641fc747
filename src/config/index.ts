/**
 * Configuration: every environment variable is parsed and validated once, at start-up, and a
 * wrong one stops the process with a ConfigError (one line per variable). This folder holds the
 * variables every process shares (`loadConfig`); each feature's own variables are read by its
 * settings module, and src/app composes, per process, the sections that process needs.
 */
export { checkAwsCredentials, defaultDeadLetterQueueUrl, isAwsIotEnabled } from './aws.js';
export type { Env } from './env.js';
export { ConfigError, type ConfigIssue, ConfigProblems, readAll } from './error.js';
export { deepFreeze } from './freeze.js';
export { type LoadConfigOptions, loadConfig } from './load.js';
export { getConfig, summarizeConfig } from './summary.js';
export * from './types.js';
