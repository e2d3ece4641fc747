/** Whether the service can answer: Temporal, PostgreSQL and AWS probed at once, each with a deadline. */
import { setTimeout as sleep } from 'node:timers/promises';
import type { Client } from '@temporalio/client';
import { sql } from 'drizzle-orm';
import type { Config, IotMode } from '../config/index.js';
import type { Db } from '../db/client.js';
import type { IotBackend } from './mode.js';

export interface ReadinessCheck {
  ok: boolean;
  /** A failing check that is not required (Temporal while IoT is disabled) keeps the service ready. */
  required: boolean;
  detail: string;
  latencyMs: number;
}

export interface Readiness {
  ready: boolean;
  iotMode: IotMode;
  checks: {
    temporal: ReadinessCheck;
    postgresql: ReadinessCheck;
    aws: ReadinessCheck;
    /** Not required: the depth of the telemetry rules' dead-letter queue, in its detail. */
    deadLetters: ReadinessCheck;
  };
}

export interface ReadinessDeps {
  config: Config;
  backend: IotBackend;
  temporal: Client;
  db: Db;
  /** How long each probe may take. */
  timeoutMs: number;
}

async function withTimeout<T>(ms: number, what: string, run: () => Promise<T>): Promise<T> {
  const timer = new AbortController();
  try {
    return await Promise.race([
      run(),
      sleep(ms, undefined, { signal: timer.signal }).then(() => {
        throw new Error(`${what} did not answer within ${ms} ms`);
      }),
    ]);
  } finally {
    timer.abort();
  }
}

/** One check: `run` answers the detail of a success; its first error line is the detail of a failure. */
async function probe(
  timeoutMs: number,
  required: boolean,
  what: string,
  run: () => Promise<string>,
): Promise<ReadinessCheck> {
  const t0 = performance.now();
  try {
    const detail = await withTimeout(timeoutMs, what, run);
    return { ok: true, required, detail, latencyMs: Math.round(performance.now() - t0) };
  } catch (error) {
    const message = error instanceof Error ? error.message.split('\n')[0] : String(error);
    return {
      ok: false,
      required,
      detail: `${what}: ${message}`,
      latencyMs: Math.round(performance.now() - t0),
    };
  }
}

export async function checkReadiness(deps: ReadinessDeps): Promise<Readiness> {
  const { config, backend, temporal, db, timeoutMs } = deps;
  const [temporalCheck, postgresql, aws, deadLetters] = await Promise.all([
    // With IoT disabled no workflow runs, so Temporal being down does not make the service unready.
    probe(timeoutMs, backend.mode !== 'disabled', 'Temporal', async () => {
      await temporal.connection.withDeadline(Date.now() + timeoutMs, () =>
        temporal.workflowService.getSystemInfo({}),
      );
      return `reachable at ${config.temporal.address}`;
    }),
    probe(timeoutMs, true, 'PostgreSQL', async () => {
      await db.execute(sql`select 1`);
      return 'reachable';
    }),
    probe(timeoutMs, backend.mode === 'aws', 'AWS IoT', () => backend.probeAws()),
    // Failed deliveries are not a reason to stop answering, and neither is a missing queue: both
    // are for an operator (the detail, the consumer's ingest_dead_letter_messages gauge).
    probe(timeoutMs, false, 'Dead-letter queue', async () => {
      if (backend.mode !== 'aws') return `not used (${backend.disabledReason ?? 'mock mode'})`;
      const { messages, queueUrl } = await backend.deadLetters();
      return `${messages} failed rule deliveries waiting in ${queueUrl}`;
    }),
  ]);
  const checks = { temporal: temporalCheck, postgresql, aws, deadLetters };
  const ready = Object.values(checks).every((c) => c.ok || !c.required);
  return { ready, iotMode: backend.mode, checks };
}
