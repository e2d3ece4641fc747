/**
 * The consumer's side of the telemetry partitions (src/db/partitions.ts): once at start, then every
 * INGEST_PARTITION_MAINTENANCE_MINUTES, on its own connection. Every consumer process runs it; the
 * advisory lock in maintainPartitions makes that safe, and any one process keeps the partitions.
 * Ingestion never waits for it: a reading without its partition lands in the default partition
 * and is moved when the partition is created.
 */
import pg from 'pg';
import { maintainPartitions, PartitionMaintenanceError, type RetentionSettings } from '../db/partitions.js';
import { type Logger, serializeError } from '../logging/index.js';
import { type Periodic, startPeriodic } from '../metrics/periodic.js';
import { int, parseSettings, type SettingSpecs } from './settings.js';

export interface PartitionSettings extends RetentionSettings {
  /** INGEST_PARTITION_MAINTENANCE_MINUTES: minutes between two runs; 0 = never (another process keeps them). */
  readonly maintenanceMinutes: number;
}

const SPECS = {
  INGEST_RAW_RETENTION_DAYS: {
    schema: int(1, 3_650, 30),
    fix: 'use a number of days from 1 to 3650 (raw messages; default 30)',
  },
  INGEST_PROCESSED_RETENTION_DAYS: {
    schema: int(1, 36_500, 1_827),
    fix: 'use a number of days from 1 to 36500 (readings; default 1827, five years)',
  },
  INGEST_PARTITIONS_AHEAD_DAYS: {
    schema: int(1, 365, 7),
    fix: 'use a number of days from 1 to 365 (partitions created ahead of now)',
  },
  INGEST_PARTITION_MAINTENANCE_MINUTES: {
    schema: int(0, 1_440, 60),
    fix: 'use a number of minutes from 1 to 1440, or 0 to leave partitions to another process',
  },
} satisfies SettingSpecs;

/** The settings, or a ConfigError with one line per wrong variable (like loadIngestSettings). */
export function loadPartitionSettings(env: Record<string, string | undefined>): PartitionSettings {
  const out = parseSettings(SPECS, env, (v) =>
    v.INGEST_RAW_RETENTION_DAYS > v.INGEST_PROCESSED_RETENTION_DAYS
      ? `INGEST_RAW_RETENTION_DAYS: ${v.INGEST_RAW_RETENTION_DAYS} is longer than INGEST_PROCESSED_RETENTION_DAYS (${v.INGEST_PROCESSED_RETENTION_DAYS}). Fix: keep raw messages no longer than the readings made from them`
      : undefined,
  );
  return Object.freeze({
    rawRetentionDays: out.INGEST_RAW_RETENTION_DAYS,
    processedRetentionDays: out.INGEST_PROCESSED_RETENTION_DAYS,
    aheadDays: out.INGEST_PARTITIONS_AHEAD_DAYS,
    maintenanceMinutes: out.INGEST_PARTITION_MAINTENANCE_MINUTES,
  });
}

export const PARTITION_DEFAULTS: PartitionSettings = loadPartitionSettings({});

export type PartitionMaintainer = Periodic;

export function startPartitionMaintainer(
  databaseUrl: string,
  settings: PartitionSettings,
  logger: Logger,
): PartitionMaintainer {
  if (settings.maintenanceMinutes === 0) return { stop: async () => undefined };
  return startPeriodic(settings.maintenanceMinutes * 60_000, async () => {
    // Its own connection: the advisory lock is a session's, and the consumer's pool stays free.
    const client = new pg.Client({
      connectionString: databaseUrl,
      application_name: 'solar-iot-partitions',
    });
    client.on('error', () => undefined); // a lost connection fails the query below
    try {
      await client.connect();
      const result = await maintainPartitions(client, settings);
      if (result.created.length + result.dropped.length + result.deletedFromDefault > 0)
        logger.info(result, 'telemetry partitions maintained');
    } catch (err) {
      // A partial failure still did the rest (partitions ahead created): say what.
      const done = err instanceof PartitionMaintenanceError ? { result: err.result } : {};
      logger.warn(
        { err: serializeError(err), ...done },
        'telemetry partition maintenance failed; retried next run',
      );
    } finally {
      await client.end().catch(() => undefined);
    }
  });
}
