/**
 * The write path (writeBatch) against the real schema: what each deduplication layer keeps when
 * plants share device names, as installers name them (`inverter-01` in every plant).
 */
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, type Reading } from '../../src/ingest/message.js';
import { INGEST_DEFAULTS } from '../../src/ingest/settings.js';
import { TelemetrySimulator } from '../../src/ingest/simulator.js';
import { writeBatch } from '../../src/ingest/store.js';
import { body, Db, testPlant } from './support.js';

let db: Db;

beforeAll(() => {
  db = new Db();
});

afterAll(async () => {
  await db.close();
});

function parsed(messageBody: string, messageId: string): Reading {
  const result = parseMessage(messageBody, messageId, { maxBodyBytes: INGEST_DEFAULTS.maxBodyBytes });
  if (!result.ok) throw new Error(`test message refused: ${result.rejection.detail}`);
  return result.reading;
}

describe('writeBatch', () => {
  it('keeps both plants when two plants each have inverter-01 reporting the same instant', async () => {
    const [a, b] = [testPlant(), testPlant()];
    const at = '2024-06-21T12:00:00.000Z';
    const readingOf = (plantId: string, power: number) =>
      parsed(
        body({
          plantId,
          deviceId: 'inverter-01',
          timestamp: at,
          metrics: { power_ac: power, voltage_dc: 600 },
        }),
        `${plantId}-m1`,
      );
    // Two transactions, as two consumers (or two batches) would write them.
    const first = await writeBatch(db.pool, [readingOf(a, 4200)], []);
    const second = await writeBatch(db.pool, [readingOf(b, 9100)], []);

    // Layer 2's hash includes the plant, so both raw rows are new.
    expect(first.rawInserted).toBe(1);
    expect(second.rawInserted).toBe(1);
    expect(second.rowsDuplicate).toBe(0);
    const values = await db.pool.query<{ plant_id: string; value: number }>(
      `SELECT plant_id, value FROM processed_data
        WHERE plant_id = ANY($1) AND device_id = 'inverter-01' AND tag_id = 'power_ac' AND "timestamp" = $2
        ORDER BY value`,
      [[a, b], at],
    );
    expect(values.rows).toEqual([
      { plant_id: a, value: 4200 },
      { plant_id: b, value: 9100 },
    ]);
  });
});

describe('writeBatch on processed rows without their raw row', () => {
  it('keeps the first value and counts duplicates when a new message repeats stored readings', async () => {
    // The raw row is gone (its day dropped by the retention, which keeps readings longer) while
    // the readings remain: layer 2 takes the message as new, layer 3 must still refuse the rows.
    const plantId = testPlant();
    const at = '2024-06-21T12:00:00.000Z';
    const message = (power: number, id: string) =>
      parsed(body({ plantId, deviceId: 'inverter-01', timestamp: at, metrics: { power_ac: power } }), id);
    await writeBatch(db.pool, [message(4200, `${plantId}-m1`)], []);
    await db.pool.query('DELETE FROM raw_mqtt_data WHERE plant_id = $1', [plantId]);

    const again = await writeBatch(db.pool, [message(9999, `${plantId}-m2`)], []);
    expect(again).toMatchObject({ rawInserted: 1, rowsInserted: 0, rowsDuplicate: 1 });
    const values = await db.pool.query('SELECT value FROM processed_data WHERE plant_id = $1', [plantId]);
    expect(values.rows).toEqual([{ value: 4200 }]);
    expect(await db.raw(plantId)).toBe(1);
  });
});

describe('TelemetrySimulator', () => {
  it('names devices as installers do, inverter-01..inverter-N in every plant', () => {
    const sim = new TelemetrySimulator({ plants: 2, devices: 3, seed: 1, plantPrefix: 'names' });
    expect(sim.inverters.map((i) => `${i.plant.id}/${i.id}`)).toEqual([
      'names-plant-001/inverter-01',
      'names-plant-001/inverter-02',
      'names-plant-001/inverter-03',
      'names-plant-002/inverter-01',
      'names-plant-002/inverter-02',
      'names-plant-002/inverter-03',
    ]);
  });
});
