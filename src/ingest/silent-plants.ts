/**
 * The `ingest_silent_plants` gauge: active plants with no accepted reading for
 * INGEST_SILENT_AFTER_SECONDS (plants that never sent one included), counted from
 * device_last_reading once at start and then every INGEST_SILENT_CHECK_SECONDS. Every consumer
 * process computes the same number; alert on max() of it.
 */
import type pg from 'pg';
import { type Logger, serializeError } from '../logging/index.js';
import { type Periodic, startPeriodic } from '../metrics/periodic.js';
import { COUNT_SILENT_PLANTS_SQL } from '../service/silence.js';
import type { IngestMetrics } from './metrics.js';
import { int, parseSettings, type SettingSpecs } from './settings.js';

export interface SilentPlantsSettings {
  /** INGEST_SILENT_AFTER_SECONDS: a plant without a reading for this long is silent. */
  readonly afterSeconds: number;
  /** INGEST_SILENT_CHECK_SECONDS: seconds between two counts; 0 = never (the gauge is not exported). */
  readonly checkSeconds: number;
}

const SPECS = {
  INGEST_SILENT_AFTER_SECONDS: {
    schema: int(60, 2_592_000, 900),
    fix: 'use a number of seconds from 60 to 2592000 (30 days); default 900 (15 minutes)',
  },
  INGEST_SILENT_CHECK_SECONDS: {
    schema: int(0, 3_600, 60),
    fix: 'use a number of seconds from 1 to 3600, or 0 to not count silent plants',
  },
} satisfies SettingSpecs;

/** The settings, or a ConfigError with one line per wrong variable (like loadIngestSettings). */
export function loadSilentPlantsSettings(env: Record<string, string | undefined>): SilentPlantsSettings {
  const out = parseSettings(SPECS, env);
  return Object.freeze({
    afterSeconds: out.INGEST_SILENT_AFTER_SECONDS,
    checkSeconds: out.INGEST_SILENT_CHECK_SECONDS,
  });
}

/** Counts silent plants now, sets the gauge and answers the count (throws what PostgreSQL throws). */
export async function countSilentPlants(
  pool: Pick<pg.Pool, 'query'>,
  metrics: IngestMetrics,
  afterSeconds: number,
): Promise<number> {
  const { rows } = await pool.query<{ silent: number }>(COUNT_SILENT_PLANTS_SQL, [afterSeconds]);
  const silent = rows[0]?.silent ?? 0;
  metrics.silentPlants.set(silent);
  return silent;
}

export type SilentPlantsMonitor = Periodic;

export function startSilentPlantsMonitor(
  pool: Pick<pg.Pool, 'query'>,
  metrics: IngestMetrics,
  settings: SilentPlantsSettings,
  logger: Logger,
): SilentPlantsMonitor {
  if (settings.checkSeconds === 0) {
    // A gauge nobody sets would read 0, "no silent plant": better no series at all.
    metrics.registry.removeSingleMetric('ingest_silent_plants');
    return { stop: async () => undefined };
  }
  return startPeriodic(settings.checkSeconds * 1_000, () =>
    countSilentPlants(pool, metrics, settings.afterSeconds).then(
      () => undefined,
      // The gauge keeps its last value; the next run tries again.
      (err: unknown) => logger.warn({ err: serializeError(err) }, 'counting silent plants failed'),
    ),
  );
}
