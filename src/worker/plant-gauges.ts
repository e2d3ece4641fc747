/**
 * The plant gauges of the worker's registry, from PostgreSQL (the record every workflow keeps
 * current), not from counters of this process: a fleet's workers each see every plant, so a
 * provision stuck on another worker, or started before this one, is seen too. Every worker
 * process computes the same numbers; alert on max() of them.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { type Logger, serializeError } from '../logging/index.js';
import { type Periodic, startPeriodic } from '../metrics/periodic.js';
import type { WorkerMetrics } from './metrics.js';

export const PLANT_GAUGES_EVERY_MS = 30_000;

/** Counts the plants per IoT status now and sets the gauges (throws what PostgreSQL throws). */
export async function countPlants(db: Db, metrics: WorkerMetrics): Promise<void> {
  // updated_at is set with every status change (plant-records.ts): its age is the time in the status.
  const { rows } = await db.execute<{ iot_status: string; plants: number; oldest_seconds: number }>(sql`
    select iot_status, count(*)::int as plants,
           coalesce(extract(epoch from now() - min(updated_at)), 0)::float8 as oldest_seconds
    from plants group by iot_status`);
  metrics.setPlants(
    new Map(
      rows.map((r) => [r.iot_status, { plants: r.plants, oldestSeconds: Math.max(0, r.oldest_seconds) }]),
    ),
  );
}

export function startPlantGauges(db: Db, metrics: WorkerMetrics, logger: Logger): Periodic {
  return startPeriodic(PLANT_GAUGES_EVERY_MS, () =>
    countPlants(db, metrics).catch((err: unknown) =>
      // The gauges keep their last values; the next run tries again.
      logger.warn({ err: serializeError(err) }, 'counting plants for the metrics failed'),
    ),
  );
}
