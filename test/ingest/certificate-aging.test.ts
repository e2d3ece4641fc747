/**
 * The consumer's `certificates_aging` gauge (active plants on a certificate older than
 * CERTIFICATE_MAX_AGE_DAYS), on a database of its own: the count covers every plant, so other
 * test files' plants must not be in it.
 */
import { randomBytes } from 'node:crypto';
import pg from 'pg';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { migrateDatabase } from '../../src/db/migrate.js';
import { countAgingCertificates, startAgingCertificatesMonitor } from '../../src/ingest/certificate-aging.js';
import { IngestMetrics, serveMetrics } from '../../src/ingest/metrics.js';
import { readCertificateAgeSettings } from '../../src/rotation/settings.js';
import { dropDatabaseWhenClosed } from '../support/drop-database.js';
import { quietLogger } from '../support/ingest.js';

const serverUrl = process.env.DATABASE_URL;
if (!serverUrl)
  throw new Error('DATABASE_URL is not set: run through vitest with test/support/global-setup.ts');

let admin: pg.Client;
let pool: pg.Pool;
const name = `aging_${randomBytes(6).toString('hex')}`;

async function plant(id: string, iotStatus: string, activatedDaysAgo: number) {
  await pool.query("INSERT INTO plants (id, name, iot_status, certificate_id) VALUES ($1, 'gauge', $2, $3)", [
    id,
    iotStatus,
    `cert-${id}`,
  ]);
  await pool.query(
    `INSERT INTO certificates (request_id, plant_id, certificate_id, status, activated_at)
     VALUES ($1, $2, $3, 'active', now() - make_interval(days => $4))`,
    [`req-${id}`, id, `cert-${id}`, activatedDaysAgo],
  );
}

beforeAll(async () => {
  admin = new pg.Client({ connectionString: serverUrl });
  await admin.connect();
  await admin.query(`CREATE DATABASE ${name}`);
  const url = new URL(serverUrl as string);
  url.pathname = `/${name}`;
  await migrateDatabase(url.toString());
  pool = new pg.Pool({ connectionString: url.toString(), max: 2 });
  await plant('old-1', 'active', 800);
  await plant('old-2', 'active', 400);
  await plant('young', 'active', 20);
  await plant('old-failed', 'failed', 800);
});

afterAll(async () => {
  await pool?.end();
  await dropDatabaseWhenClosed(admin, name);
  await admin.end();
});

describe('certificates_aging', () => {
  it('counts active plants on a certificate older than the age', async () => {
    const metrics = new IngestMetrics();
    expect(await countAgingCertificates(pool, metrics, 365)).toBe(2);
    expect(await metrics.value(metrics.agingCertificates)).toBe(2);
    expect(await countAgingCertificates(pool, metrics, 500)).toBe(1);
    expect(await countAgingCertificates(pool, metrics, 10)).toBe(3);
  });

  it('is counted at start by the monitor and served on /metrics', async () => {
    const metrics = new IngestMetrics();
    const server = await serveMetrics(metrics, 0, '127.0.0.1');
    const monitor = startAgingCertificatesMonitor(pool, metrics, { maxAgeDays: 365 }, quietLogger);
    try {
      const deadline = Date.now() + 10_000;
      while ((await metrics.value(metrics.agingCertificates)) !== 2 && Date.now() < deadline)
        await new Promise((r) => setTimeout(r, 50));
      const text = await (await fetch(`http://127.0.0.1:${server.port}/metrics`)).text();
      expect(text).toMatch(/^certificates_aging 2$/m);
    } finally {
      await monitor.stop();
      await server.close();
    }
  });

  it('reads CERTIFICATE_MAX_AGE_DAYS, one line per wrong value', () => {
    expect(readCertificateAgeSettings({})).toEqual({ maxAgeDays: 365 });
    expect(readCertificateAgeSettings({ CERTIFICATE_MAX_AGE_DAYS: '90' })).toEqual({ maxAgeDays: 90 });
    expect(() => readCertificateAgeSettings({ CERTIFICATE_MAX_AGE_DAYS: '0' })).toThrow(
      /^CERTIFICATE_MAX_AGE_DAYS: /,
    );
  });
});
