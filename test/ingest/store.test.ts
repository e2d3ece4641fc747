/**
 * The write path (writeBatch) against the real schema: what each deduplication layer keeps when
 * plants share device names, as installers name them (`inverter-01` in every plant).
 */
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { parseMessage, type Reading } from '../../src/ingest/message.js';
import { IngestMetrics } from '../../src/ingest/metrics.js';
import { INGEST_DEFAULTS } from '../../src/ingest/settings.js';
import { TelemetrySimulator } from '../../src/ingest/simulator.js';
import { classifyDbError, writeBatch } from '../../src/ingest/store.js';
import { body, Db, type DeviceReading, databaseUrl, testPlant, waitFor } from '../support/ingest.js';

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
    // The COPY of the new message's readings met the stored key: the batch was written again.
    expect(again).toMatchObject({ rawInserted: 1, rowsInserted: 0, rowsDuplicate: 1, fallbacks: 1 });
    const metrics = new IngestMetrics();
    metrics.recordOutcome(again);
    expect(await metrics.value(metrics.copyFallbacks)).toBe(1);
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

describe('writeBatch through COPY (the fast path)', () => {
  it('stores hostile device ids, metric names and bodies exactly as received', async () => {
    // What COPY's text format would misread unescaped: backslashes (its escape), `\.` (end of
    // data), `\N` (NULL), tabs and newlines (field and row ends; in a body, JSON whitespace and
    // escapes), quotes, and characters outside ASCII. Control characters never reach here
    // (message.ts refuses them in names); bodies carry them raw as JSON whitespace.
    const plantId = testPlant();
    const devices = [
      '\\.',
      '\\N',
      'inv\\01',
      'inv\\t01\\n',
      'inv"01\'',
      'x\\\\y',
      'wechselrichter-ü-☀-𝄞',
      '\\',
    ];
    const sent = devices.map((deviceId, i) => {
      const text =
        `{\n\t"plantId": ${JSON.stringify(plantId)},\r\n\t"deviceId": ${JSON.stringify(deviceId)},\n` +
        `"timestamp": "2024-06-21T12:00:0${i}.000Z",\n` +
        '"note": "tab\\there\\nnew line \\\\. \\\\N \\"quoted\\" \\u00e9 ☀ \\ud834\\udd1e",\n' +
        `"metrics": {"power\\\\ac": ${i}.5, "volt\\"dc\\\\t": -0.000001, "ü☀\\\\.": 1e300}\n}\n`;
      return { text, reading: parsed(text, `${plantId}-\\.\t-${i}`) };
    });
    expect(sent[0]?.reading.deviceId).toBe('\\.');
    expect(sent[4]?.reading.metrics.map(([name]) => name)).toEqual(['power\\ac', 'volt"dc\\t', 'ü☀\\.']);

    const outcome = await writeBatch(
      db.pool,
      sent.map((m) => m.reading),
      [],
    );
    expect(outcome).toMatchObject({
      rawInserted: devices.length,
      rowsInserted: 3 * devices.length,
      fallbacks: 0,
    });

    const raw = await db.pool.query<{ message_id: string; device_id: string; payload: unknown }>(
      'SELECT message_id, device_id, payload FROM raw_mqtt_data WHERE plant_id = $1',
      [plantId],
    );
    const byId = new Map(raw.rows.map((row) => [row.message_id, row]));
    for (const { text, reading } of sent) {
      expect(byId.get(reading.messageId)).toEqual({
        message_id: reading.messageId,
        device_id: reading.deviceId,
        payload: JSON.parse(text),
      });
    }
    const processed = await db.pool.query<{ device_id: string; tag_id: string; value: number }>(
      'SELECT device_id, tag_id, value FROM processed_data WHERE plant_id = $1',
      [plantId],
    );
    const key = (r: { device_id: string; tag_id: string; value: number }) =>
      JSON.stringify([r.device_id, r.tag_id, r.value]);
    expect(processed.rows.map(key).sort()).toEqual(
      sent
        .flatMap(({ reading }) =>
          reading.metrics.map(([tag, value]) => key({ device_id: reading.deviceId, tag_id: tag, value })),
        )
        .sort(),
    );
  });

  it('asks layer 2 first: redeliveries and repeated readings, stored or in the batch, are refused without a fallback', async () => {
    const plantId = testPlant();
    const message = (n: number, id: string, power = n) =>
      parsed(
        body({
          plantId,
          deviceId: 'inverter-01',
          timestamp: `2024-06-21T12:0${n}:00.000Z`,
          metrics: { power_ac: power },
        }),
        id,
      );
    await writeBatch(db.pool, [message(0, `${plantId}-a`), message(1, `${plantId}-b`)], []);

    const outcome = await writeBatch(
      db.pool,
      [
        message(0, `${plantId}-a`, 999), // a redelivery: same message id
        message(1, `${plantId}-c`, 999), // the stored reading under a new message id
        message(2, `${plantId}-d`, 42), // new
        message(2, `${plantId}-e`, 999), // the same new reading again in this batch
      ],
      [],
    );
    expect(outcome).toMatchObject({
      rawInserted: 1,
      duplicates: { messageId: 1, messageHash: 2 },
      rowsInserted: 1,
      rowsDuplicate: 3,
      fallbacks: 0,
    });
    const values = await db.pool.query(
      'SELECT value FROM processed_data WHERE plant_id = $1 ORDER BY "timestamp"',
      [plantId],
    );
    expect(values.rows).toEqual([{ value: 0 }, { value: 1 }, { value: 42 }]);
    expect(await db.raw(plantId)).toBe(3);
  });

  it('several writers at once on overlapping batches store every reading once', async () => {
    // Four consumers receive overlapping messages (redeliveries, and the same readings under new
    // message ids) at the same time: the losers of each race fall back, nothing is lost or doubled.
    const plantId = testPlant();
    const readings = Array.from({ length: 400 }, (_, n) => ({
      deviceId: `inverter-${String(n % 20).padStart(2, '0')}`,
      timestamp: new Date(Date.UTC(2024, 5, 21, 12, Math.floor(n / 20))).toISOString(),
    }));
    const message = (n: number, id: string) => {
      const r = readings[n] as { deviceId: string; timestamp: string };
      return parsed(body({ plantId, ...r, metrics: { power_ac: n, voltage_dc: 600 } }), id);
    };
    const batches = [0, 1, 2, 3].map((w) =>
      Array.from({ length: 200 }, (_, k) => {
        const n = (w * 67 + k * 7) % 400;
        return message(n, w % 2 === 0 ? `${plantId}-${n}` : `${plantId}-${n}-w${w}`);
      }),
    );
    const outcomes = await Promise.all(batches.map((batch) => writeBatch(db.pool, batch, [])));
    const covered = new Set(batches.flat().map((r) => r.hash));
    expect(outcomes.reduce((n, o) => n + o.rawInserted, 0)).toBe(covered.size);
    expect(outcomes.reduce((n, o) => n + o.rowsInserted, 0)).toBe(2 * covered.size);
    expect(await db.raw(plantId)).toBe(covered.size);
    expect(await db.processed(plantId)).toBe(2 * covered.size);
  });

  it('a duplicate key in the first row of a COPY of megabytes falls back and loses nothing', async () => {
    // The COPY text goes out in chunks while the next is built; PostgreSQL refuses the first row
    // while most of the stream is still to be sent (and the socket is full): the stream must stop
    // cleanly, the connection stay usable, and the batch be written again with ON CONFLICT.
    const plantId = testPlant();
    const padding = 'x'.repeat(4000);
    const messages = Array.from({ length: 1500 }, (_, n) =>
      parsed(
        body({
          plantId,
          deviceId: `inverter-${String(n % 10).padStart(2, '0')}`,
          timestamp: new Date(Date.UTC(2024, 5, 21, 14, 0, Math.floor(n / 10))).toISOString(),
          metrics: Object.fromEntries(
            Array.from({ length: 8 }, (_, m) => [`metric_${m}_${padding.slice(0, 100)}`, n]),
          ),
          note: padding,
        } as DeviceReading),
        `${plantId}-${n}`,
      ),
    );
    // Messages are written in hash order: the stored row under the first one's message id (another
    // hash, so layer 2's question does not see it) fails the raw COPY at its first row.
    const first = [...messages].sort((a, b) => (a.hash < b.hash ? -1 : 1))[0] as Reading;
    await db.pool.query(
      `INSERT INTO raw_mqtt_data (message_id, message_hash, plant_id, device_id, "timestamp", payload)
       VALUES ($1, 'another-hash', $2, $3, $4, '{}')`,
      [first.messageId, plantId, first.deviceId, first.timestamp],
    );
    const outcome = await writeBatch(db.pool, messages, []);
    expect(outcome).toMatchObject({
      rawInserted: 1499,
      duplicates: { messageId: 1, messageHash: 0 }, // found by its message id
      rowsInserted: 8 * 1500,
      fallbacks: 1,
    });
    expect(await db.raw(plantId)).toBe(1500);
    expect(await db.processed(plantId)).toBe(8 * 1500);
    // The pool's connections still work.
    const alive = await Promise.all([1, 2, 3].map(() => db.pool.query('SELECT 1 AS one')));
    expect(alive.map((r) => r.rows[0])).toEqual([{ one: 1 }, { one: 1 }, { one: 1 }]);
  });

  it('a connection killed in the middle of a COPY: a transient error, nothing kept, and the retry writes it', async () => {
    const plantId = testPlant();
    const messages = Array.from({ length: 50 }, (_, n) =>
      parsed(
        body({
          plantId,
          deviceId: 'inverter-01',
          timestamp: new Date(Date.UTC(2024, 5, 21, 13, n)).toISOString(),
          metrics: { power_ac: n },
        }),
        `${plantId}-${n}`,
      ),
    );
    // Another transaction holds one of the new raw rows, uncommitted: the COPY waits on it there.
    const held = messages[25] as Reading;
    const blocker = await db.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO raw_mqtt_data (message_id, message_hash, plant_id, device_id, "timestamp", payload)
         VALUES ($1, $2, $3, $4, $5, $6)`,
        [`${plantId}-other`, held.hash, held.plantId, held.deviceId, held.timestamp, held.body],
      );
      const writing = writeBatch(db.pool, messages, []);
      const outcome = writing.then(
        () => 'written',
        (err: unknown) => classifyDbError(err),
      );
      const copying = async () =>
        (
          await db.pool.query(
            `SELECT pg_terminate_backend(pid) AS killed FROM pg_stat_activity
              WHERE query LIKE 'COPY raw_mqtt_data%' AND wait_event_type = 'Lock'`,
          )
        ).rows.length > 0;
      await waitFor('the COPY waiting on the held row', copying, 20_000);
      expect(await outcome).toBe('transient');
    } finally {
      await blocker.query('ROLLBACK');
      blocker.release();
    }
    expect(await db.raw(plantId)).toBe(0);
    expect(await db.processed(plantId)).toBe(0);

    const again = await writeBatch(db.pool, messages, []);
    expect(again).toMatchObject({ rawInserted: 50, rowsInserted: 50, fallbacks: 0 });
    expect(await db.processed(plantId)).toBe(50);
  });
});

describe('writeBatch beside another writer', () => {
  it('the fallback inserts one raw row per reading, so it cannot deadlock with a COPY of the same message', async () => {
    // One reading sent under three message ids (a device's QoS 1 resends); SQS also hands `m` to a
    // second writer. Writer B falls back (its COPY meets a kept reading whose raw row retention
    // dropped) and its INSERT ... ON CONFLICT met `first`, `second` and `m` in turn; writer A's COPY
    // of `m` took m's message id and waited on B's `first` (the hash) while B waited on A's `m`
    // (the message id): "deadlock detected", one batch aborted.
    const plantId = testPlant();
    const at = '2024-06-21T15:00:00.000Z';
    const of = (id: string, deviceId = 'inverter-01') =>
      parsed(body({ plantId, deviceId, timestamp: at, metrics: { power_ac: 1 } }), `${plantId}-${id}`);
    const [first, second, m, kept] = [of('a'), of('b'), of('c'), of('kept', 'inverter-02')];
    await db.pool.query(
      `INSERT INTO processed_data (plant_id, device_id, "timestamp", tag_id, value) VALUES ($1, 'inverter-02', $2, 'power_ac', 1)`,
      [plantId, at],
    );
    const pools = ['writer-a', 'writer-b'].map(
      (name) => new pg.Pool({ connectionString: databaseUrl(), max: 1, application_name: name }),
    );
    const [poolA, poolB] = pools as [pg.Pool, pg.Pool];
    const waitingOnLock = async (name: string) =>
      (await db.count(
        `SELECT 1 FROM pg_stat_activity WHERE application_name = $1 AND wait_event_type = 'Lock'`,
        [name],
      )) > 0;
    const settle = <T>(p: Promise<T>) =>
      p.then(
        (ok) => ({ ok }),
        (err: unknown) => ({ error: String(err) }),
      );
    // Holds `second`'s message id uncommitted: B's INSERT stops there, between `first` and `m`.
    const blocker = await db.pool.connect();
    try {
      await blocker.query('BEGIN');
      await blocker.query(
        `INSERT INTO raw_mqtt_data (message_id, message_hash, plant_id, device_id, "timestamp", payload)
         VALUES ($1, 'another-hash', $2, 'inverter-01', $3, '{}')`,
        [second.messageId, plantId, at],
      );
      let release!: () => void;
      const held = new Promise<void>((r) => (release = r));
      let bAtCommit = false;
      const b = settle(
        writeBatch(poolB, [first, second, m, kept], [], {
          async beforeCommit() {
            bAtCommit = true;
            await held;
          },
        }),
      );
      await waitFor(
        'writer B waiting on the blocker or at its COMMIT',
        async () => bAtCommit || waitingOnLock('writer-b'),
      );
      const a = settle(writeBatch(poolA, [m], []));
      await waitFor("writer A's COPY waiting on B", () => waitingOnLock('writer-a'));
      await blocker.query('ROLLBACK');
      release();
      expect(await b).toEqual({ ok: expect.objectContaining({ rawInserted: 2, fallbacks: 1 }) });
      expect(await a).toEqual({ ok: expect.objectContaining({ rawInserted: 0, fallbacks: 1 }) });
    } finally {
      await blocker.query('ROLLBACK').catch(() => undefined);
      blocker.release();
      for (const pool of pools) await pool.end();
    }
    expect(await db.raw(plantId)).toBe(2);
    expect(await db.processed(plantId)).toBe(2);
  });
});
