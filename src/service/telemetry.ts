/**
 * Reading telemetry back: time buckets of processed_data per device and metric, and the latest
 * value of every metric per device. Every query names the plant and a time range (or one device
 * and metric), so it stays on the (plant, metric, time) indexes and within one plant's rows.
 */
import { type SQL, sql } from 'drizzle-orm';
import type { Db } from '../activities/deps.js';
import { formatDuration, parseDuration } from './durations.js';
import { InvalidInputError, mapDbError } from './errors.js';

/** Longest from..to of one request. */
export const MAX_TELEMETRY_RANGE_DAYS = 366;
/** Most buckets from..to may span at the chosen bucket size (per device and metric). */
export const MAX_TELEMETRY_BUCKETS = 1_000;
/** Most points (bucket x device x metric) in one answer: narrow with metric or device beyond. */
export const MAX_TELEMETRY_POINTS = 50_000;
/** Most distinct metrics of a plant a latest answer looks at. */
export const MAX_LATEST_METRICS = 1_000;
/** A latest answer holds the metrics a device reported this long before its last reading. */
export const LATEST_LOOKBACK_HOURS = 24;
/** Without `from`: this long before `to`. */
export const DEFAULT_TELEMETRY_RANGE_SECONDS = 24 * 3_600;
/** Without `bucket`: the smallest of NICE_BUCKETS giving at most this many buckets (a sparkline's width). */
export const DEFAULT_TARGET_BUCKETS = 60;
const NICE_BUCKETS = [
  1, 5, 10, 15, 30, 60, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 604_800,
];
/** Buckets are aligned on multiples of their size since this instant (UTC midnight, whole hours...). */
const BUCKET_ORIGIN = '1970-01-01T00:00:00Z';

export interface TelemetryQueryOptions {
  /** One metric (tag) only, e.g. power_ac. */
  metric?: string | undefined;
  /** One device only, e.g. inverter-01. */
  device?: string | undefined;
  /** Start, inclusive: an ISO 8601 date-time with a zone, or a Date. Default: `to` minus 24 hours. */
  from?: string | Date | undefined;
  /** End, exclusive. Default: now. */
  to?: string | Date | undefined;
  /** Bucket size (`30s`, `5m`, `1h`, `1d`). Default: the smallest that gives at most 60 buckets. */
  bucket?: string | undefined;
}

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

const INSTANT_RE =
  /^(\d{4})-(\d{2})-(\d{2})(?:[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:\.\d{1,9})?)?(?:[Zz]|[+-](\d{2}):?(\d{2})))?$/;
/** Instants PostgreSQL reads as JavaScript writes them: toISOString() has no year 0 or 10000 PostgreSQL takes. */
const EARLIEST_MS = Date.parse('0001-01-01T00:00:00Z');
const LATEST_MS = Date.parse('9999-12-31T23:59:59.999Z');

/** A real calendar date-time: Date.parse would bend February 30th or hour 24 into another day. */
function isCalendarInstant(m: RegExpExecArray): boolean {
  const [, y, mo, d, h = '0', mi = '0', s = '0', oh = '0', om = '0'] = m;
  const [month, day] = [Number(mo), Number(d)];
  const lastOfMonth = new Date(0);
  lastOfMonth.setUTCFullYear(Number(y), month, 0); // not Date.UTC, which reads years 0..99 as 1900..1999
  return (
    month >= 1 &&
    month <= 12 &&
    day >= 1 &&
    day <= lastOfMonth.getUTCDate() &&
    Number(h) <= 23 &&
    Number(mi) <= 59 &&
    Number(s) <= 59 &&
    Number(oh) <= 23 &&
    Number(om) <= 59
  );
}

function instant(value: string | Date, what: string): number {
  let ms = Number.NaN;
  if (value instanceof Date) ms = value.getTime();
  else {
    const m = INSTANT_RE.exec(value);
    if (m && isCalendarInstant(m)) ms = Date.parse(value);
  }
  if (Number.isNaN(ms))
    throw new InvalidInputError(
      `${what} ${JSON.stringify(String(value))} is not a date-time: use ISO 8601 with a zone, e.g. 2024-06-21T12:00:00Z (or a date, 2024-06-21, for UTC midnight)`,
    );
  return ms;
}

function assertWithinCalendar(ms: number, what: string): void {
  if (ms < EARLIEST_MS || ms > LATEST_MS)
    throw new InvalidInputError(
      `${what} (${Number.isFinite(ms) ? new Date(ms).toISOString() : ms}) is outside 0001-01-01..9999-12-31 UTC`,
      'invalid_time_range',
    );
}

/** A metric or device name as the ingest stores them (message.ts): no control characters, at most 128. */
function assertName(value: string | undefined, what: string): void {
  if (value !== undefined && (value.length === 0 || value.length > 128 || /\p{Cc}/u.test(value)))
    throw new InvalidInputError(
      `${what} ${JSON.stringify(value.slice(0, 140))} is not a ${what} name: 1 to 128 characters, no control characters`,
    );
}

/** Buckets from..to touches, with buckets aligned on the origin. */
function bucketsSpanned(fromMs: number, toMs: number, bucketSeconds: number): number {
  const size = bucketSeconds * 1_000;
  return Math.floor((toMs - 1) / size) - Math.floor(fromMs / size) + 1;
}

function smallestNiceBucket(fromMs: number, toMs: number, most: number): number {
  return (
    NICE_BUCKETS.find((b) => bucketsSpanned(fromMs, toMs, b) <= most) ??
    Math.ceil((toMs - fromMs) / 1_000 / (most - 1))
  );
}

/** Validated range and bucket, or an InvalidInputError that names the limit broken. */
export function resolveTelemetryWindow(
  options: Pick<TelemetryQueryOptions, 'from' | 'to' | 'bucket'>,
  now = Date.now(),
): { fromMs: number; toMs: number; bucketSeconds: number } {
  const toMs = options.to === undefined ? now : instant(options.to, 'to');
  const fromMs =
    options.from === undefined
      ? toMs - DEFAULT_TELEMETRY_RANGE_SECONDS * 1_000
      : instant(options.from, 'from');
  assertWithinCalendar(fromMs, 'from');
  assertWithinCalendar(toMs, 'to');
  const iso = (ms: number) => new Date(ms).toISOString();
  if (fromMs >= toMs)
    throw new InvalidInputError(
      `from (${iso(fromMs)}) must be before to (${iso(toMs)})`,
      'invalid_time_range',
    );
  const rangeDays = (toMs - fromMs) / 86_400_000;
  if (rangeDays > MAX_TELEMETRY_RANGE_DAYS)
    throw new InvalidInputError(
      `from..to spans ${Math.ceil(rangeDays)} days; at most ${MAX_TELEMETRY_RANGE_DAYS} days per request (MAX_TELEMETRY_RANGE_DAYS): ask for a shorter range`,
      'time_range_too_long',
    );
  const bucketSeconds =
    options.bucket === undefined
      ? smallestNiceBucket(fromMs, toMs, DEFAULT_TARGET_BUCKETS)
      : parseDuration(options.bucket, 'bucket');
  const buckets = bucketsSpanned(fromMs, toMs, bucketSeconds);
  if (buckets > MAX_TELEMETRY_BUCKETS)
    throw new InvalidInputError(
      `from..to at bucket ${formatDuration(bucketSeconds)} spans ${buckets} buckets; at most ${MAX_TELEMETRY_BUCKETS} per request (MAX_TELEMETRY_BUCKETS): use a bucket of at least ${formatDuration(smallestNiceBucket(fromMs, toMs, MAX_TELEMETRY_BUCKETS))} or a shorter range`,
      'too_many_buckets',
    );
  return { fromMs, toMs, bucketSeconds };
}

interface BucketRow extends Record<string, unknown> {
  device_id: string;
  metric: string;
  start: string;
  avg: number;
  min: number;
  max: number;
  last: number;
  count: number;
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

export function telemetryRepository(db: Db) {
  return {
    async buckets(plantId: string, options: TelemetryQueryOptions, now = Date.now()): Promise<TelemetryView> {
      assertName(options.metric, 'metric');
      assertName(options.device, 'device');
      const { fromMs, toMs, bucketSeconds } = resolveTelemetryWindow(options, now);
      const from = new Date(fromMs).toISOString();
      const to = new Date(toMs).toISOString();
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
                 ${options.metric === undefined ? sql`` : sql`AND tag_id = ${options.metric}`}
                 ${options.device === undefined ? sql`` : sql`AND device_id = ${options.device}`}
               GROUP BY device_id, tag_id, 3
               ORDER BY device_id, tag_id, 3
               LIMIT ${MAX_TELEMETRY_POINTS + 1}) b
           ORDER BY device_id, metric, b.start`);
      // float8 avg raises "value out of range: overflow" once a bucket's sum passes
      // Number.MAX_VALUE (one device can send that): then again with a numeric sum, slower but
      // exact. Through text: float8 -> numeric keeps 15 digits, and 1.79769313486232e308 is no double.
      const result = await guarded(() =>
        query(sql`avg(value)`).catch((error: unknown) => {
          if (!isOverflow(error)) throw error;
          return query(sql`avg(value::text::numeric)::float8`);
        }),
      );
      if (result.rows.length > MAX_TELEMETRY_POINTS)
        throw new InvalidInputError(
          `The answer would hold more than ${MAX_TELEMETRY_POINTS} points (MAX_TELEMETRY_POINTS, buckets x devices x metrics): narrow it with metric or device, a larger bucket or a shorter range`,
          'too_many_points',
        );
      const series: TelemetrySeries[] = [];
      for (const row of result.rows) {
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
      return { plantId, from, to, bucket: formatDuration(bucketSeconds), bucketSeconds, series };
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
      const devices: LatestDevice[] = [];
      for (const row of result.rows) {
        const { timestamp } = row;
        let current = devices.at(-1);
        if (!current || current.deviceId !== row.device_id) {
          current = { deviceId: row.device_id, lastReadingAt: row.last_reading_at, metrics: [] };
          devices.push(current);
        }
        current.metrics.push({ metric: row.metric, value: Number(row.value), timestamp });
      }
      return { plantId, devices };
    },
  };
}
