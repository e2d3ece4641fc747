import { describe, expect, it } from 'vitest';
import { ConfigError } from '../../src/config/index.js';
import {
  canonicalTimestamp,
  fifoDeduplicationId,
  md5Hex,
  type ParseResult,
  parseMessage,
  QUARANTINE_PREFIX_BYTES,
  readingHash,
  sha256Hex,
} from '../../src/ingest/message.js';
import { ingestPoolConfig } from '../../src/ingest/pool.js';
import { loadIngestSettings } from '../../src/ingest/settings.js';
import { storableText } from '../../src/ingest/store.js';

const opts = { maxBodyBytes: 4096, now: () => Date.UTC(2024, 5, 21, 12) };
const device = {
  plantId: 'plant-a',
  deviceId: 'inverter-01',
  timestamp: '2024-01-01T12:00:00Z',
  metrics: { voltage_dc: 350.5, current_dc: 12.3, power_ac: 4200 },
};
const ruled = (over: Record<string, unknown> = {}) =>
  JSON.stringify({ ...device, plantId: 'plant-a', topic: 'solar/plant-a/data', ...over });

function rejected(result: ParseResult): string {
  if (result.ok) throw new Error('expected a rejection');
  return result.rejection.reason;
}

describe('parseMessage', () => {
  it('accepts the seed message as the rule delivers it', () => {
    const result = parseMessage(ruled(), 'm-1', opts);
    expect(result.ok).toBe(true);
    if (!result.ok) return;
    expect(result.reading).toMatchObject({
      messageId: 'm-1',
      plantId: 'plant-a',
      deviceId: 'inverter-01',
      timestamp: '2024-01-01T12:00:00.000000Z',
      metrics: [
        ['voltage_dc', 350.5],
        ['current_dc', 12.3],
        ['power_ac', 4200],
      ],
    });
    expect(result.reading.hash).toBe(readingHash('plant-a', 'inverter-01', '2024-01-01T12:00:00.000000Z'));
  });

  it('trusts the plant id of the topic over the body', () => {
    const result = parseMessage(ruled({ plantId: 'someone-else', topic: 'solar/plant-b/data' }), 'm', opts);
    expect(result.ok && result.reading.plantId).toBe('plant-b');
  });

  it('uses the body plant id when no topic came along', () => {
    const result = parseMessage(JSON.stringify(device), 'm', opts);
    expect(result.ok && result.reading.plantId).toBe('plant-a');
  });

  it('gives the same hash to the same instant written differently', () => {
    const a = parseMessage(ruled({ timestamp: '2024-01-01T12:00:00Z' }), 'a', opts);
    const b = parseMessage(ruled({ timestamp: '2024-01-01T14:00:00.000000+02:00' }), 'b', opts);
    const c = parseMessage(ruled({ timestamp: '2024-01-01T12:00:00.001Z' }), 'c', opts);
    if (!a.ok || !b.ok || !c.ok) throw new Error('expected three readings');
    expect(b.reading.hash).toBe(a.reading.hash);
    expect(c.reading.hash).not.toBe(a.reading.hash);
  });

  it.each([
    ['oversized_body', ruled({ pad: 'x'.repeat(5000) })],
    ['invalid_json', '{"plantId": "plant-a", '],
    ['invalid_json', '[1, 2, 3]'],
    ['invalid_json', ruled({ note: 'nul \u0000 here' })],
    ['missing_field', ruled({ deviceId: undefined })],
    ['missing_field', JSON.stringify({ deviceId: 'd', timestamp: device.timestamp, metrics: { a: 1 } })],
    ['missing_field', ruled({ metrics: {} })],
    ['invalid_field', ruled({ deviceId: 42 })],
    ['invalid_field', ruled({ deviceId: 'a|b' })],
    ['invalid_field', ruled({ metrics: [1, 2] })],
    ['invalid_topic', ruled({ topic: 'solar/plant-a/commands' })],
    ['bad_timestamp', ruled({ timestamp: '2024-01-01 noon' })],
    ['bad_timestamp', ruled({ timestamp: '2024-02-30T12:00:00Z' })],
    ['bad_timestamp', ruled({ timestamp: '2024-01-01T12:00:00' })],
    ['bad_timestamp', ruled({ timestamp: '1970-01-01T00:00:00Z' })],
    ['future_timestamp', ruled({ timestamp: '2030-01-01T00:00:00Z' })],
    ['bad_timestamp', ruled({ timestamp: 1704110400 })],
    ['non_numeric_metric', ruled({ metrics: { power_ac: '4200' } })],
    ['non_numeric_metric', ruled({ metrics: { power_ac: null } })],
    [
      'non_numeric_metric',
      '{"deviceId":"d","plantId":"p","timestamp":"2024-01-01T12:00:00Z","metrics":{"a":1e400}}',
    ],
  ])('quarantines %s: %s', (reason, body) => {
    expect(rejected(parseMessage(body, 'm', opts))).toBe(reason);
  });

  it('accepts a device clock up to 5 minutes ahead by default, quarantines beyond as future_timestamp', () => {
    const at = (minutes: number) => new Date(opts.now() + minutes * 60_000).toISOString();
    expect(parseMessage(ruled({ timestamp: at(4.9) }), 'm', opts).ok).toBe(true);
    const ahead = parseMessage(ruled({ timestamp: at(6) }), 'm', opts);
    expect(ahead).toMatchObject({ ok: false, rejection: { reason: 'future_timestamp' } });
    if (!ahead.ok) expect(ahead.rejection.detail).toMatch(/6 min.* ahead .*INGEST_MAX_FUTURE_SECONDS=300/);
    // Configurable: an hour of allowed skew lets it through; zero refuses any instant ahead.
    expect(parseMessage(ruled({ timestamp: at(6) }), 'm', { ...opts, maxFutureMs: 3_600_000 }).ok).toBe(true);
    expect(rejected(parseMessage(ruled({ timestamp: at(0.05) }), 'm', { ...opts, maxFutureMs: 0 }))).toBe(
      'future_timestamp',
    );
    expect(parseMessage(ruled({ timestamp: at(0) }), 'm', { ...opts, maxFutureMs: 0 }).ok).toBe(true);
  });

  it('keeps only a prefix of an oversized body, cut between characters, with its size and sha256', () => {
    const body = ruled({ pad: '€'.repeat(2_000) });
    const result = parseMessage(body, 'm-big', opts);
    if (result.ok) throw new Error('expected a rejection');
    const { rejection } = result;
    expect(rejection).toMatchObject({
      reason: 'oversized_body',
      truncated: true,
      bodyBytes: Buffer.byteLength(body),
    });
    expect(rejection.bodySha256).toBe(sha256Hex(body));
    expect(body.startsWith(rejection.body)).toBe(true);
    expect(Buffer.byteLength(rejection.body)).toBeLessThanOrEqual(QUARANTINE_PREFIX_BYTES);
    expect(Buffer.byteLength(rejection.body)).toBeGreaterThan(QUARANTINE_PREFIX_BYTES - 3);
  });

  it('keeps the body and message id of what it rejects', () => {
    const result = parseMessage('not json', 'm-9', opts);
    expect(result).toMatchObject({
      ok: false,
      rejection: { messageId: 'm-9', body: 'not json', reason: 'invalid_json' },
    });
  });
});

describe('canonicalTimestamp', () => {
  it('normalises zones and fractions to UTC microseconds', () => {
    expect(canonicalTimestamp('2024-03-10T23:30:00-02:30')).toMatchObject({
      ok: true,
      value: '2024-03-11T02:00:00.000000Z',
    });
    expect(canonicalTimestamp('2024-03-10T10:00:00.123456789Z')).toMatchObject({
      value: '2024-03-10T10:00:00.123456Z',
    });
    expect(canonicalTimestamp('2024-03-10T10:00Z')).toMatchObject({
      value: '2024-03-10T10:00:00.000000Z',
    });
    expect(canonicalTimestamp('2024-02-29T10:00:00Z').ok).toBe(true);
    expect(canonicalTimestamp('2023-02-29T10:00:00Z').ok).toBe(false);
    expect(canonicalTimestamp('2024-01-01T24:00:00Z').ok).toBe(false);
  });
});

describe('fifoDeduplicationId', () => {
  it('follows the seed formula md5(topic)-md5(timestamp)-md5(deviceId) within the 128-character limit', () => {
    const id = fifoDeduplicationId('solar/p/data', '2024-01-01T12:00:00Z', 'inverter-01');
    expect(id).toBe(`${md5Hex('solar/p/data')}-${md5Hex('2024-01-01T12:00:00Z')}-${md5Hex('inverter-01')}`);
    expect(id).toHaveLength(98);
  });
});

describe('loadIngestSettings', () => {
  it('has the documented defaults', () => {
    expect(loadIngestSettings({})).toMatchObject({
      pollers: 4,
      waitSeconds: 20,
      metricsPort: 9464,
      maxBodyBytes: 131072,
      maxFutureSeconds: 300,
    });
  });

  it('validates the byte cap against one receive, and the quarantine retention', () => {
    expect(loadIngestSettings({})).toMatchObject({
      maxInFlightBytes: 67_108_864,
      quarantineRetentionDays: 30,
    });
    expect(loadIngestSettings({ INGEST_MAX_IN_FLIGHT_BYTES: '1310720' }).maxInFlightBytes).toBe(1_310_720);
    // 10 bodies of the default 128 KiB must fit.
    expect(() => loadIngestSettings({ INGEST_MAX_IN_FLIGHT_BYTES: '1310719' })).toThrow(
      /^INGEST_MAX_IN_FLIGHT_BYTES: "1310719" is below one receive of 10 bodies .*\(1310720\)\. Fix: /,
    );
    expect(
      loadIngestSettings({ INGEST_MAX_IN_FLIGHT_BYTES: '40960', INGEST_MAX_BODY_BYTES: '4096' })
        .maxInFlightBytes,
    ).toBe(40_960);
    for (const bad of ['0', '1e9', '64MiB'])
      expect(() => loadIngestSettings({ INGEST_MAX_IN_FLIGHT_BYTES: bad })).toThrow(
        /^INGEST_MAX_IN_FLIGHT_BYTES: /,
      );
    expect(loadIngestSettings({ INGEST_QUARANTINE_RETENTION_DAYS: '7' }).quarantineRetentionDays).toBe(7);
    for (const bad of ['0', '3651', '30d'])
      expect(() => loadIngestSettings({ INGEST_QUARANTINE_RETENTION_DAYS: bad })).toThrow(
        /^INGEST_QUARANTINE_RETENTION_DAYS: .*Fix: /,
      );
  });

  it('validates INGEST_MAX_FUTURE_SECONDS (0 to 86400)', () => {
    expect(loadIngestSettings({ INGEST_MAX_FUTURE_SECONDS: '0' }).maxFutureSeconds).toBe(0);
    expect(loadIngestSettings({ INGEST_MAX_FUTURE_SECONDS: '3600' }).maxFutureSeconds).toBe(3600);
    for (const bad of ['-5', '5m', '86401'])
      expect(() => loadIngestSettings({ INGEST_MAX_FUTURE_SECONDS: bad })).toThrow(
        /^INGEST_MAX_FUTURE_SECONDS: .*Fix: /,
      );
  });

  it('validates INGEST_STATEMENT_TIMEOUT_SECONDS (1 to 600), the bounds of the pool', () => {
    const defaults = ingestPoolConfig('postgres://x/y', loadIngestSettings({}));
    // The server cancels first (a clean error, the connection usable); the client only for silence.
    expect(defaults).toMatchObject({ statement_timeout: 15_000, lock_timeout: 7_500, query_timeout: 20_000 });
    expect(defaults).toMatchObject({ keepAlive: true, idle_in_transaction_session_timeout: 15_000 });
    const settings = loadIngestSettings({ INGEST_STATEMENT_TIMEOUT_SECONDS: '1' });
    expect(ingestPoolConfig('postgres://x/y', settings)).toMatchObject({
      statement_timeout: 1_000,
      query_timeout: 2_000,
    });
    for (const bad of ['0', '601', '15s'])
      expect(() => loadIngestSettings({ INGEST_STATEMENT_TIMEOUT_SECONDS: bad })).toThrow(
        /^INGEST_STATEMENT_TIMEOUT_SECONDS: .*Fix: /,
      );
  });

  it('names every wrong variable on its own line', () => {
    let error: unknown;
    try {
      loadIngestSettings({ INGEST_POLLERS: 'many', INGEST_WAIT_SECONDS: '30', METRICS_PORT: '9464' });
    } catch (err) {
      error = err;
    }
    expect(error).toBeInstanceOf(ConfigError);
    const lines = (error as Error).message.split('\n');
    expect(lines).toHaveLength(2);
    expect(lines[0]).toMatch(/^INGEST_POLLERS: "many" is not a whole number\. Fix: /);
    expect(lines[1]).toMatch(/^INGEST_WAIT_SECONDS: "30" is above 20\. Fix: /);
  });
});

describe('storableText', () => {
  it('escapes NUL and replaces unpaired surrogates, leaving everything else as it was', () => {
    expect(storableText('a\u0000b')).toBe('a\\u0000b');
    expect(storableText('x\uD800y')).toBe('x\uFFFDy');
    expect(storableText('ok \uD83D\uDE00 é')).toBe('ok \uD83D\uDE00 é');
  });
});
