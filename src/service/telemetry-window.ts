/**
 * Which readings a telemetry request asks for: its time range and bucket size, checked against
 * the limits that keep one answer small, and its metric and device filters.
 */
import { formatDuration, parseDuration } from './durations.js';
import { InvalidInputError } from './errors.js';

/** Longest from..to of one request. */
export const MAX_TELEMETRY_RANGE_DAYS = 366;
/** Most buckets from..to may span at the chosen bucket size (per device and metric). */
export const MAX_TELEMETRY_BUCKETS = 1_000;
/** Without `from`: this long before `to`. */
export const DEFAULT_TELEMETRY_RANGE_SECONDS = 24 * 3_600;
/** Without `bucket`: the smallest of NICE_BUCKETS giving at most this many buckets (a sparkline's width). */
export const DEFAULT_TARGET_BUCKETS = 60;
const NICE_BUCKETS = [
  1, 5, 10, 15, 30, 60, 300, 600, 900, 1_800, 3_600, 7_200, 10_800, 21_600, 43_200, 86_400, 604_800,
];
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
export function assertName(value: string | undefined, what: string): void {
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
