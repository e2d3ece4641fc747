/**
 * PostgreSQL access: one pg Pool and a drizzle instance typed with the schema.
 */
import { drizzle, type NodePgDatabase } from 'drizzle-orm/node-postgres';
import pg from 'pg';
import * as schema from './schema.js';

export type Schema = typeof schema;
/** drizzle over the pool, which stays reachable as `$client` for what needs pg itself (COPY, transactions). */
export type Db = NodePgDatabase<Schema> & { $client: pg.Pool };

export interface DbHandle {
  db: Db;
  pool: pg.Pool;
  /** Ends the pool (waits for checked-out clients to be released). Safe to call twice. */
  close(): Promise<void>;
}

export interface CreateDbOptions {
  /** Pool size (default 10). */
  max?: number;
  /** Called when an idle client errors (server restart, network); default: ignored, the pool replaces it. */
  onIdleError?: (err: Error) => void;
  /** Tag shown in pg_stat_activity. */
  applicationName?: string;
}

export function createDb(databaseUrl: string, options: CreateDbOptions = {}): DbHandle {
  const pool = new pg.Pool({
    connectionString: databaseUrl,
    max: options.max ?? 10,
    application_name: options.applicationName ?? 'solar-iot',
  });
  // Without a listener an idle client's error (e.g. the server restarting) crashes the process.
  pool.on('error', (err) => options.onIdleError?.(err));
  const db = drizzle(pool, { schema });
  let closing: Promise<void> | undefined;
  return {
    db,
    pool,
    close: () => {
      closing ??= pool.end();
      return closing;
    },
  };
}
