/**
 * Temporal helpers for tests.
 *
 * - createTimeSkippingEnv(): the Java time-skipping test server obtained by tools/stack/tools.ts
 *   (`existing-path`), or the SDK's own download when the global setup found no Java/Maven.
 * - createDevServerEnv(): the Temporal dev server the global setup started (real server,
 *   search attributes PlantId and IotStatus registered), for tests that need visibility.
 * - workflowsPath: the tiny test workflows in test/support/workflows.
 */
import { fileURLToPath } from 'node:url';
import type { DataConverter } from '@temporalio/common';
import proto from '@temporalio/proto';
import { TestWorkflowEnvironment } from '@temporalio/testing';
import { DefaultLogger, Runtime } from '@temporalio/worker';
import { inject } from 'vitest';
import { SEARCH_ATTRIBUTES } from '../../src/setup/search-attributes.js';

export const testWorkflowsPath = fileURLToPath(new URL('./workflows/index.ts', import.meta.url));

const INSTALLED = Symbol.for('solar-iot.test-runtime-installed');

/**
 * Installs the Temporal Runtime once per process with a quieter logger (WARN). Safe to call
 * many times; does nothing when a Runtime already exists.
 */
export function installTestRuntime(): void {
  const g = globalThis as Record<symbol, unknown>;
  if (g[INSTALLED]) return;
  g[INSTALLED] = true;
  try {
    Runtime.install({ logger: new DefaultLogger('WARN') });
  } catch {
    // already instantiated by something else in this process: keep that one
  }
}

/** Options of a test environment: the data converter (codec) of its client, if any. */
export interface TestEnvOptions {
  dataConverter?: DataConverter | undefined;
}

/**
 * A fresh time-skipping test server (its own JVM, about 0.5-1.5 s) with the project's search
 * attributes (PlantId, IotStatus) registered, as the dev server has them.
 */
export async function createTimeSkippingEnv(options: TestEnvOptions = {}): Promise<TestWorkflowEnvironment> {
  installTestRuntime();
  const path = inject('stack').TEMPORAL_TEST_SERVER_PATH;
  const env = await TestWorkflowEnvironment.createTimeSkipping({
    ...(path ? { server: { executable: { type: 'existing-path', path } } } : {}),
    ...(options.dataConverter ? { client: { dataConverter: options.dataConverter } } : {}),
  });
  try {
    await registerSearchAttributes(env);
  } catch (err) {
    await env.teardown();
    throw err;
  }
  return env;
}

const KEYWORD = proto.temporal.api.enums.v1.IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;
const GRPC_ALREADY_EXISTS = 6;

/** The test server starts without custom search attributes; workflows that upsert them need them. */
export async function registerSearchAttributes(env: TestWorkflowEnvironment): Promise<void> {
  const searchAttributes = Object.fromEntries(SEARCH_ATTRIBUTES.map((a) => [a.name, KEYWORD]));
  try {
    await env.connection.operatorService.addSearchAttributes({
      namespace: env.namespace ?? 'default',
      searchAttributes,
    });
  } catch (err) {
    // A shared server (SOLAR_IOT_TEST_SERVER=shared) already has them from an earlier environment.
    if ((err as { code?: number }).code !== GRPC_ALREADY_EXISTS) throw err;
  }
}

/** The dev server the global setup started: a real server with visibility and schedules. */
export async function createDevServerEnv(options: TestEnvOptions = {}): Promise<TestWorkflowEnvironment> {
  installTestRuntime();
  return await TestWorkflowEnvironment.createFromExistingServer({
    address: inject('stack').TEMPORAL_ADDRESS,
    ...(options.dataConverter ? { client: { dataConverter: options.dataConverter } } : {}),
  });
}

/** A task queue name unique to one test, so workers of different tests never share tasks. */
export function uniqueTaskQueue(prefix = 'test'): string {
  return `${prefix}-${process.pid}-${Date.now().toString(36)}-${Math.random().toString(36).slice(2, 8)}`;
}
