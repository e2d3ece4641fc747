/**
 * Readings a device in the field (or an attacker holding its certificate) may send, through the
 * consumer, moto's SQS and the real partitioned tables: each is stored or quarantined with its
 * reason, none blocks the queue, and a device cannot write under another plant.
 */
import { describe, expect, it } from 'vitest';
import { parseMessage, ruleOutput } from '../../src/ingest/message.js';
import { INGEST_DEFAULTS } from '../../src/ingest/settings.js';
import { send, type TestConsumer, testPlant, testSettings, waitFor } from '../support/ingest.js';
import { useIngestHarness } from '../support/use-ingest-harness.js';

const t = useIngestHarness();
const { emptied } = t;
const consumer = (queueUrl: string): TestConsumer =>
  t.consumer(queueUrl, { settings: testSettings({ pollers: 1, lingerMs: 300 }) });
const queue = () => t.queue();

interface Stored {
  device_id: string;
  tag_id: string;
  ts: string;
  value: number;
}

async function storedRows(plant: string): Promise<Stored[]> {
  const { rows } = await t.db.pool.query<Stored>(
    `SELECT device_id, tag_id, to_char("timestamp" AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.US') AS ts, value
       FROM processed_data WHERE plant_id = $1 ORDER BY ts, device_id, tag_id`,
    [plant],
  );
  return rows;
}

describe('hostile readings through the consumer', () => {
  it('stores or quarantines each with its reason; the batch and the queue go on', async () => {
    const url = await queue();
    const plant = testPlant();
    const other = testPlant();
    const marker = `hostile-${plant}`;
    const device = (deviceId: string, timestamp: string, metrics: unknown, extra: object = {}) =>
      ruleOutput({ plantId: plant, deviceId, timestamp, metrics, marker, ...extra }, plant);

    const stored = [
      // The oldest instant accepted: older than every partition, so it lands in the default one.
      device('inverter-01', '2000-01-01T00:00:00Z', { power_ac: 1 }),
      // Month end and leap day, the last microsecond of a partition and the first of the next.
      device('inverter-01', '2024-02-29T23:59:59.999999Z', { power_ac: 2 }),
      device('inverter-01', '2024-03-01T00:00:00Z', { power_ac: 3 }),
      // Another zone: 05:00 in India on 1 March is 23:30 UTC on the leap day.
      device('inverter-02', '2024-03-01T05:00:00+05:30', { power_ac: 4 }),
      // The extremes of a double, and a 128-character name in a script other than Latin.
      device('inverter-03', '2024-03-01T00:00:00Z', {
        max: Number.MAX_VALUE,
        tiny: Number.MIN_VALUE,
        negative: -Number.MAX_VALUE,
      }),
      device('é'.repeat(128), '2024-03-01T00:00:00Z', { power_ac: 5 }),
      // The body names another plant: the topic's plant wins.
      device('inverter-04', '2024-03-01T00:00:00Z', { power_ac: 6 }, { plantId: other }),
      // Metric names JavaScript objects treat specially are still metrics.
      device('inverter-05', '2024-03-01T00:00:00Z', { __proto__: 7, constructor: 8 }),
    ];
    // JSON.stringify drops __proto__ set as a literal key; write the body as a device would.
    stored[7] = (stored[7] as string).replace('"metrics":{', '"metrics":{"__proto__":7,');

    const quarantined: [string, string][] = [
      ['bad_timestamp', device('inverter-01', '1970-01-01T00:00:00Z', { power_ac: 1 })],
      ['bad_timestamp', device('inverter-01', '1999-12-31T23:59:59.999Z', { power_ac: 1 })],
      ['bad_timestamp', device('inverter-01', '-000001-01-01T00:00:00Z', { power_ac: 1 })],
      ['bad_timestamp', device('inverter-01', '+275760-09-13T00:00:00Z', { power_ac: 1 })],
      ['bad_timestamp', device('inverter-01', '2016-12-31T23:59:60Z', { power_ac: 1 })],
      ['bad_timestamp', device('inverter-01', '2024-03-01T00:00:00', { power_ac: 1 })],
      ['bad_timestamp', device('inverter-01', 1_709_251_200 as never, { power_ac: 1 })],
      ['future_timestamp', device('inverter-01', '9999-12-31T23:59:59Z', { power_ac: 1 })],
      [
        'non_numeric_metric',
        device('inverter-01', '2024-03-01T00:00:00Z', {}).replace('"metrics":{}', '"metrics":{"p":1e309}'),
      ],
      ['non_numeric_metric', device('inverter-01', '2024-03-01T00:00:00Z', { p: 'NaN' })],
      ['non_numeric_metric', device('inverter-01', '2024-03-01T00:00:00Z', { p: null })],
      ['invalid_field', device('é'.repeat(129), '2024-03-01T00:00:00Z', { power_ac: 1 })],
      ['invalid_field', device('inverter\u0007', '2024-03-01T00:00:00Z', { power_ac: 1 })],
      ['invalid_field', device('inverter-01', '2024-03-01T00:00:00Z', { 'power\nac': 1 })],
      ['invalid_field', device('inverter-01', '2024-03-01T00:00:00Z', { ['x'.repeat(129)]: 1 })],
      ['invalid_json', device('inverter-\u0000', '2024-03-01T00:00:00Z', { power_ac: 1 })],
    ];
    for (const b of stored) await send(t.sqs, url, b);
    for (const [, b] of quarantined) await send(t.sqs, url, b);
    consumer(url);

    await waitFor('queue emptied', emptied(url));
    expect(await storedRows(plant)).toEqual([
      { device_id: 'inverter-01', tag_id: 'power_ac', ts: '2000-01-01T00:00:00.000000', value: 1 },
      { device_id: 'inverter-02', tag_id: 'power_ac', ts: '2024-02-29T23:30:00.000000', value: 4 },
      { device_id: 'inverter-01', tag_id: 'power_ac', ts: '2024-02-29T23:59:59.999999', value: 2 },
      { device_id: 'inverter-01', tag_id: 'power_ac', ts: '2024-03-01T00:00:00.000000', value: 3 },
      { device_id: 'inverter-03', tag_id: 'max', ts: '2024-03-01T00:00:00.000000', value: Number.MAX_VALUE },
      {
        device_id: 'inverter-03',
        tag_id: 'negative',
        ts: '2024-03-01T00:00:00.000000',
        value: -Number.MAX_VALUE,
      },
      { device_id: 'inverter-03', tag_id: 'tiny', ts: '2024-03-01T00:00:00.000000', value: Number.MIN_VALUE },
      { device_id: 'inverter-04', tag_id: 'power_ac', ts: '2024-03-01T00:00:00.000000', value: 6 },
      { device_id: 'inverter-05', tag_id: '__proto__', ts: '2024-03-01T00:00:00.000000', value: 7 },
      { device_id: 'inverter-05', tag_id: 'constructor', ts: '2024-03-01T00:00:00.000000', value: 8 },
      { device_id: 'é'.repeat(128), tag_id: 'power_ac', ts: '2024-03-01T00:00:00.000000', value: 5 },
    ]);
    expect(await t.db.processed(other)).toBe(0);
    expect(await t.db.raw(other)).toBe(0);
    const rows = await t.db.quarantine(marker);
    expect(rows.map((r) => r.reason.split(':')[0]).sort()).toEqual(quarantined.map(([r]) => r).sort());
  });

  it('quarantines at validation a number jsonb cannot hold: its batch is not split into one transaction per message', async () => {
    // JavaScript reads 1e-16384 as 0 and 1e200000 as Infinity (outside the metrics nothing checked
    // it); PostgreSQL's numeric refuses both (22003), which failed the whole batch and wrote its
    // messages one at a time: one such message per batch, from one device, and every batch of the
    // queue is written as hundreds of transactions.
    const url = await queue();
    const plant = testPlant();
    const marker = `numbers-${plant}`;
    const at = (n: number) => new Date(Date.UTC(2024, 2, 1, 0, 0, n)).toISOString();
    const device = (n: number, tail: string) =>
      ruleOutput(
        { plantId: plant, deviceId: 'inverter-01', timestamp: at(n), metrics: { p: n }, marker },
        plant,
      ).replace(/}$/, tail);
    for (let n = 0; n < 5; n++) await send(t.sqs, url, device(n, '}'));
    for (const [n, tail] of [
      [10, ',"note":1e200000}'],
      [11, ',"metrics":{"p":1e-16384}}'],
      [12, ',"x":[0.5e-16383]}'],
    ] as const)
      await send(t.sqs, url, device(n, tail));
    const c = consumer(url);
    await waitFor('queue emptied', emptied(url));
    expect(await t.db.raw(plant)).toBe(5);
    const rows = await t.db.quarantine(marker);
    expect(rows.map((r) => r.reason.split(':')[0])).toEqual(['invalid_json', 'invalid_json', 'invalid_json']);
    expect(await c.metrics.value(c.metrics.dbErrors, { kind: 'data' })).toBe(0);
  });

  it('accepts exactly the numbers PostgreSQL stores in jsonb', async () => {
    const texts = [
      '1e131071',
      '1e131072',
      '-9.99e131071',
      '1234e131068',
      '1234e131069',
      '1e-16383',
      '1e-16384',
      '1.5e-16382',
      '1.5e-16383',
      '0e-16383',
      '0e-16384',
      '0e999999',
      '0e1073741822',
      '0e1073741823',
      '0e1073741824',
      '1e99999999999999999999',
      '1e-99999999999999999999',
      `0.${'0'.repeat(16383)}`,
      `0.${'0'.repeat(16384)}`,
      `${'9'.repeat(2000)}e129072`,
      `${'9'.repeat(2000)}e129071`,
      '1.7976931348623157e308',
      '5e-324',
      '-0',
    ];
    for (const text of texts) {
      const b = `{"plantId":"p1","deviceId":"d","timestamp":"2024-03-01T00:00:00Z","metrics":{"p":1},"n":${text}}`;
      const stores = await t.db.pool.query('SELECT $1::jsonb', [b]).then(
        () => true,
        (err: { code?: string }) => (err.code === '22003' ? false : Promise.reject(err)),
      );
      const accepts = parseMessage(b, 'm', { maxBodyBytes: INGEST_DEFAULTS.maxBodyBytes }).ok;
      expect({ text: text.slice(0, 30), accepts }).toEqual({ text: text.slice(0, 30), accepts: stores });
    }
  });
});
