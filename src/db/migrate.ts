/**
 * Applies the committed drizzle migrations (`drizzle/` at the repository root). Used by `npm start`
 * and by the tests, so both run exactly the same SQL; `node dist/db/migrate.js` is the image's
 * one-shot migration role (docker-compose `migrate`), with DATABASE_URL.
 *
 * Safe when several processes start at once: the whole run holds a PostgreSQL session-level
 * advisory lock, so the second process waits, then finds every migration applied and does nothing.
 */
import { fileURLToPath } from 'node:url';
import { drizzle } from 'drizzle-orm/node-postgres';
import { migrate } from 'drizzle-orm/node-postgres/migrator';
import pg from 'pg';
import { ConfigError, loadConfig } from '../config/index.js';

/** The repository's `drizzle/` folder, resolved from this file (not from the working directory). */
export const MIGRATIONS_FOLDER = fileURLToPath(new URL('../../drizzle', import.meta.url));

/** Arbitrary constant (the ASCII bytes of "solariot" as a 64-bit integer). */
const MIGRATION_LOCK_KEY = '8317986202563735412';

export interface MigrateOptions {
  migrationsFolder?: string;
  /** Give up waiting for another process's migration after this long (default 5 minutes). */
  lockTimeoutMs?: number;
}

export async function migrateDatabase(databaseUrl: string, options: MigrateOptions = {}): Promise<void> {
  // One dedicated connection: an advisory lock belongs to the session that took it.
  const client = new pg.Client({ connectionString: databaseUrl, application_name: 'solar-iot-migrate' });
  await client.connect();
  try {
    await client.query(`SET lock_timeout = ${Math.max(1, Math.floor(options.lockTimeoutMs ?? 300_000))}`);
    await client.query('SET client_min_messages = warning'); // no NOTICEs for IF NOT EXISTS
    await client.query('SELECT pg_advisory_lock($1::bigint)', [MIGRATION_LOCK_KEY]);
    try {
      await migrate(drizzle(client), { migrationsFolder: options.migrationsFolder ?? MIGRATIONS_FOLDER });
    } finally {
      await client.query('SELECT pg_advisory_unlock($1::bigint)', [MIGRATION_LOCK_KEY]);
    }
  } finally {
    await client.end();
  }
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const { databaseUrl } = loadConfig(process.env, { requireEncryptionKey: false });
    if (!databaseUrl)
      throw new ConfigError([
        {
          variable: 'DATABASE_URL',
          problem: 'is not set',
          fix: 'set it to the postgres:// URL of the database to migrate',
        },
      ]);
    await migrateDatabase(databaseUrl);
    console.log('migrations applied');
  } catch (error) {
    if (!(error instanceof ConfigError)) throw error;
    console.error(error.message);
    process.exit(2);
  }
}
