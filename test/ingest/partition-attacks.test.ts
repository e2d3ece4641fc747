/**
 * The partitioned telemetry tables under an operator's and a device's worst days, on databases of
 * their own (real PostgreSQL): a reading redelivered after its raw partition was dropped, partition
 * maintenance beside a reader that holds the table, maintenance racing the write path on a fresh
 * database, the migration on rows of 2000 and 2099 in a +13:45 database, and the same quarantined
 * messages replayed twice at once.
 */
import { randomBytes, randomUUID } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate.js';
import { maintainPartitions, type RetentionSettings } from '../../src/db/partitions.js';
import { parseMessage, type Reading, ruleOutput } from '../../src/ingest/message.js';
import { listQuarantined, replayQuarantined } from '../../src/ingest/quarantine.js';
import { classifyDbError, writeBatch } from '../../src/ingest/store.js';
import { dropDatabaseWhenClosed } from '../support/drop-database.js';
import { databaseUrl } from '../support/ingest.js';

let admin: pg.Client;
const databases: string[] = [];
const pools: pg.Pool[] = [];
const clients: pg.Client[] = [];
const folders: string[] = [];

beforeAll(async () => {
  admin = new pg.Client({ connectionString: databaseUrl() });
  await admin.connect();
});

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  for (const p of pools) await p.end().catch(() => undefined);
  for (const name of databases) await dropDatabaseWhenClosed(admin, name);
  await admin.end();
  for (const f of folders) await rm(f, { recursive: true, force: true });
});

/** The migrations folder cut just before `tag`. */
async function migrationsBefore(tag: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'migrations-'));
  folders.push(folder);
  await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: { tag: string }[] };
  journal.entries = journal.entries.slice(
    0,
    journal.entries.findIndex((e) => e.tag === tag),
  );
  await writeFile(journalPath, JSON.stringify(journal));
  return folder;
}

/** A migrated database of the test's own, with a pool (the write path's) on it. */
async function freshDatabase(
  options: { migrationsFolder?: string; timeZone?: string } = {},
): Promise<{ url: string; pool: pg.Pool }> {
  const name = `attack_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  databases.push(name);
  if (options.timeZone) await admin.query(`ALTER DATABASE ${name} SET timezone = '${options.timeZone}'`);
  const url = new URL(databaseUrl());
  url.pathname = `/${name}`;
  await migrateDatabase(
    url.toString(),
    options.migrationsFolder ? { migrationsFolder: options.migrationsFolder } : undefined,
  );
  const pool = new pg.Pool({ connectionString: url.toString(), max: 4 });
  pools.push(pool);
  return { url: url.toString(), pool };
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  clients.push(client);
  return client;
}

function readingAt(plant: string, timestamp: string, messageId = randomUUID()): Reading {
  const parsed = parseMessage(
    ruleOutput(
      { plantId: plant, deviceId: 'inverter-01', timestamp, metrics: { power_ac: 42, voltage_dc: 600 } },
      plant,
    ),
    messageId,
    { maxBodyBytes: 131_072 },
  );
  if (!parsed.ok) throw new Error(parsed.rejection.detail);
  return parsed.reading;
}

async function count(pool: pg.Pool, from: string, params: unknown[] = []): Promise<number> {
  const { rows } = await pool.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${from}`, params);
  return rows[0]?.n ?? Number.NaN;
}

const DAY_MS = 86_400_000;
const [SQS_ONE, SQS_TWO] = [randomUUID(), randomUUID()];
const settings: RetentionSettings = { rawRetentionDays: 3, processedRetentionDays: 60, aheadDays: 2 };

describe('partitions under attack', () => {
  it('a reading redelivered after retention dropped its raw partition adds no processed row', async () => {
    const { url, pool } = await freshDatabase();
    const maintainer = await connect(url);
    const now = Date.now();
    await maintainPartitions(maintainer, settings, new Date(now));
    const plant = `p-${randomUUID()}`;
    const at = new Date(now - 2 * DAY_MS).toISOString();
    const first = readingAt(plant, at, SQS_ONE);
    expect(await writeBatch(pool, [first], [])).toMatchObject({ rawInserted: 1, rowsInserted: 2 });

    // Two days on, the reading's raw day is past the 3-day retention and its partition goes.
    const later = await maintainPartitions(maintainer, settings, new Date(now + 2 * DAY_MS));
    expect(later.dropped.some((p) => p.startsWith('raw_mqtt_data_p'))).toBe(true);
    expect(await count(pool, 'raw_mqtt_data WHERE plant_id = $1', [plant])).toBe(0);

    // The same SQS message again, and the same reading under a new message id: both land in the
    // raw default partition (no index remembers them), but processed_data keeps one row per metric.
    const again = await writeBatch(pool, [readingAt(plant, at, SQS_ONE), readingAt(plant, at, SQS_TWO)], []);
    expect(again).toMatchObject({ rowsInserted: 0, rowsDuplicate: 4 });
    expect(await count(pool, 'processed_data WHERE plant_id = $1', [plant])).toBe(2);
    expect(await count(pool, 'ONLY raw_mqtt_data_default WHERE plant_id = $1', [plant])).toBe(1);
  });

  it('a reader holding the table keeps a partition from being dropped, not the partitions ahead from being created', async () => {
    const { url, pool } = await freshDatabase();
    const maintainer = await connect(url);
    const start = new Date('2026-03-15T10:00:00Z');
    await maintainPartitions(maintainer, settings, start);

    // A long read of one plant's recent readings (a dashboard, an export) holds processed_data.
    const reader = await connect(url);
    await reader.query('BEGIN');
    await reader.query(
      `SELECT count(*) FROM processed_data WHERE "timestamp" >= '2026-03-15T00:00:00Z' AND "timestamp" < '2026-03-16T00:00:00Z'`,
    );

    // Maintenance two months on: January must go, April and May must come for the readings of now.
    let outcome: unknown;
    try {
      outcome = await maintainPartitions(maintainer, settings, new Date('2026-05-10T10:00:00Z'));
    } catch (err) {
      outcome = err;
    } finally {
      await reader.query('COMMIT');
    }
    const { rows } = await pool.query<{ name: string }>(
      `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
        WHERE i.inhparent = 'processed_data'::regclass ORDER BY 1`,
    );
    expect(rows.map((r) => r.name)).toEqual(
      expect.arrayContaining(['processed_data_p2026_04', 'processed_data_p2026_05']),
    );
    const raw = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM pg_inherits WHERE inhparent = 'raw_mqtt_data'::regclass
          AND inhrelid = 'raw_mqtt_data_p2026_05_10'::regclass`,
    );
    expect(raw.rows[0]?.n).toBe(1);
    // The drop that had to wait is reported, and done by the next run.
    expect(String(outcome)).toMatch(/processed_data_p2026_01/);
    const next = await maintainPartitions(maintainer, settings, new Date('2026-05-10T10:00:00Z'));
    expect(next.dropped).toContain('processed_data_p2026_01');
  });

  it('maintenance racing the write path on a fresh database loses no reading and leaves none in the default', async () => {
    const { url, pool } = await freshDatabase();
    const plant = `p-${randomUUID()}`;
    const now = Date.now();
    const real: RetentionSettings = { rawRetentionDays: 30, processedRetentionDays: 400, aheadDays: 7 };
    // As the consumer does: a transient error writes the batch again, a data error would split
    // it and quarantine readings as db_rejected.
    const refused: string[] = [];
    const writes = (async () => {
      let written = 0;
      for (let batch = 0; batch < 20; batch++) {
        const readings = Array.from({ length: 25 }, (_, i) =>
          readingAt(plant, new Date(now - (batch * 25 + i) * 60_000).toISOString()),
        );
        for (;;) {
          try {
            written += (await writeBatch(pool, readings, [])).rawInserted;
            break;
          } catch (err) {
            if (classifyDbError(err) === 'data') {
              refused.push(String(err));
              break;
            }
          }
        }
      }
      return written;
    })();
    const [one, two] = [await connect(url), await connect(url)];
    const [written] = await Promise.all([
      writes,
      maintainPartitions(one, real, new Date(now)),
      maintainPartitions(two, real, new Date(now)),
    ]);
    expect(refused).toEqual([]);
    expect(written).toBe(500);
    await maintainPartitions(one, real, new Date(now));
    expect(await count(pool, 'processed_data WHERE plant_id = $1', [plant])).toBe(1_000);
    expect(await count(pool, 'raw_mqtt_data WHERE plant_id = $1', [plant])).toBe(500);
    expect(await count(pool, 'ONLY processed_data_default')).toBe(0);
    expect(await count(pool, 'ONLY raw_mqtt_data_default')).toBe(0);
  });
});

describe('the partitioning migration under attack', () => {
  it('converts rows from 2000 and 2099 in a database whose time zone is +13:45, by UTC bounds, keeping each', async () => {
    const { url, pool } = await freshDatabase({
      migrationsFolder: await migrationsBefore('0004_partition_telemetry_by_time'),
      timeZone: 'Pacific/Chatham',
    });
    const instants = [
      '2000-01-01T00:00:00Z',
      '2024-12-31T23:59:59.999999Z',
      '2025-01-01T00:00:00+13:45', // 2024-12-31T10:15Z
      '2099-12-31T23:59:59.999999Z',
    ];
    for (const [n, at] of instants.entries()) {
      await pool.query(
        `INSERT INTO raw_mqtt_data (message_id, message_hash, plant_id, device_id, "timestamp", payload)
         VALUES ($1, $2, 'plant-a', 'inverter-01', $3, '{}')`,
        [`m-${n}`, `h-${n}`, at],
      );
      await pool.query(
        `INSERT INTO processed_data (device_id, tag_id, "timestamp", value, plant_id) VALUES ('inverter-01', 'power_ac', $1, $2, 'plant-a')`,
        [at, n],
      );
    }
    await migrateDatabase(url);
    const names = async (table: string) =>
      (
        await pool.query<{ name: string }>(
          `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
            WHERE i.inhparent = $1::regclass ORDER BY 1`,
          [table],
        )
      ).rows.map((r) => r.name);
    expect(await names('processed_data')).toEqual([
      'processed_data_default',
      'processed_data_p2000_01',
      'processed_data_p2024_12',
      'processed_data_p2099_12',
    ]);
    expect(await names('raw_mqtt_data')).toEqual([
      'raw_mqtt_data_default',
      'raw_mqtt_data_p2000_01_01',
      'raw_mqtt_data_p2024_12_31',
      'raw_mqtt_data_p2099_12_31',
    ]);
    expect(await count(pool, 'processed_data')).toBe(4);
    expect(await count(pool, 'raw_mqtt_data')).toBe(4);
    expect(await count(pool, 'ONLY processed_data_default')).toBe(0);

    // The first maintenance after the upgrade, in the same zone: 2000 is past five years and goes,
    // 2099 stays, this month and the next days come.
    const maintainer = await connect(url);
    const result = await maintainPartitions(
      maintainer,
      { rawRetentionDays: 30, processedRetentionDays: 1_827, aheadDays: 7 },
      new Date('2025-01-10T12:00:00Z'),
    );
    expect(result.dropped).toEqual(['processed_data_p2000_01', 'raw_mqtt_data_p2000_01_01']);
    expect(await names('processed_data')).toEqual(expect.arrayContaining(['processed_data_p2099_12']));
    expect(await count(pool, 'processed_data')).toBe(3);
    const kept = await pool.query<{ n: number }>(
      `SELECT count(*)::int AS n FROM processed_data WHERE "timestamp" = '2099-12-31T23:59:59.999999Z'`,
    );
    expect(kept.rows[0]?.n).toBe(1);
  });
});

describe('quarantine replay under attack', () => {
  it('the same messages replayed twice at once are stored once and leave the quarantine', async () => {
    const { pool } = await freshDatabase();
    const plant = `p-${randomUUID()}`;
    const ids: string[] = [];
    for (let n = 0; n < 10; n++) {
      const b = ruleOutput(
        {
          plantId: plant,
          deviceId: `inverter-${n}`,
          timestamp: '2024-06-21T12:00:00Z',
          metrics: { power_ac: n },
        },
        plant,
      );
      const { rows } = await pool.query<{ id: string }>(
        `INSERT INTO quarantine (message_id, body, reason, body_bytes, body_sha256, body_truncated)
         VALUES ($1, $2, 'future_timestamp: 10 min ahead', $3, 'x', false) RETURNING id::text`,
        [`q-${n}-${plant}`, b, Buffer.byteLength(b)],
      );
      ids.push(rows[0]?.id as string);
    }
    const { messages } = await listQuarantined(pool, { ids, limit: 100 });
    const [a, b] = await Promise.all([
      replayQuarantined(pool, messages, { maxBodyBytes: 131_072 }),
      replayQuarantined(pool, [...messages].reverse(), { maxBodyBytes: 131_072 }),
    ]);
    const results = [...a, ...b];
    expect(results.filter((r) => r.result === 'stored')).toHaveLength(10);
    expect(results.filter((r) => r.result === 'duplicate')).toHaveLength(10);
    expect(await count(pool, 'processed_data WHERE plant_id = $1', [plant])).toBe(10);
    expect(await count(pool, 'raw_mqtt_data WHERE plant_id = $1', [plant])).toBe(10);
    expect(await count(pool, 'quarantine WHERE id = ANY($1::bigint[])', [ids])).toBe(0);
  });
});
