/**
 * Ingestion settings: the consumer's own environment variables, parsed once with zod.
 *
 * `loadIngestSettings(env)` returns frozen settings or throws a `ConfigError` whose
 * message has one line per wrong variable (name, what is wrong, how to fix it), like `loadConfig`.
 */

import { z } from 'zod';
import { ConfigError } from '../config/index.js';
import { DEFAULT_MAX_FUTURE_SECONDS, type ParseOptions, QUARANTINE_PREFIX_BYTES } from './message.js';

export interface IngestSettings {
  /** INGEST_POLLERS: concurrent ReceiveMessage long-polls. */
  readonly pollers: number;
  /** INGEST_WAIT_SECONDS: long-poll wait (SQS allows 0..20). */
  readonly waitSeconds: number;
  /** INGEST_VISIBILITY_SECONDS: visibility timeout asked for on receive, and per extension. */
  readonly visibilitySeconds: number;
  /** INGEST_MAX_BODY_BYTES: larger bodies are quarantined as oversized. */
  readonly maxBodyBytes: number;
  /** INGEST_MAX_FUTURE_SECONDS: readings further ahead of the consumer's clock are quarantined. */
  readonly maxFutureSeconds: number;
  /** INGEST_BATCH_MESSAGES: most messages written in one transaction. */
  readonly batchMessages: number;
  /** INGEST_LINGER_MS: how long a partial batch waits for more messages before it is written. */
  readonly lingerMs: number;
  /** INGEST_WRITERS: batches written at once, each in its own transaction and connection. */
  readonly writers: number;
  /** INGEST_MAX_IN_FLIGHT: received but not yet deleted messages before the pollers pause. */
  readonly maxInFlight: number;
  /**
   * INGEST_MAX_IN_FLIGHT_BYTES: bodies held (received, not yet deleted) before the pollers pause.
   * Each receive reserves room for 10 bodies of INGEST_MAX_BODY_BYTES, so it is never exceeded.
   */
  readonly maxInFlightBytes: number;
  /** INGEST_QUARANTINE_RETENTION_DAYS: quarantine rows older than this are deleted by the consumer. */
  readonly quarantineRetentionDays: number;
  /** INGEST_SHUTDOWN_TIMEOUT_SECONDS: how long a stop may keep retrying an unreachable database. */
  readonly shutdownTimeoutSeconds: number;
  /**
   * INGEST_STATEMENT_TIMEOUT_SECONDS: PostgreSQL cancels a statement of the consumer after this
   * long (a lock wait after half); the consumer gives up on a silent server a little later (pool.ts).
   */
  readonly statementTimeoutSeconds: number;
  /** METRICS_PORT: Prometheus endpoint (`/metrics`); 0 disables it. */
  readonly metricsPort: number;
}

/** Messages one ReceiveMessage returns at most (SQS limit). */
export const RECEIVE_MESSAGES = 10;

/** A whole number from min to max, `def` when unset or blank; the messages complete "VAR: "raw" ...". */
export const int = (min: number, max: number, def: number) =>
  z
    .string()
    .regex(/^\d+$/, { error: 'is not a whole number' })
    .transform(Number)
    .pipe(
      z
        .number()
        .min(min, { error: `is below ${min}` })
        .max(max, { error: `is above ${max}` }),
    )
    .default(def);

/** A settings group: per variable, its schema and how to fix a wrong value. */
export type SettingSpecs = Record<string, { schema: z.ZodType<number, string | undefined>; fix: string }>;

/**
 * Every variable of `specs` read from `env`, or a ConfigError with one line per wrong
 * variable (`VAR: "raw" problem. Fix: ...`). `check` sees the values once they all parse, and
 * answers the line of a wrong combination, if any.
 */
export function parseSettings<Specs extends SettingSpecs>(
  specs: Specs,
  env: Record<string, string | undefined>,
  check?: (values: Record<keyof Specs, number>) => string | undefined,
): Record<keyof Specs, number> {
  const lines: string[] = [];
  const values = {} as Record<keyof Specs, number>;
  for (const [variable, spec] of Object.entries(specs) as [keyof Specs & string, Specs[keyof Specs]][]) {
    const raw = env[variable]?.trim();
    const result = spec.schema.safeParse(raw === '' ? undefined : raw);
    if (result.success) values[variable] = result.data;
    else {
      const problem = result.error.issues[0]?.message ?? 'is invalid';
      lines.push(`${variable}: ${JSON.stringify(raw)} ${problem}. Fix: ${spec.fix}`);
    }
  }
  const combination = lines.length === 0 ? check?.(values) : undefined;
  if (combination) lines.push(combination);
  if (lines.length > 0) throw new ConfigError(lines);
  return values;
}

const SPECS = {
  INGEST_POLLERS: { schema: int(1, 64, 4), fix: 'use a number of concurrent pollers from 1 to 64' },
  INGEST_WAIT_SECONDS: {
    schema: int(0, 20, 20),
    fix: 'use a long-poll wait from 0 to 20 seconds (SQS maximum)',
  },
  INGEST_VISIBILITY_SECONDS: {
    schema: int(2, 43_200, 60),
    fix: 'use a visibility timeout from 2 to 43200 seconds',
  },
  INGEST_MAX_BODY_BYTES: {
    schema: int(256, 1_048_576, 131_072),
    fix: 'use a size in bytes from 256 to 1048576 (an MQTT message is at most 131072)',
  },
  INGEST_MAX_FUTURE_SECONDS: {
    schema: int(0, 86_400, DEFAULT_MAX_FUTURE_SECONDS),
    fix: 'use the device clock skew you accept, from 0 to 86400 seconds (default 300)',
  },
  INGEST_BATCH_MESSAGES: {
    schema: int(1, 5_000, 500),
    fix: 'use a number of messages per transaction from 1 to 5000',
  },
  INGEST_LINGER_MS: { schema: int(0, 10_000, 50), fix: 'use a delay from 0 to 10000 milliseconds' },
  INGEST_WRITERS: {
    schema: int(1, 16, 2),
    fix: 'use a number of batches written at once from 1 to 16 (each holds a database connection)',
  },
  INGEST_MAX_IN_FLIGHT: {
    schema: int(10, 100_000, 2_000),
    fix: 'use a number of unacknowledged messages from 10 to 100000',
  },
  INGEST_MAX_IN_FLIGHT_BYTES: {
    schema: int(2_560, 17_179_869_184, 67_108_864),
    fix: 'use a number of bytes of at least 10 x INGEST_MAX_BODY_BYTES (one receive), default 67108864 (64 MiB)',
  },
  INGEST_QUARANTINE_RETENTION_DAYS: {
    schema: int(1, 3_650, 30),
    fix: 'use a number of days from 1 to 3650',
  },
  INGEST_SHUTDOWN_TIMEOUT_SECONDS: {
    schema: int(1, 3_600, 25),
    fix: 'use a number of seconds from 1 to 3600',
  },
  INGEST_STATEMENT_TIMEOUT_SECONDS: {
    schema: int(1, 600, 15),
    fix: 'use a number of seconds from 1 to 600, well above a batch write (milliseconds when healthy)',
  },
  METRICS_PORT: { schema: int(0, 65_535, 9_464), fix: 'use a TCP port from 1 to 65535, or 0 to disable' },
} satisfies SettingSpecs;

export const INGEST_DEFAULTS: IngestSettings = loadIngestSettings({});

/**
 * What the consumer validates a message with. The API reads these two from its own environment
 * (give it the consumer's values) so that a quarantine replay validates as the consumer does.
 */
export type ValidationSettings = Pick<IngestSettings, 'maxBodyBytes' | 'maxFutureSeconds'>;

export function loadValidationSettings(env: Record<string, string | undefined>): ValidationSettings {
  const { INGEST_MAX_BODY_BYTES, INGEST_MAX_FUTURE_SECONDS } = SPECS;
  const out = parseSettings({ INGEST_MAX_BODY_BYTES, INGEST_MAX_FUTURE_SECONDS }, env);
  return Object.freeze({
    maxBodyBytes: out.INGEST_MAX_BODY_BYTES,
    maxFutureSeconds: out.INGEST_MAX_FUTURE_SECONDS,
  });
}

/** parseMessage's options from the settings. */
export function parseOptionsOf(settings: ValidationSettings): ParseOptions {
  return { maxBodyBytes: settings.maxBodyBytes, maxFutureMs: settings.maxFutureSeconds * 1000 };
}

export function loadIngestSettings(env: Record<string, string | undefined>): IngestSettings {
  const out = parseSettings(SPECS, env, (v) => {
    // One receive (10 messages, each kept as at most its body or an oversized body's prefix) must fit.
    const oneReceive = RECEIVE_MESSAGES * Math.max(v.INGEST_MAX_BODY_BYTES, QUARANTINE_PREFIX_BYTES);
    if (v.INGEST_MAX_IN_FLIGHT_BYTES >= oneReceive) return undefined;
    return (
      `INGEST_MAX_IN_FLIGHT_BYTES: "${v.INGEST_MAX_IN_FLIGHT_BYTES}" is below one receive of ${RECEIVE_MESSAGES} ` +
      `bodies of INGEST_MAX_BODY_BYTES (${oneReceive}). Fix: raise it to at least ${oneReceive}, or lower INGEST_MAX_BODY_BYTES`
    );
  });
  return Object.freeze({
    pollers: out.INGEST_POLLERS,
    waitSeconds: out.INGEST_WAIT_SECONDS,
    visibilitySeconds: out.INGEST_VISIBILITY_SECONDS,
    maxBodyBytes: out.INGEST_MAX_BODY_BYTES,
    maxFutureSeconds: out.INGEST_MAX_FUTURE_SECONDS,
    batchMessages: out.INGEST_BATCH_MESSAGES,
    lingerMs: out.INGEST_LINGER_MS,
    writers: out.INGEST_WRITERS,
    maxInFlight: out.INGEST_MAX_IN_FLIGHT,
    maxInFlightBytes: out.INGEST_MAX_IN_FLIGHT_BYTES,
    quarantineRetentionDays: out.INGEST_QUARANTINE_RETENTION_DAYS,
    shutdownTimeoutSeconds: out.INGEST_SHUTDOWN_TIMEOUT_SECONDS,
    statementTimeoutSeconds: out.INGEST_STATEMENT_TIMEOUT_SECONDS,
    metricsPort: out.METRICS_PORT,
  });
}
