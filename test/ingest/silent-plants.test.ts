/**
 * The ingest's silent-plants gauge, on a database of its own (the count covers every plant, so
 * other test files' plants must not be in it), and migration 0002 filling device_last_reading
 * from the readings already stored.
 */
import { randomBytes } from 'node:crypto';
import { cp, mkdtemp, readFile, rm, writeFile } from 'node:fs/promises';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate.js';
import { IngestMetrics, serveMetrics } from '../../src/ingest/metrics.js';
import {
  countSilentPlants,
  loadSilentPlantsSettings,
  startSilentPlantsMonitor,
} from '../../src/ingest/silent-plants.js';
import { dropDatabaseWhenClosed } from '../support/drop-database.js';
import { quietLogger } from '../support/ingest.js';
import { storeReadings } from '../support/telemetry.js';

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl)
  throw new Error('DATABASE_URL is not set: run through vitest with test/support/global-setup.ts');

let admin: pg.Client;
const created: string[] = [];
const pools: pg.Pool[] = [];
const folders: string[] = [];

beforeAll(async () => {
  admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
});

afterAll(async () => {
  for (const p of pools) await p.end().catch(() => undefined);
  for (const name of created) await dropDatabaseWhenClosed(admin, name);
  await admin.end();
  for (const f of folders) await rm(f, { recursive: true, force: true });
});

/** A new database migrated up to (not including) `beforeTag`, or fully. */
async function freshDatabase(beforeTag?: string): Promise<{ url: string; pool: pg.Pool }> {
  const name = `silent_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  created.push(name);
  const url = new URL(serverUrl as string);
  url.pathname = `/${name}`;
  let migrationsFolder = MIGRATIONS_FOLDER;
  if (beforeTag) {
    migrationsFolder = await mkdtemp(join(tmpdir(), 'migrations-'));
    folders.push(migrationsFolder);
    await cp(MIGRATIONS_FOLDER, migrationsFolder, { recursive: true });
    const journalPath = join(migrationsFolder, 'meta', '_journal.json');
    const journal = JSON.parse(await readFile(journalPath, 'utf8')) as { entries: { tag: string }[] };
    journal.entries = journal.entries.slice(
      0,
      journal.entries.findIndex((e) => e.tag === beforeTag),
    );
    await writeFile(journalPath, JSON.stringify(journal));
  }
  await migrateDatabase(url.toString(), { migrationsFolder });
  const pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  pools.push(pool);
  return { url: url.toString(), pool };
}

const ago = (minutes: number) => new Date(Date.now() - minutes * 60_000).toISOString();

async function plant(pool: pg.Pool, id: string, iotStatus: string) {
  await pool.query("INSERT INTO plants (id, name, iot_status) VALUES ($1, 'gauge', $2)", [id, iotStatus]);
}

describe('ingest_silent_plants', () => {
  it('counts active plants quiet for the threshold, never-sent included; a reading takes one off', async () => {
    const { pool } = await freshDatabase();
    await plant(pool, 'recent', 'active');
    await storeReadings(pool, 'recent', [{ deviceId: 'inverter-01', timestamp: ago(2), metrics: { p: 1 } }]);
    await plant(pool, 'quiet', 'active');
    await storeReadings(pool, 'quiet', [{ deviceId: 'inverter-01', timestamp: ago(60), metrics: { p: 1 } }]);
    await plant(pool, 'never', 'active');
    await plant(pool, 'failed', 'failed'); // not expected to send
    const metrics = new IngestMetrics();

    expect(await countSilentPlants(pool, metrics, 900)).toBe(2);
    expect(await metrics.value(metrics.silentPlants)).toBe(2);
    expect(await countSilentPlants(pool, metrics, 2 * 3_600)).toBe(1);

    await storeReadings(pool, 'quiet', [{ deviceId: 'inverter-02', timestamp: ago(1), metrics: { p: 1 } }]);
    expect(await countSilentPlants(pool, metrics, 900)).toBe(1);
  });

  it('is counted at start and then periodically, and served on /metrics', async () => {
    const { pool } = await freshDatabase();
    await plant(pool, 'never-1', 'active');
    const metrics = new IngestMetrics();
    const endpoint = await serveMetrics(metrics, 0, '127.0.0.1');
    const monitor = startSilentPlantsMonitor(
      pool,
      metrics,
      { afterSeconds: 900, checkSeconds: 1 },
      quietLogger,
    );
    try {
      const until = async (n: number) => {
        while ((await metrics.value(metrics.silentPlants)) !== n) await new Promise((r) => setTimeout(r, 50));
      };
      await until(1);
      await plant(pool, 'never-2', 'active');
      await until(2); // the next periodic count
      const text = await (await fetch(`http://127.0.0.1:${endpoint.port}/metrics`)).text();
      expect(text).toMatch(/^ingest_silent_plants 2$/m);
    } finally {
      await monitor.stop();
      await endpoint.close();
    }
  });

  it('INGEST_SILENT_CHECK_SECONDS=0 exports no gauge (not a misleading 0); settings are validated', async () => {
    const metrics = new IngestMetrics();
    const monitor = startSilentPlantsMonitor(
      { query: () => Promise.reject(new Error('must not be called')) },
      metrics,
      { afterSeconds: 900, checkSeconds: 0 },
      quietLogger,
    );
    await monitor.stop();
    expect(await metrics.registry.metrics()).not.toContain('ingest_silent_plants');

    expect(loadSilentPlantsSettings({})).toEqual({ afterSeconds: 900, checkSeconds: 60 });
    expect(loadSilentPlantsSettings({ INGEST_SILENT_AFTER_SECONDS: '3600' }).afterSeconds).toBe(3_600);
    expect(() =>
      loadSilentPlantsSettings({ INGEST_SILENT_AFTER_SECONDS: '15m', INGEST_SILENT_CHECK_SECONDS: '-1' }),
    ).toThrow(/INGEST_SILENT_AFTER_SECONDS: "15m" is not a whole number[\s\S]*INGEST_SILENT_CHECK_SECONDS/);
  });
});

describe('migration 0002_device_last_reading', () => {
  it('fills device_last_reading with the newest reading per plant and device already stored', async () => {
    const { url, pool } = await freshDatabase('0002_device_last_reading');
    await pool.query(`
      INSERT INTO processed_data (device_id, tag_id, "timestamp", value, plant_id) VALUES
        ('inverter-01', 'p', '2024-06-21T12:00:00Z', 1, 'a'),
        ('inverter-01', 'p', '2024-06-21T13:00:00Z', 1, 'a'),
        ('inverter-02', 'p', '2024-06-21T11:00:00Z', 1, 'a'),
        ('inverter-01', 'q', '2024-06-21T10:00:00Z', 1, 'b')`);
    await migrateDatabase(url);
    const { rows } = await pool.query(
      `SELECT plant_id, device_id, to_char(last_reading_at AT TIME ZONE 'UTC', 'HH24:MI') AS at
         FROM device_last_reading ORDER BY 1, 2`,
    );
    expect(rows).toEqual([
      { plant_id: 'a', device_id: 'inverter-01', at: '13:00' },
      { plant_id: 'a', device_id: 'inverter-02', at: '11:00' },
      { plant_id: 'b', device_id: 'inverter-01', at: '10:00' },
    ]);
  });
});
