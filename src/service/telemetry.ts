/**
 * Reading telemetry back: time buckets of processed_data per device and metric, and the latest
 * value of every metric per device. Every query names the plant and a time range (or one device
 * and metric), so it stays on the (plant, metric, time) indexes and within one plant's rows.
 */
import { type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { formatDuration } from './durations.js';
import { InvalidInputError, mapDbError } from './errors.js';
import { assertName, resolveTelemetryWindow, type TelemetryQueryOptions } from './telemetry-window.js';

export {
  DEFAULT_TARGET_BUCKETS,
  DEFAULT_TELEMETRY_RANGE_SECONDS,
  MAX_TELEMETRY_BUCKETS,
  MAX_TELEMETRY_RANGE_DAYS,
  resolveTelemetryWindow,
  type TelemetryQueryOptions,
} from './telemetry-window.js';

/** Most points (bucket x device x metric) in one answer: narrow with metric or device beyond. */
export const MAX_TELEMETRY_POINTS = 50_000;
/** Most distinct metrics of a plant a latest answer looks at. */
export const MAX_LATEST_METRICS = 1_000;
/** A latest answer holds the metrics a device reported this long before its last reading. */
export const LATEST_LOOKBACK_HOURS = 24;
/** Buckets are aligned on multiples of their size since this instant (UTC midnight, whole hours...). */
const BUCKET_ORIGIN = '1970-01-01T00:00:00Z';

export interface TelemetryPoint {
  /** Start of the bucket (buckets are aligned on multiples of their size since 1970-01-01 UTC). */
  start: string;
  avg: number;
  min: number;
  max: number;
  /** The value of the bucket's latest reading. */
  last: number;
  /** Readings in the bucket. */
  count: number;
}

export interface TelemetrySeries {
  deviceId: string;
  metric: string;
  /** Buckets with at least one reading, in time order (empty buckets are left out). */
  points: TelemetryPoint[];
}

export interface TelemetryView {
  plantId: string;
  from: string;
  to: string;
  bucket: string;
  bucketSeconds: number;
  /** By device, then metric. */
  series: TelemetrySeries[];
}

export interface LatestMetric {
  metric: string;
  value: number;
  timestamp: string;
}

export interface LatestDevice {
  deviceId: string;
  /** Its last accepted reading (device_last_reading). */
  lastReadingAt: string;
  metrics: LatestMetric[];
}

/** Devices the ingest write path has seen, with each metric reported in the 24 h before their last reading. */
export interface LatestTelemetryView {
  plantId: string;
  devices: LatestDevice[];
}

/** One bucket of one device's metric, as the query returns it. */
interface BucketRow extends TelemetryPoint, Record<string, unknown> {
  device_id: string;
  metric: string;
}

interface LatestRow extends Record<string, unknown> {
  device_id: string;
  last_reading_at: string;
  metric: string;
  timestamp: string;
  value: number;
}

/** A timestamptz as JavaScript's toISOString() writes it (UTC, milliseconds). */
function isoText(column: SQL): SQL {
  return sql`to_char(${column} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`;
}

/** PostgreSQL's numeric_value_out_of_range (22003), possibly wrapped by drizzle. */
function isOverflow(error: unknown): boolean {
  for (let e: unknown = error, depth = 0; e && depth < 4; e = (e as { cause?: unknown }).cause, depth++)
    if ((e as { code?: unknown }).code === '22003') return true;
  return false;
}

async function guarded<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw mapDbError(error);
  }
}

interface BucketQuery {
  plantId: string;
  /** ISO instants: from inclusive, to exclusive. */
  from: string;
  to: string;
  bucketSeconds: number;
  metric?: string | undefined;
  device?: string | undefined;
}

/** At most MAX_TELEMETRY_POINTS + 1 rows, so the caller can tell that the answer would be too large. */
function queryBuckets(db: Db, { plantId, from, to, bucketSeconds, metric, device }: BucketQuery) {
  const query = (average: SQL) =>
    db.execute<BucketRow>(sql`
      SELECT device_id, metric, ${isoText(sql.raw('start'))} AS start, avg, min, max, last, count
        FROM (
          SELECT device_id, tag_id AS metric,
                 date_bin(make_interval(secs => ${bucketSeconds}), "timestamp", ${BUCKET_ORIGIN}::timestamptz) AS start,
                 ${average} AS avg, min(value) AS min, max(value) AS max,
                 (array_agg(value ORDER BY "timestamp" DESC))[1] AS last,
                 count(*)::int AS count
            FROM processed_data
           WHERE plant_id = ${plantId}
             AND "timestamp" >= ${from}::timestamptz AND "timestamp" < ${to}::timestamptz
             ${metric === undefined ? sql`` : sql`AND tag_id = ${metric}`}
             ${device === undefined ? sql`` : sql`AND device_id = ${device}`}
           GROUP BY device_id, tag_id, 3
           ORDER BY device_id, tag_id, 3
           LIMIT ${MAX_TELEMETRY_POINTS + 1}) b
       ORDER BY device_id, metric, b.start`);
  // float8 avg raises "value out of range: overflow" once a bucket's sum passes
  // Number.MAX_VALUE (one device can send that): then again with a numeric sum, slower but
  // exact. Through text: float8 -> numeric keeps 15 digits, and 1.79769313486232e308 is no double.
  return guarded(() =>
    query(sql`avg(value)`).catch((error: unknown) => {
      if (!isOverflow(error)) throw error;
      return query(sql`avg(value::text::numeric)::float8`);
    }),
  );
}

/** Rows ordered by device, metric and time, grouped into one series per device and metric. */
function toSeries(rows: BucketRow[]): TelemetrySeries[] {
  const series: TelemetrySeries[] = [];
  for (const row of rows) {
    let current = series.at(-1);
    if (!current || current.deviceId !== row.device_id || current.metric !== row.metric) {
      current = { deviceId: row.device_id, metric: row.metric, points: [] };
      series.push(current);
    }
    current.points.push({
      start: row.start,
      avg: Number(row.avg),
      min: Number(row.min),
      max: Number(row.max),
      last: Number(row.last),
      count: Number(row.count),
    });
  }
  return series;
}

/** Rows ordered by device and metric, grouped per device. */
function toDevices(rows: LatestRow[]): LatestDevice[] {
  const devices: LatestDevice[] = [];
  for (const row of rows) {
    const { timestamp } = row;
    let current = devices.at(-1);
    if (!current || current.deviceId !== row.device_id) {
      current = { deviceId: row.device_id, lastReadingAt: row.last_reading_at, metrics: [] };
      devices.push(current);
    }
    current.metrics.push({ metric: row.metric, value: Number(row.value), timestamp });
  }
  return devices;
}

export function telemetryRepository(db: Db) {
  return {
    async buckets(plantId: string, options: TelemetryQueryOptions, now = Date.now()): Promise<TelemetryView> {
      assertName(options.metric, 'metric');
      assertName(options.device, 'device');
      const { fromMs, toMs, bucketSeconds } = resolveTelemetryWindow(options, now);
      const from = new Date(fromMs).toISOString();
      const to = new Date(toMs).toISOString();
      const result = await queryBuckets(db, {
        plantId,
        from,
        to,
        bucketSeconds,
        metric: options.metric,
        device: options.device,
      });
      if (result.rows.length > MAX_TELEMETRY_POINTS)
        throw new InvalidInputError(
          `The answer would hold more than ${MAX_TELEMETRY_POINTS} points (MAX_TELEMETRY_POINTS, buckets x devices x metrics): narrow it with metric or device, a larger bucket or a shorter range`,
          'too_many_points',
        );
      return {
        plantId,
        from,
        to,
        bucket: formatDuration(bucketSeconds),
        bucketSeconds,
        series: toSeries(result.rows),
      };
    },

    /**
     * The latest value of every metric of every device, within LATEST_LOOKBACK_HOURS of the
     * device's last reading (device_last_reading). The plant's metrics come from a skip scan of
     * the (plant, metric, time) key, then one backwards probe per device and metric from the
     * device's last reading: a few index pages per series, not the plant's history.
     */
    async latest(plantId: string): Promise<LatestTelemetryView> {
      const result = await guarded(() =>
        db.execute<LatestRow>(sql`
          WITH RECURSIVE tags(tag_id, n) AS (
            (SELECT tag_id, 1 FROM processed_data WHERE plant_id = ${plantId} ORDER BY tag_id LIMIT 1)
            UNION ALL
            SELECT nxt.tag_id, t.n + 1 FROM tags t
            CROSS JOIN LATERAL (
              SELECT tag_id FROM processed_data
               WHERE plant_id = ${plantId} AND tag_id > t.tag_id
               ORDER BY tag_id LIMIT 1) nxt
             WHERE t.n < ${MAX_LATEST_METRICS}
          )
          SELECT d.device_id, t.tag_id AS metric, ${isoText(sql`d.last_reading_at`)} AS last_reading_at,
                 ${isoText(sql`l."timestamp"`)} AS "timestamp", l.value
            FROM device_last_reading d
           CROSS JOIN tags t
           CROSS JOIN LATERAL (
             SELECT "timestamp", value FROM processed_data
              WHERE plant_id = ${plantId} AND tag_id = t.tag_id AND device_id = d.device_id
                AND "timestamp" <= d.last_reading_at
                AND "timestamp" > d.last_reading_at - make_interval(hours => ${LATEST_LOOKBACK_HOURS})
              ORDER BY "timestamp" DESC LIMIT 1) l
           WHERE d.plant_id = ${plantId}
           ORDER BY d.device_id, t.tag_id`),
      );
      return { plantId, devices: toDevices(result.rows) };
    },
  };
}
