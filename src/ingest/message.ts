/**
 * One SQS message body → a validated reading, or a quarantine reason.
 *
 * The body is what the telemetry rule (`SELECT *, topic(2) AS plantId, topic() AS topic FROM
 * 'solar/+/data'`) delivers: the device's JSON `{plantId, deviceId, timestamp, metrics}` with
 * `plantId` overwritten by the topic's plant id and `topic` added. The plant id in `topic` wins
 * over the body's: the device policy only lets a device publish under its own plant.
 */
import { createHash } from 'node:crypto';
import { z } from 'zod';
import { assertValidPlantId, telemetryTopicFor } from '../iot/naming.js';

export const QUARANTINE_REASONS = [
  'oversized_body',
  'invalid_json',
  'missing_field',
  'invalid_field',
  'invalid_topic',
  'bad_timestamp',
  /** Further ahead of the consumer's clock than INGEST_MAX_FUTURE_SECONDS (replayable later). */
  'future_timestamp',
  'non_numeric_metric',
  /** PostgreSQL refused this one message although it passed validation (kept, never dropped). */
  'db_rejected',
] as const;
export type QuarantineReason = (typeof QUARANTINE_REASONS)[number];

export interface Reading {
  messageId: string;
  /** From the topic when present, else from the body. */
  plantId: string;
  deviceId: string;
  /** Canonical UTC instant with microseconds, e.g. 2024-01-01T12:00:00.000000Z (PostgreSQL precision). */
  timestamp: string;
  /** Metric name → finite number, in the body's order. */
  metrics: [string, number][];
  /** sha256 of `plantId|deviceId|timestamp`: the same reading under a new message id. */
  hash: string;
  /** The body as received; stored as jsonb. */
  body: string;
}

export interface Rejection {
  messageId: string;
  reason: QuarantineReason;
  /** Human-readable detail, stored after the reason code. */
  detail: string;
  /** The body, or only its first QUARANTINE_PREFIX_BYTES when `truncated`. */
  body: string;
  /** Size and sha256 of the whole body as received (set when `body` is not it). */
  bodyBytes?: number;
  bodySha256?: string;
  truncated?: boolean;
}

export type ParseResult = { ok: true; reading: Reading } | { ok: false; rejection: Rejection };

export interface ParseOptions {
  maxBodyBytes: number;
  /** How far ahead of `now` a reading may be (INGEST_MAX_FUTURE_SECONDS); default 5 minutes. */
  maxFutureMs?: number;
  /** Clock for the future-timestamp check (tests). */
  now?: () => number;
}

/**
 * Bytes of an oversized body kept (in memory at once, then in the quarantine) with its sha256 and
 * size: enough to see its plant, device and time, never the megabyte that was sent.
 */
export const QUARANTINE_PREFIX_BYTES = 1024;

/** The first `maxBytes` bytes of `text` as UTF-8, never cutting a character in two. */
export function utf8Prefix(text: string, maxBytes: number): string {
  const bytes = Buffer.from(text, 'utf8');
  if (bytes.length <= maxBytes) return text;
  let end = maxBytes;
  while (end > 0 && ((bytes[end] ?? 0) & 0xc0) === 0x80) end--; // a continuation byte: back up
  return bytes.subarray(0, end).toString('utf8');
}

/** Readings older than this are a device clock that was never set. */
const OLDEST = Date.UTC(2000, 0, 1);
/**
 * Device clocks may run ahead a little: a datalogger's NTP/GSM-synced clock is within seconds, an
 * unsynced RTC drifts ~2 s a day (20 ppm), so a logger off the network for weeks is a minute or two
 * ahead. 5 minutes admits that; a day (the former window) let a device pre-write a day of readings.
 */
export const DEFAULT_MAX_FUTURE_SECONDS = 300;
/** jsonb and our walk both recurse; nothing legitimate nests this deep. */
const MAX_DEPTH = 32;
export const MAX_METRICS = 512;

const TOPIC_RE = /^solar\/([^/]+)\/data$/;

/** Device ids and metric names: printable, no `|` (the hash separator), at most 128 characters. */
const name = (what: string) =>
  z
    .string({ error: `${what} is not a string` })
    .min(1, { error: `${what} is empty` })
    .max(128, { error: `${what} is longer than 128 characters` })
    .regex(/^[^\p{Cc}|]+$/u, { error: `${what} contains control characters or "|"` })
    .refine((v) => v.trim() === v, { error: `${what} has leading or trailing spaces` });

const deviceIdSchema = name('deviceId');
const metricNameSchema = name('metric name');

export function sha256Hex(text: string): string {
  return createHash('sha256').update(text).digest('hex');
}

export function md5Hex(text: string): string {
  return createHash('md5').update(text).digest('hex');
}

export function readingHash(plantId: string, deviceId: string, canonicalTimestamp: string): string {
  return sha256Hex(`${plantId}|${deviceId}|${canonicalTimestamp}`);
}

/** Layer 1 (FIFO queues), the seed's formula: md5(topic)-md5(timestamp)-md5(deviceId), 98 characters. */
export function fifoDeduplicationId(topic: string, timestamp: string, deviceId: string): string {
  return `${md5Hex(topic)}-${md5Hex(timestamp)}-${md5Hex(deviceId)}`;
}

const TS_RE =
  /^(\d{4})-(\d{2})-(\d{2})[Tt ](\d{2}):(\d{2})(?::(\d{2})(?:[.,](\d{1,9}))?)?(?:([Zz])|([+-])(\d{2}):?(\d{2}))$/;

/**
 * ISO 8601 / RFC 3339 instant with an explicit zone → `YYYY-MM-DDTHH:MM:SS.ffffffZ` (UTC,
 * microseconds, truncated), or an error text. Refuses what `Date.parse` would silently bend
 * (February 30th, hour 24, no zone).
 */
export function canonicalTimestamp(
  value: string,
): { ok: true; value: string; ms: number } | { ok: false; error: string } {
  const m = TS_RE.exec(value);
  if (!m) return { ok: false, error: 'is not an ISO 8601 date-time with a zone (e.g. 2024-01-01T12:00:00Z)' };
  const [, y, mo, d, h, mi, s = '00', frac = '', zulu, sign, oh = '00', om = '00'] = m;
  const year = Number(y);
  const month = Number(mo);
  const day = Number(d);
  const hour = Number(h);
  const minute = Number(mi);
  const second = Number(s);
  const daysInMonth = new Date(Date.UTC(year, month, 0)).getUTCDate();
  if (month < 1 || month > 12 || day < 1 || day > daysInMonth || hour > 23 || minute > 59 || second > 59) {
    return { ok: false, error: 'is not a valid calendar date-time' };
  }
  if (Number(oh) > 23 || Number(om) > 59) return { ok: false, error: 'has an invalid zone offset' };
  const offsetMin = zulu ? 0 : (sign === '-' ? -1 : 1) * (Number(oh) * 60 + Number(om));
  const ms = Date.UTC(year, month - 1, day, hour, minute, second) - offsetMin * 60_000;
  if (ms < OLDEST) return { ok: false, error: 'is before 2000-01-01 (device clock not set?)' };
  const micros = frac.padEnd(6, '0').slice(0, 6);
  return { ok: true, value: `${new Date(ms).toISOString().slice(0, 19)}.${micros}Z`, ms };
}

function hasLoneSurrogate(value: string): boolean {
  return /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/.test(value);
}

/** PostgreSQL cannot store NUL or unpaired surrogates in text/jsonb; refuse them before the batch. */
function unstorable(value: unknown, depth: number): string | undefined {
  if (depth > MAX_DEPTH) return `nests deeper than ${MAX_DEPTH} levels`;
  if (typeof value === 'string') {
    return value.includes('\u0000') || hasLoneSurrogate(value)
      ? 'contains \\u0000 or an unpaired surrogate, which PostgreSQL cannot store'
      : undefined;
  }
  if (value === null || typeof value !== 'object') return undefined;
  for (const [k, v] of Object.entries(value)) {
    const problem = unstorable(k, depth + 1) ?? unstorable(v, depth + 1);
    if (problem) return problem;
  }
  return undefined;
}

/**
 * jsonb keeps a number as PostgreSQL's numeric: at most 16383 digits after the point (as written,
 * trailing zeros and exponent counted: 1e-16384 has 16384) and its first digit fewer than 131072
 * places before it (NUMERIC_DSCALE_MAX, NUMERIC_WEIGHT_MAX of 32767 base-10000 digits), an
 * exponent within ±INT_MAX/2. JavaScript reads such numbers as 0 or Infinity, so the parsed value
 * cannot tell; their text can. Only bodies with an exponent of 4 digits or a run of 1000 digits
 * are parsed again for it (the lookbehind keeps that scan linear).
 */
const NUMERIC_SUSPECT = /[0-9][eE][+-]?0*[1-9][0-9]{3}|(?<![0-9])[0-9]{1000}/;
const NUMBER_TEXT = /^-?([0-9]+)(?:\.([0-9]+))?(?:[eE]([+-]?[0-9]+))?$/;

function numericHolds(text: string): boolean {
  const [, int = '', frac = '', e = '0'] = NUMBER_TEXT.exec(text) ?? [];
  const exp = Number(e); // ±Infinity for an absurd exponent: the comparisons still hold
  if (!(Math.abs(exp) <= 1_073_741_823) || frac.length - exp > 16_383) return false;
  const whole = int.replace(/^0+/, '');
  const first = frac.search(/[1-9]/);
  if (whole === '' && first < 0) return true; // zero
  return (whole === '' ? -(first + 1) : whole.length - 1) + exp < 131_072;
}

/** The first number of the body PostgreSQL's jsonb cannot store, as written. */
function unstorableNumber(body: string): string | undefined {
  if (!NUMERIC_SUSPECT.test(body)) return undefined;
  let found: string | undefined;
  JSON.parse(body, (_key, value, context?: { source?: string }) => {
    if (found === undefined && typeof value === 'number' && context?.source && !numericHolds(context.source))
      found = context.source;
    return value;
  });
  return found;
}

function issueText(error: z.ZodError): string {
  return error.issues[0]?.message ?? 'is invalid';
}

export function parseMessage(body: string, messageId: string, options: ParseOptions): ParseResult {
  const reject = (reason: QuarantineReason, detail: string): ParseResult => ({
    ok: false,
    rejection: { messageId, reason, detail, body },
  });

  const bytes = Buffer.byteLength(body, 'utf8');
  if (bytes > options.maxBodyBytes) {
    // Only the prefix is kept from here on: the whole body is not held until its batch is written.
    return {
      ok: false,
      rejection: {
        messageId,
        reason: 'oversized_body',
        detail: `${bytes} bytes, limit ${options.maxBodyBytes}`,
        body: utf8Prefix(body, QUARANTINE_PREFIX_BYTES),
        bodyBytes: bytes,
        bodySha256: sha256Hex(body),
        truncated: true,
      },
    };
  }

  let parsed: unknown;
  try {
    parsed = JSON.parse(body);
  } catch (err) {
    return reject('invalid_json', err instanceof Error ? err.message : 'unparseable');
  }
  if (parsed === null || typeof parsed !== 'object' || Array.isArray(parsed)) {
    return reject('invalid_json', 'the body is not a JSON object');
  }
  const problem = unstorable(parsed, 0);
  if (problem) return reject('invalid_json', `the body ${problem}`);
  const number = unstorableNumber(body);
  if (number !== undefined)
    return reject(
      'invalid_json',
      `the number ${number.slice(0, 40)} is beyond what PostgreSQL stores in jsonb`,
    );
  const msg = parsed as Record<string, unknown>;

  // Plant: the topic's, when the rule added one.
  let plantId: unknown = msg.plantId;
  if (msg.topic !== undefined && msg.topic !== null) {
    const m = typeof msg.topic === 'string' ? TOPIC_RE.exec(msg.topic) : null;
    if (!m) return reject('invalid_topic', `topic ${JSON.stringify(msg.topic)} is not solar/<plantId>/data`);
    plantId = m[1];
  }
  const absent = (v: unknown) => v === undefined || v === null;
  const missing: string[] = ['deviceId', 'timestamp', 'metrics'].filter((f) => absent(msg[f]));
  if (absent(plantId)) missing.unshift('plantId');
  if (missing.length > 0) return reject('missing_field', missing.join(', '));

  try {
    assertValidPlantId(plantId);
  } catch (err) {
    return reject('invalid_field', err instanceof Error ? err.message : 'invalid plantId');
  }
  const device = deviceIdSchema.safeParse(msg.deviceId);
  if (!device.success) return reject('invalid_field', issueText(device.error));

  if (typeof msg.timestamp !== 'string') return reject('bad_timestamp', 'timestamp is not a string');
  const ts = canonicalTimestamp(msg.timestamp);
  if (!ts.ok) return reject('bad_timestamp', `timestamp ${JSON.stringify(msg.timestamp)} ${ts.error}`);
  const now = options.now?.() ?? Date.now();
  const maxFutureMs = options.maxFutureMs ?? DEFAULT_MAX_FUTURE_SECONDS * 1000;
  if (ts.ms > now + maxFutureMs) {
    const ahead = ts.ms - now;
    const shown = ahead >= 120_000 ? `${Math.round(ahead / 60_000)} min` : `${Math.round(ahead / 1000)} s`;
    return reject(
      'future_timestamp',
      `timestamp ${JSON.stringify(msg.timestamp)} is ${shown} ahead of the consumer's clock ` +
        `(INGEST_MAX_FUTURE_SECONDS=${Math.round(maxFutureMs / 1000)})`,
    );
  }

  if (typeof msg.metrics !== 'object' || Array.isArray(msg.metrics))
    return reject('invalid_field', 'metrics is not an object');
  // The parsed object itself, not a zod record: z.record drops a "__proto__" key, which JSON.parse
  // keeps as an own property, and the metric would be lost without a trace.
  const entries = Object.entries(msg.metrics as Record<string, unknown>);
  if (entries.length === 0) return reject('missing_field', 'metrics is empty');
  if (entries.length > MAX_METRICS) return reject('invalid_field', `more than ${MAX_METRICS} metrics`);
  const metrics: [string, number][] = [];
  for (const [key, value] of entries) {
    const metricName = metricNameSchema.safeParse(key);
    if (!metricName.success)
      return reject('invalid_field', `${issueText(metricName.error)}: ${JSON.stringify(key)}`);
    if (typeof value !== 'number' || !Number.isFinite(value)) {
      const shown = typeof value === 'number' ? String(value) : JSON.stringify(value);
      return reject('non_numeric_metric', `metrics.${key} is ${shown}, not a finite number`);
    }
    metrics.push([key, value]);
  }

  return {
    ok: true,
    reading: {
      messageId,
      plantId,
      deviceId: device.data,
      timestamp: ts.value,
      metrics,
      hash: readingHash(plantId, device.data, ts.value),
      body,
    },
  };
}

/** What the shared telemetry rule puts on the queue for a device's message (simulator, tests). */
export function ruleOutput(devicePayload: Record<string, unknown>, topicPlantId: string): string {
  return JSON.stringify({ ...devicePayload, plantId: topicPlantId, topic: telemetryTopicFor(topicPlantId) });
}
