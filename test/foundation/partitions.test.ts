/**
 * Telemetry partitions: the migration that converts the flat tables in place (on a database
 * holding rows of the old shape), maintenance creating partitions ahead and dropping them after
 * the retention, two maintainers racing, and the settings. Each test has a database of its own.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate.js';
import { maintainPartitions, type RetentionSettings } from '../../src/db/partitions.js';
import { loadPartitionSettings, PARTITION_DEFAULTS } from '../../src/ingest/partition-maintainer.js';
import { dropDatabaseWhenClosed } from '../support/drop-database.js';

const PARTITIONING_TAG = '0004_partition_telemetry_by_time';

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl)
  throw new Error('DATABASE_URL is not set: run through vitest with test/support/global-setup.ts');

let admin: pg.Client;
const created: string[] = [];
const clients: pg.Client[] = [];
const folders: string[] = [];

beforeAll(async () => {
  admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
});

afterAll(async () => {
  for (const c of clients) await c.end().catch(() => undefined);
  for (const name of created) await dropDatabaseWhenClosed(admin, name);
  await admin.end();
  for (const f of folders) await rm(f, { recursive: true, force: true });
});

async function freshDatabase(): Promise<string> {
  const name = `partitions_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  created.push(name);
  const url = new URL(serverUrl as string);
  url.pathname = `/${name}`;
  return url.toString();
}

async function connect(url: string): Promise<pg.Client> {
  const client = new pg.Client({ connectionString: url });
  await client.connect();
  clients.push(client);
  return client;
}

/** The migrations folder as it was just before `tag` (its journal cut there). */
async function migrationsBefore(tag: string): Promise<string> {
  const folder = await mkdtemp(join(tmpdir(), 'migrations-'));
  folders.push(folder);
  await cp(MIGRATIONS_FOLDER, folder, { recursive: true });
  const journalPath = join(folder, 'meta', '_journal.json');
  const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: { tag: string }[] };
  const at = journal.entries.findIndex((e) => e.tag === tag);
  expect(at).toBeGreaterThan(0);
  journal.entries = journal.entries.slice(0, at);
  await writeFile(journalPath, JSON.stringify(journal));
  return folder;
}

async function partitions(client: pg.Client, table: string): Promise<string[]> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = $1::regclass ORDER BY 1`,
    [table],
  );
  return rows.map((r) => r.name);
}

async function count(client: pg.Client, sql: string, params: unknown[] = []): Promise<number> {
  const { rows } = await client.query<{ n: number }>(`SELECT count(*)::int AS n FROM ${sql}`, params);
  return rows[0]?.n ?? Number.NaN;
}

async function insertRaw(client: pg.Client, messageId: string, hash: string, plant: string, at: string) {
  return client.query(
    `INSERT INTO raw_mqtt_data (message_id, message_hash, plant_id, device_id, "timestamp", payload)
     VALUES ($1, $2, $3, 'inverter-01', $4, '{}') ON CONFLICT DO NOTHING`,
    [messageId, hash, plant, at],
  );
}

async function insertProcessed(client: pg.Client, plant: string, at: string, value: number) {
  return client.query(
    `INSERT INTO processed_data (device_id, tag_id, "timestamp", value, plant_id)
     VALUES ('inverter-01', 'power_ac', $1, $2, $3) ON CONFLICT DO NOTHING`,
    [at, value, plant],
  );
}

describe('the partitioning migration', () => {
  it('converts tables holding rows of the old shape in place, keeping every row and the deduplication', async () => {
    const url = await freshDatabase();
    await migrateDatabase(url, { migrationsFolder: await migrationsBefore(PARTITIONING_TAG) });
    const db = await connect(url);
    expect(await partitions(db, 'processed_data')).toEqual([]); // the old, flat shape

    // Three months, a day boundary in UTC, and two plants sharing a device name.
    const instants = [
      '2024-01-31T23:59:59.999Z',
      '2024-02-01T00:00:00Z',
      '2024-02-01T12:00:00+05:00',
      '2024-03-15T08:00:00Z',
    ];
    let n = 0;
    for (const at of instants) {
      for (const plant of ['plant-a', 'plant-b']) {
        n++;
        await insertRaw(db, `m-${n}`, `h-${n}`, plant, at);
        await insertProcessed(db, plant, at, n);
        await db.query(
          `INSERT INTO processed_data (device_id, tag_id, "timestamp", value, plant_id) VALUES ('inverter-01', 'voltage_dc', $1, 600, $2)`,
          [at, plant],
        );
      }
    }
    const before = {
      raw: await count(db, 'raw_mqtt_data'),
      processed: await count(db, 'processed_data'),
      rawRows: (await db.query('SELECT * FROM raw_mqtt_data ORDER BY id')).rows,
      processedRows: (await db.query('SELECT * FROM processed_data ORDER BY plant_id, tag_id, "timestamp"'))
        .rows,
    };
    expect(before).toMatchObject({ raw: 8, processed: 16 });

    await migrateDatabase(url);

    const kinds = await db.query<{ relname: string; relkind: string }>(
      `SELECT relname, relkind FROM pg_class WHERE relname IN ('processed_data', 'raw_mqtt_data') ORDER BY 1`,
    );
    expect(kinds.rows).toEqual([
      { relname: 'processed_data', relkind: 'p' },
      { relname: 'raw_mqtt_data', relkind: 'p' },
    ]);
    expect(await db.query('SELECT * FROM raw_mqtt_data ORDER BY id').then((r) => r.rows)).toEqual(
      before.rawRows,
    );
    expect(
      await db
        .query('SELECT * FROM processed_data ORDER BY plant_id, tag_id, "timestamp"')
        .then((r) => r.rows),
    ).toEqual(before.processedRows);
    expect(await partitions(db, 'processed_data')).toEqual([
      'processed_data_default',
      'processed_data_p2024_01',
      'processed_data_p2024_02',
      'processed_data_p2024_03',
    ]);
    // 2024-02-01T12:00:00+05:00 is 07:00 UTC: bounds are UTC.
    expect(await partitions(db, 'raw_mqtt_data')).toEqual([
      'raw_mqtt_data_default',
      'raw_mqtt_data_p2024_01_31',
      'raw_mqtt_data_p2024_02_01',
      'raw_mqtt_data_p2024_03_15',
    ]);
    expect(await count(db, 'ONLY processed_data_default')).toBe(0);
    expect(await count(db, 'processed_data_p2024_02')).toBe(8);
    expect(await count(db, 'raw_mqtt_data_p2024_01_31')).toBe(2);

    // Both deduplication layers of raw_mqtt_data still refuse, and the key still holds.
    expect((await insertRaw(db, 'm-1', 'h-new', 'plant-a', instants[0] as string)).rowCount).toBe(0);
    expect((await insertRaw(db, 'm-new', 'h-1', 'plant-a', instants[0] as string)).rowCount).toBe(0);
    expect((await insertProcessed(db, 'plant-a', instants[0] as string, 99)).rowCount).toBe(0);
    // The id sequence carries on after the copied rows.
    expect((await insertRaw(db, 'm-next', 'h-next', 'plant-a', '2024-03-15T09:00:00Z')).rowCount).toBe(1);
    const ids = await db.query<{ id: string }>(
      `SELECT id::text FROM raw_mqtt_data WHERE message_id = 'm-next'`,
    );
    expect(Number(ids.rows[0]?.id)).toBeGreaterThan(8);
  });
});

describe('partition maintenance', () => {
  const settings: RetentionSettings = { rawRetentionDays: 3, processedRetentionDays: 60, aheadDays: 2 };

  it('creates partitions from the retention cut-off to ahead of now, and drops only the ones older than the retention', async () => {
    const url = await freshDatabase();
    await migrateDatabase(url);
    const db = await connect(url);
    const now = new Date('2026-03-15T10:00:00Z');

    const first = await maintainPartitions(db, settings, now);
    // processed: 60 days back is 2026-01-14, so January to March; 2 days ahead stays in March.
    expect(first.created.filter((p) => p.startsWith('processed'))).toEqual([
      'processed_data_p2026_01',
      'processed_data_p2026_02',
      'processed_data_p2026_03',
    ]);
    // raw: 3 days back is 2026-03-12 10:00, so from the 12th; 2 days ahead is the 17th.
    expect(first.created.filter((p) => p.startsWith('raw'))).toEqual([
      'raw_mqtt_data_p2026_03_12',
      'raw_mqtt_data_p2026_03_13',
      'raw_mqtt_data_p2026_03_14',
      'raw_mqtt_data_p2026_03_15',
      'raw_mqtt_data_p2026_03_16',
      'raw_mqtt_data_p2026_03_17',
    ]);
    expect(first.dropped).toEqual([]);
    expect(await maintainPartitions(db, settings, now)).toEqual({
      created: [],
      dropped: [],
      movedFromDefault: 0,
      deletedFromDefault: 0,
    });

    let n = 0;
    for (const at of [
      '2026-01-20T00:00:00Z',
      '2026-02-10T00:00:00Z',
      '2026-03-12T05:00:00Z',
      '2026-03-15T09:00:00Z',
    ]) {
      n++;
      await insertProcessed(db, 'plant-a', at, n);
      if (at >= '2026-03-12') await insertRaw(db, `m-${n}`, `h-${n}`, 'plant-a', at);
    }
    expect(await count(db, 'ONLY processed_data_default')).toBe(0);
    expect(await count(db, 'ONLY raw_mqtt_data_default')).toBe(0);
    expect(await count(db, 'raw_mqtt_data')).toBe(2);

    // 20 days later: raw keeps from 2026-04-01 10:00, processed from 2026-02-03 10:00.
    const later = await maintainPartitions(db, settings, new Date('2026-04-04T10:00:00Z'));
    expect(later.dropped).toEqual([
      'processed_data_p2026_01',
      'raw_mqtt_data_p2026_03_12',
      'raw_mqtt_data_p2026_03_13',
      'raw_mqtt_data_p2026_03_14',
      'raw_mqtt_data_p2026_03_15',
      'raw_mqtt_data_p2026_03_16',
      'raw_mqtt_data_p2026_03_17',
    ]);
    // February is kept although its first days are past the cut-off: only whole partitions go.
    expect(await partitions(db, 'processed_data')).toEqual([
      'processed_data_default',
      'processed_data_p2026_02',
      'processed_data_p2026_03',
      'processed_data_p2026_04',
    ]);
    const values = await db.query<{ value: number }>('SELECT value FROM processed_data ORDER BY value');
    expect(values.rows.map((r) => r.value)).toEqual([2, 3, 4]);
    expect(await count(db, 'raw_mqtt_data')).toBe(0);
    expect(await partitions(db, 'raw_mqtt_data')).toEqual([
      'raw_mqtt_data_default',
      'raw_mqtt_data_p2026_04_01',
      'raw_mqtt_data_p2026_04_02',
      'raw_mqtt_data_p2026_04_03',
      'raw_mqtt_data_p2026_04_04',
      'raw_mqtt_data_p2026_04_05',
      'raw_mqtt_data_p2026_04_06',
    ]);
  });

  it('moves rows of the default partition into a partition created for their range', async () => {
    const url = await freshDatabase();
    await migrateDatabase(url);
    const db = await connect(url);
    // Written before any partition existed (or after maintenance fell behind): the default holds them.
    await insertProcessed(db, 'plant-a', '2026-03-14T10:00:00Z', 1);
    await insertRaw(db, 'm-1', 'h-1', 'plant-a', '2026-03-14T10:00:00Z');
    expect(await count(db, 'ONLY processed_data_default')).toBe(1);

    const result = await maintainPartitions(db, settings, new Date('2026-03-15T10:00:00Z'));
    expect(result.movedFromDefault).toBe(2);
    expect(await count(db, 'ONLY processed_data_default')).toBe(0);
    expect(await count(db, 'processed_data_p2026_03')).toBe(1);
    expect(await count(db, 'raw_mqtt_data_p2026_03_14')).toBe(1);
    // Still deduplicated in its new partition.
    expect((await insertRaw(db, 'm-1', 'h-other', 'plant-a', '2026-03-14T10:00:00Z')).rowCount).toBe(0);

    // A reading older than every partition stays in the default for the retention, counted from
    // its arrival, then goes.
    await insertRaw(db, 'm-late', 'h-late', 'plant-a', '2025-06-01T00:00:00Z');
    await db.query(
      `UPDATE raw_mqtt_data SET received_at = '2026-03-14T00:00:00Z' WHERE message_id = 'm-late'`,
    );
    expect(
      (await maintainPartitions(db, settings, new Date('2026-03-16T10:00:00Z'))).deletedFromDefault,
    ).toBe(0);
    expect(await count(db, 'ONLY raw_mqtt_data_default')).toBe(1);
    const expired = await maintainPartitions(db, settings, new Date('2026-03-17T01:00:00Z'));
    expect(expired.deletedFromDefault).toBe(1);
    expect(await count(db, 'ONLY raw_mqtt_data_default')).toBe(0);
  });

  it('two maintainers racing on one database both succeed and create each partition once', async () => {
    const url = await freshDatabase();
    await migrateDatabase(url);
    const [one, two] = [await connect(url), await connect(url)];
    const now = new Date('2026-03-15T10:00:00Z');
    const results = await Promise.all([
      maintainPartitions(one, settings, now),
      maintainPartitions(two, settings, now),
    ]);
    const createdByEither = results.flatMap((r) => r.created).sort();
    expect(new Set(createdByEither).size).toBe(createdByEither.length);
    expect(createdByEither).toEqual(
      [...(await partitions(one, 'processed_data')), ...(await partitions(one, 'raw_mqtt_data'))]
        .filter((p) => !p.endsWith('_default'))
        .sort(),
    );
    expect(createdByEither).toHaveLength(9);
    const locks = await one.query(`SELECT count(*)::int AS n FROM pg_locks WHERE locktype = 'advisory'`);
    expect(locks.rows[0].n).toBe(0);
  });
});

describe('reading one plant, one metric, a time range', () => {
  it('reads only the partitions of the range, through the primary key', async () => {
    const url = await freshDatabase();
    await migrateDatabase(url);
    const db = await connect(url);
    const now = new Date('2026-03-15T10:00:00Z');
    await maintainPartitions(db, { rawRetentionDays: 3, processedRetentionDays: 90, aheadDays: 2 }, now);
    // 5 plants x 4 metrics x 2 devices, hourly over two and a half months.
    await db.query(`
      INSERT INTO processed_data (device_id, tag_id, "timestamp", value, plant_id)
      SELECT 'inverter-0' || d, 'metric_' || m, t, 1, 'plant-' || p
        FROM generate_series(1, 5) p, generate_series(1, 4) m, generate_series(1, 2) d,
             generate_series('2026-01-01'::timestamptz, '2026-03-15', interval '1 hour') t`);
    await db.query('ANALYZE processed_data');
    const { rows } = await db.query<{ 'QUERY PLAN': unknown }>(
      `EXPLAIN (FORMAT JSON) SELECT device_id, avg(value) FROM processed_data
        WHERE plant_id = 'plant-2' AND tag_id = 'metric_3'
          AND "timestamp" >= '2026-02-20T00:00:00Z' AND "timestamp" < '2026-03-02T00:00:00Z'
        GROUP BY device_id`,
    );
    const relations: string[] = [];
    const indexes: string[] = [];
    const walk = (node: Record<string, unknown>) => {
      if (typeof node['Relation Name'] === 'string') relations.push(node['Relation Name']);
      if (typeof node['Index Name'] === 'string') indexes.push(node['Index Name']);
      for (const child of (node.Plans as Record<string, unknown>[] | undefined) ?? []) walk(child);
    };
    const plan = rows[0]?.['QUERY PLAN'] as { Plan: Record<string, unknown> }[];
    walk(plan[0]?.Plan ?? {});
    // Pruned to the two months, each read through its primary key (an index scan or a bitmap of it).
    expect(relations.sort()).toEqual(['processed_data_p2026_02', 'processed_data_p2026_03']);
    expect(indexes.sort()).toEqual(['processed_data_p2026_02_pkey', 'processed_data_p2026_03_pkey']);
  });
});

describe('partition settings', () => {
  it('default to 30 days of raw messages, five years of readings, 7 days ahead, hourly', () => {
    expect(PARTITION_DEFAULTS).toEqual({
      rawRetentionDays: 30,
      processedRetentionDays: 1827,
      aheadDays: 7,
      maintenanceMinutes: 60,
    });
  });

  it('refuse a bad value with one line per variable, and raw kept longer than readings', () => {
    expect(() =>
      loadPartitionSettings({ INGEST_RAW_RETENTION_DAYS: 'ten', INGEST_PARTITIONS_AHEAD_DAYS: '0' }),
    ).toThrow(
      /^INGEST_RAW_RETENTION_DAYS: "ten" is not a whole number\. Fix: .*\nINGEST_PARTITIONS_AHEAD_DAYS: "0" is below 1\. Fix: /,
    );
    expect(() =>
      loadPartitionSettings({ INGEST_RAW_RETENTION_DAYS: '90', INGEST_PROCESSED_RETENTION_DAYS: '60' }),
    ).toThrow(/^INGEST_RAW_RETENTION_DAYS: 90 is longer than INGEST_PROCESSED_RETENTION_DAYS \(60\)/);
  });
});
