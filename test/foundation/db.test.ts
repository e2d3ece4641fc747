/**
 * Database: the committed migrations on a real PostgreSQL (a fresh database of our own, created
 * on the server of the test run), idempotent and safe to run concurrently; a round trip through
 * each table; the deduplication constraints the ingestion relies on.
 */
import { createHash, randomBytes } from 'node:crypto';
import { cpSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join, resolve } from 'node:path';
import { fileURLToPath } from 'node:url';
import { eq, sql } from 'drizzle-orm';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { createCipher, generateEncryptionKey } from '../../src/crypto/encryption.js';
import { createDb, type DbHandle } from '../../src/db/client.js';
import { MIGRATIONS_FOLDER, migrateDatabase } from '../../src/db/migrate.js';
import { certificates, plants, processedData, quarantine, rawMqttData } from '../../src/db/schema.js';
import { dropDatabaseWhenClosed } from '../support/drop-database.js';

/** How many migrations drizzle-kit has generated: each is applied exactly once. */
const MIGRATION_COUNT = (
  JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as { entries: unknown[] }
).entries.length;

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl)
  throw new Error('DATABASE_URL is not set: run through vitest with test/support/global-setup.ts');

const created: string[] = [];
let admin: pg.Client;

/** A new, empty database on the test server; dropped after the file. */
async function freshDatabase(): Promise<string> {
  const name = `foundation_${randomBytes(6).toString('hex')}`;
  await admin.query(`CREATE DATABASE ${name}`);
  created.push(name);
  const url = new URL(serverUrl as string);
  url.pathname = `/${name}`;
  return url.toString();
}

async function pgError(promise: Promise<unknown>): Promise<{ code?: string; constraint?: string }> {
  const err = await promise.then(
    () => {
      throw new Error('expected a database error');
    },
    (e: unknown) => e,
  );
  // drizzle wraps driver errors; the pg error is the cause
  const e = err as { code?: string; constraint?: string; cause?: { code?: string; constraint?: string } };
  return e.code ? e : (e.cause ?? e);
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
});

afterAll(async () => {
  for (const name of created) await dropDatabaseWhenClosed(admin, name);
  await admin.end();
});

describe('migrations', () => {
  it('resolve drizzle/ from the module, not the working directory', () => {
    const repo = fileURLToPath(new URL('../..', import.meta.url));
    expect(MIGRATIONS_FOLDER).toBe(resolve(repo, 'drizzle'));
  });

  it('create every table and index on an empty database, and a second run changes nothing', async () => {
    const url = await freshDatabase();
    const cwd = process.cwd();
    process.chdir(tmpdir());
    try {
      await migrateDatabase(url);
    } finally {
      process.chdir(cwd);
    }
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const tables = await client.query<{ table_name: string }>(
        `SELECT table_name FROM information_schema.tables WHERE table_schema = 'public' ORDER BY table_name`,
      );
      expect(tables.rows.map((r) => r.table_name)).toEqual([
        'certificates',
        'device_last_reading',
        'plants',
        'processed_data',
        'processed_data_default', // partitions by time: src/db/partitions.ts
        'quarantine',
        'raw_mqtt_data',
        'raw_mqtt_data_default',
      ]);
      const indexes = await client.query<{ indexname: string; indexdef: string }>(
        `SELECT indexname, indexdef FROM pg_indexes WHERE schemaname = 'public'`,
      );
      const unique = indexes.rows
        .filter((r) => r.indexdef.startsWith('CREATE UNIQUE'))
        .map((r) => r.indexname);
      expect(unique).toEqual(
        expect.arrayContaining([
          'raw_mqtt_data_message_id_idx',
          'raw_mqtt_data_message_hash_idx',
          'certificates_request_id_idx',
          'certificates_certificate_id_idx',
          'processed_data_plant_id_tag_id_timestamp_device_id_pk',
        ]),
      );
      const applied = async () =>
        (await client.query('SELECT hash, created_at FROM drizzle.__drizzle_migrations ORDER BY id')).rows;
      const first = await applied();
      expect(MIGRATION_COUNT).toBeGreaterThanOrEqual(2);
      expect(first).toHaveLength(MIGRATION_COUNT);

      await migrateDatabase(url);
      expect(await applied()).toEqual(first);
    } finally {
      await client.end();
    }
  });

  it('are safe when several processes migrate the same database at once', async () => {
    const url = await freshDatabase();
    await Promise.all([migrateDatabase(url), migrateDatabase(url), migrateDatabase(url)]);
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const { rows } = await client.query('SELECT count(*)::int AS n FROM drizzle.__drizzle_migrations');
      expect(rows[0].n).toBe(MIGRATION_COUNT);
      // the advisory lock is released
      const locks =
        await client.query(`SELECT count(*)::int AS n FROM pg_locks l JOIN pg_database d ON d.oid = l.database
         WHERE l.locktype = 'advisory' AND d.datname = current_database()`);
      expect(locks.rows[0].n).toBe(0);
    } finally {
      await client.end();
    }
  });

  it('quarantine_body_digest keeps every quarantine row, with the size and sha256 of its body', async () => {
    // The migrations up to the one before it, then all of them, on a row written in between.
    const journal = JSON.parse(readFileSync(join(MIGRATIONS_FOLDER, 'meta', '_journal.json'), 'utf8')) as {
      entries: { tag: string }[];
    };
    const at = journal.entries.findIndex((e) => e.tag.endsWith('_quarantine_body_digest'));
    expect(at).toBeGreaterThan(0);
    const before = mkdtempSync(join(tmpdir(), 'migrations-'));
    cpSync(MIGRATIONS_FOLDER, before, { recursive: true });
    writeFileSync(
      join(before, 'meta', '_journal.json'),
      JSON.stringify({ ...journal, entries: journal.entries.slice(0, at) }),
    );
    const url = await freshDatabase();
    await migrateDatabase(url, { migrationsFolder: before });
    rmSync(before, { recursive: true, force: true });
    const client = new pg.Client({ connectionString: url });
    await client.connect();
    try {
      const body = '{"note": "é"';
      await client.query(
        `INSERT INTO quarantine (message_id, body, reason) VALUES ('m-old', $1, 'invalid_json: x')`,
        [body],
      );
      await migrateDatabase(url);
      const { rows } = await client.query(
        'SELECT body, body_bytes, body_sha256, body_truncated FROM quarantine',
      );
      expect(rows).toEqual([
        {
          body,
          body_bytes: Buffer.byteLength(body),
          body_sha256: createHash('sha256').update(body).digest('hex'),
          body_truncated: false,
        },
      ]);
    } finally {
      await client.end();
    }
  });

  it('fail with the server error for an unreachable database', async () => {
    const url = new URL(serverUrl as string);
    url.pathname = '/does_not_exist_foundation';
    await expect(migrateDatabase(url.toString())).rejects.toThrow(/does_not_exist_foundation/);
  });
});

describe('tables', () => {
  let h: DbHandle;

  beforeAll(async () => {
    const url = await freshDatabase();
    await migrateDatabase(url);
    h = createDb(url, { max: 4 });
  });

  afterAll(async () => {
    await h.close();
    await h.close(); // idempotent
  });

  it('plants: insert with defaults, update the IoT state, read back', async () => {
    const [row] = await h.db.insert(plants).values({ id: 'plant-1', name: 'Sun Valley' }).returning();
    expect(row).toMatchObject({ id: 'plant-1', name: 'Sun Valley', iotStatus: 'pending', thingName: null });
    expect(row?.createdAt).toBeInstanceOf(Date);

    const provisionedAt = new Date('2030-01-02T03:04:05.678Z');
    await h.db
      .update(plants)
      .set({
        iotStatus: 'active',
        thingName: 'solar-plant-plant-1',
        certificateId: 'a'.repeat(64),
        certificateArn: `arn:aws:iot:us-east-1:123456789012:cert/${'a'.repeat(64)}`,
        policyName: 'solar-plant-plant-1-policy',
        ruleName: 'solar_plant_plant_1',
        provisionedAt,
      })
      .where(eq(plants.id, 'plant-1'));
    const read = await h.db.query.plants.findFirst({ where: eq(plants.id, 'plant-1') });
    expect(read).toMatchObject({ iotStatus: 'active', thingName: 'solar-plant-plant-1', provisionedAt });
  });

  it('certificates: the private key stored as an envelope comes back; request ids are unique', async () => {
    const cipher = createCipher({ currentKey: generateEncryptionKey() });
    const pem = '-----BEGIN PRIVATE KEY-----\nMIIB\n-----END PRIVATE KEY-----\n';
    const [row] = await h.db
      .insert(certificates)
      .values({ requestId: 'wf-1/run-1', plantId: 'plant-1', encryptedPrivateKey: await cipher.encrypt(pem) })
      .returning();
    expect(row).toMatchObject({ status: 'key-created', certificateId: null });
    await h.db
      .update(certificates)
      .set({ certificateId: 'b'.repeat(64), status: 'active', activatedAt: new Date() })
      .where(eq(certificates.id, row?.id as number));
    const read = await h.db.query.certificates.findFirst({ where: eq(certificates.requestId, 'wf-1/run-1') });
    expect(read?.status).toBe('active');
    await expect(cipher.decrypt(read?.encryptedPrivateKey as string)).resolves.toBe(pem);

    // a retried activity finds its row instead of creating a second key
    const dup = await h.db
      .insert(certificates)
      .values({ requestId: 'wf-1/run-1', plantId: 'plant-1' })
      .onConflictDoNothing({ target: certificates.requestId })
      .returning();
    expect(dup).toEqual([]);
    expect(
      await pgError(h.db.insert(certificates).values({ requestId: 'wf-1/run-1', plantId: 'plant-1' })),
    ).toMatchObject({ code: '23505', constraint: 'certificates_request_id_idx' });
    // certificate_id is unique, but many rows may not have one yet
    await h.db.insert(certificates).values([
      { requestId: 'wf-2', plantId: 'plant-2' },
      { requestId: 'wf-3', plantId: 'plant-3' },
    ]);
    expect(
      await pgError(
        h.db.insert(certificates).values({ requestId: 'wf-4', plantId: 'p', certificateId: 'b'.repeat(64) }),
      ),
    ).toMatchObject({ code: '23505', constraint: 'certificates_certificate_id_idx' });
  });

  it('raw_mqtt_data: round trip, unique message_id and unique message_hash', async () => {
    const timestamp = new Date('2030-01-01T12:00:00.000Z');
    const payload = {
      plantId: 'plant-1',
      deviceId: 'inverter-01',
      timestamp: timestamp.toISOString(),
      metrics: { power_ac: 4200 },
    };
    const message = {
      messageId: 'm-1',
      messageHash: 'h-1',
      plantId: 'plant-1',
      deviceId: 'inverter-01',
      timestamp,
      payload,
    };
    const [row] = await h.db.insert(rawMqttData).values(message).returning();
    expect(row).toMatchObject({ ...message, id: expect.any(Number) });

    // the same SQS message delivered twice
    expect(
      await pgError(h.db.insert(rawMqttData).values({ ...message, messageHash: 'h-other' })),
    ).toMatchObject({
      code: '23505',
      // a partition's index reports the violation (raw_mqtt_data_default_message_id_timestamp_idx)
      constraint: expect.stringMatching(/^raw_mqtt_data_.*message_id.*_idx$/),
    });
    // the same reading republished under a new message id
    expect(await pgError(h.db.insert(rawMqttData).values({ ...message, messageId: 'm-2' }))).toMatchObject({
      code: '23505',
      constraint: expect.stringMatching(/^raw_mqtt_data_.*message_hash.*_idx$/),
    });
    // the batch path: duplicates of either kind are skipped, new ones kept
    const inserted = await h.db
      .insert(rawMqttData)
      .values([
        { ...message, messageId: 'm-1', messageHash: 'h-9' },
        { ...message, messageId: 'm-9', messageHash: 'h-1' },
        { ...message, messageId: 'm-3', messageHash: 'h-3' },
      ])
      .onConflictDoNothing()
      .returning({ messageId: rawMqttData.messageId });
    expect(inserted).toEqual([{ messageId: 'm-3' }]);
    const count = await h.db.select({ n: sql<number>`count(*)::int` }).from(rawMqttData);
    expect(count[0]?.n).toBe(2);
  });

  it('processed_data: one row per (plant, tag, timestamp, device), ON CONFLICT DO NOTHING keeps the first value', async () => {
    const ts = new Date('2030-01-01T12:00:00.000Z');
    const later = new Date('2030-01-01T12:00:01.000Z');
    const first = await h.db
      .insert(processedData)
      .values([
        { deviceId: 'inverter-01', tagId: 'power_ac', timestamp: ts, value: 4200, plantId: 'plant-1' },
        { deviceId: 'inverter-01', tagId: 'voltage_dc', timestamp: ts, value: 350.5, plantId: 'plant-1' },
      ])
      .onConflictDoNothing()
      .returning();
    expect(first).toHaveLength(2);

    const again = await h.db
      .insert(processedData)
      .values([
        { deviceId: 'inverter-01', tagId: 'power_ac', timestamp: ts, value: 9999, plantId: 'plant-1' },
        { deviceId: 'inverter-01', tagId: 'power_ac', timestamp: later, value: 4300, plantId: 'plant-1' },
        { deviceId: 'inverter-02', tagId: 'power_ac', timestamp: ts, value: 100, plantId: 'plant-1' },
      ])
      .onConflictDoNothing({
        target: [processedData.plantId, processedData.tagId, processedData.timestamp, processedData.deviceId],
      })
      .returning({ deviceId: processedData.deviceId, timestamp: processedData.timestamp });
    expect(again).toEqual([
      { deviceId: 'inverter-01', timestamp: later },
      { deviceId: 'inverter-02', timestamp: ts },
    ]);
    const kept = await h.db
      .select({ value: processedData.value })
      .from(processedData)
      .where(
        sql`${processedData.deviceId} = 'inverter-01' and ${processedData.tagId} = 'power_ac' and ${processedData.timestamp} = ${ts}`,
      );
    expect(kept).toEqual([{ value: 4200 }]);
    // without ON CONFLICT the primary key refuses the duplicate
    expect(
      await pgError(
        h.db.insert(processedData).values({
          deviceId: 'inverter-01',
          tagId: 'power_ac',
          timestamp: ts,
          value: 1,
          plantId: 'plant-1',
        }),
      ),
    ).toMatchObject({ code: '23505', constraint: expect.stringMatching(/^processed_data_.*(pkey|_pk)$/) });
    // another plant's inverter-01 at the same instant is another reading
    await h.db
      .insert(processedData)
      .values({ deviceId: 'inverter-01', tagId: 'power_ac', timestamp: ts, value: 7, plantId: 'plant-2' });
  });

  it('quarantine: keeps the body, its size and digest, and the reason', async () => {
    const body = '{"plantId": 42, "broken": true';
    const digest = { bodyBytes: body.length, bodySha256: 'f'.repeat(64) };
    const [row] = await h.db
      .insert(quarantine)
      .values({ messageId: 'm-bad', body, reason: 'invalid JSON: Unexpected end of JSON input', ...digest })
      .returning();
    expect(row).toMatchObject({ messageId: 'm-bad', body, reason: expect.stringMatching(/invalid JSON/) });
    expect(row).toMatchObject({ ...digest, bodyTruncated: false });
    expect(row?.receivedAt).toBeInstanceOf(Date);
    const [noId] = await h.db
      .insert(quarantine)
      .values({ body: 'x', reason: 'no message id', ...digest })
      .returning();
    expect(noId?.messageId).toBeNull();
  });
});
