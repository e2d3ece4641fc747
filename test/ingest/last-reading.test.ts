/**
 * device_last_reading as the ingest write path keeps it: the greatest accepted reading timestamp
 * per (plant, device), upserted with GREATEST in the batch's own transaction, one statement per
 * batch whatever its size.
 */
import { randomUUID } from 'node:crypto';
import pg from 'pg';
import { afterAll, describe, expect, it } from 'vitest';
import { parseMessage, type Reading } from '../../src/ingest/message.js';
import { writeBatch } from '../../src/ingest/store.js';
import { body, databaseUrl, testPlant } from '../support/ingest.js';

const pool = new pg.Pool({ connectionString: databaseUrl(), max: 3 });
afterAll(() => pool.end());

function readingOf(plantId: string, deviceId: string, timestamp: string, power = 1): Reading {
  const parsed = parseMessage(
    body({ plantId, deviceId, timestamp, metrics: { power_ac: power } }),
    randomUUID(),
    {
      maxBodyBytes: 131_072,
    },
  );
  if (!parsed.ok) throw new Error(parsed.rejection.detail);
  return parsed.reading;
}

async function lastReadings(plantId: string): Promise<Record<string, string>> {
  const { rows } = await pool.query<{ device_id: string; last_reading_at: Date }>(
    'SELECT device_id, last_reading_at FROM device_last_reading WHERE plant_id = $1',
    [plantId],
  );
  return Object.fromEntries(rows.map((r) => [r.device_id, r.last_reading_at.toISOString()]));
}

describe('device_last_reading', () => {
  it('keeps the greatest reading timestamp per plant and device; an older batch does not move it back', async () => {
    const plantA = testPlant();
    const plantB = testPlant();
    await writeBatch(
      pool,
      [
        readingOf(plantA, 'inverter-01', '2024-06-21T12:00:10Z'),
        readingOf(plantA, 'inverter-01', '2024-06-21T12:00:30Z'),
        readingOf(plantA, 'inverter-01', '2024-06-21T12:00:20Z'),
        readingOf(plantA, 'inverter-02', '2024-06-21T11:00:00Z'),
        readingOf(plantB, 'inverter-01', '2024-06-21T09:00:00Z'),
      ],
      [],
    );
    expect(await lastReadings(plantA)).toEqual({
      'inverter-01': '2024-06-21T12:00:30.000Z',
      'inverter-02': '2024-06-21T11:00:00.000Z',
    });
    // Same device name in another plant: its own row.
    expect(await lastReadings(plantB)).toEqual({ 'inverter-01': '2024-06-21T09:00:00.000Z' });

    // A late batch of older readings (a device emptying its buffer) and a newer one.
    await writeBatch(pool, [readingOf(plantA, 'inverter-01', '2024-06-21T08:00:00Z')], []);
    await writeBatch(pool, [readingOf(plantA, 'inverter-02', '2024-06-21T13:00:00.5Z')], []);
    expect(await lastReadings(plantA)).toEqual({
      'inverter-01': '2024-06-21T12:00:30.000Z',
      'inverter-02': '2024-06-21T13:00:00.500Z',
    });
  });

  it('is written by one statement per batch, whatever the number of readings and devices', async () => {
    const plantId = testPlant();
    const statements: string[] = [];
    const patched: { client: pg.PoolClient; query: pg.PoolClient['query'] }[] = [];
    // The real pool, with the statements of the client it lends recorded.
    const recording = {
      async connect() {
        const client = await pool.connect();
        const query = client.query;
        patched.push({ client, query });
        client.query = ((config: string | { text: string }, ...rest: unknown[]) => {
          statements.push(typeof config === 'string' ? config : config.text);
          return (query as (...args: unknown[]) => unknown).call(client, config, ...rest);
        }) as pg.PoolClient['query'];
        return client;
      },
    };
    const readings: Reading[] = [];
    for (let device = 0; device < 20; device++)
      for (let second = 0; second < 10; second++)
        readings.push(
          readingOf(plantId, `inverter-${device}`, `2024-06-21T12:00:${String(second).padStart(2, '0')}Z`),
        );
    await writeBatch(recording as unknown as pg.Pool, readings, []);
    for (const { client, query } of patched) client.query = query;
    expect(statements.filter((s) => s.includes('device_last_reading'))).toHaveLength(1);
    const last = await lastReadings(plantId);
    expect(Object.keys(last)).toHaveLength(20);
    expect(new Set(Object.values(last))).toEqual(new Set(['2024-06-21T12:00:09.000Z']));
  });

  it('moves only with its readings: a batch rolled back leaves it as it was', async () => {
    const plantId = testPlant();
    await writeBatch(pool, [readingOf(plantId, 'inverter-01', '2024-06-21T12:00:00Z')], []);
    await expect(
      writeBatch(pool, [readingOf(plantId, 'inverter-01', '2024-06-21T13:00:00Z')], [], {
        async beforeCommit() {
          throw new Error('connection lost before COMMIT');
        },
      }),
    ).rejects.toThrow('connection lost before COMMIT');
    expect(await lastReadings(plantId)).toEqual({ 'inverter-01': '2024-06-21T12:00:00.000Z' });
  });
});
