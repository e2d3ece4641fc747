/**
 * The set-up every provisioning test file shares, as vitest hooks: a Temporal environment and a
 * ProvisioningHarness on it for the whole file (closed after it), and before each test moto reset,
 * injected faults cleared and the telemetry queue created again.
 *
 *   const t = useProvisioningHarness({ server: 'dev-server' });
 *   it('...', async () => { await t.h.withWorker({}, ...); t.env.client... });
 */
import type { TestWorkflowEnvironment } from '@temporalio/testing';
import { afterAll, beforeAll, beforeEach } from 'vitest';
import { resetMoto } from './moto.js';
import { ProvisioningHarness } from './provisioning-harness.js';
import { createDevServerEnv, createTimeSkippingEnv } from './temporal.js';

export interface ProvisioningHarnessOptions<H extends ProvisioningHarness> {
  /**
   * The Temporal environment: a fresh time-skipping test server (the default), the dev server the
   * global setup started, or one the file creates itself (e.g. with a data converter).
   */
  server?: 'time-skipping' | 'dev-server' | (() => Promise<TestWorkflowEnvironment>);
  /** The harness on that environment; `new ProvisioningHarness(env)` unless given. */
  harness?: (env: TestWorkflowEnvironment) => H;
  /** More per-test set-up: after moto is reset and the faults cleared, before the queue is created. */
  beforeEach?: (h: H) => void | Promise<void>;
}

export interface ProvisioningHarnessContext<H extends ProvisioningHarness> {
  /** The file's Temporal environment (from its beforeAll on). */
  readonly env: TestWorkflowEnvironment;
  /** The file's harness (from its beforeAll on). */
  readonly h: H;
}

/** Registers the file's beforeAll / afterAll / beforeEach; call it at the top level of a test file. */
export function useProvisioningHarness<H extends ProvisioningHarness = ProvisioningHarness>(
  options: ProvisioningHarnessOptions<H> = {},
): ProvisioningHarnessContext<H> {
  const { server = 'time-skipping' } = options;
  const createEnv =
    server === 'time-skipping'
      ? createTimeSkippingEnv
      : server === 'dev-server'
        ? createDevServerEnv
        : server;
  const createHarness =
    options.harness ?? ((env: TestWorkflowEnvironment) => new ProvisioningHarness(env) as H);
  let env: TestWorkflowEnvironment | undefined;
  let h: H | undefined;

  beforeAll(async () => {
    env = await createEnv();
    h = createHarness(env);
  });

  afterAll(async () => {
    await h?.close();
    await env?.teardown();
  });

  beforeEach(async () => {
    await resetMoto();
    context.h.faults.clear();
    await options.beforeEach?.(context.h);
    await context.h.createQueue();
  });

  const context: ProvisioningHarnessContext<H> = {
    get env() {
      if (!env)
        throw new Error('useProvisioningHarness: no environment yet (its beforeAll has not run or failed)');
      return env;
    },
    get h() {
      if (!h) throw new Error('useProvisioningHarness: no harness yet (its beforeAll has not run or failed)');
      return h;
    },
  };
  return context;
}
