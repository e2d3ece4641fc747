/**
 * The consumer's PostgreSQL pool, with every wait on the database bounded: without bounds, a
 * database that goes silent (network blackhole: packets dropped, no RST) or a session holding the
 * rows a batch needs keeps a writer waiting forever; stop() then waits past
 * INGEST_SHUTDOWN_TIMEOUT_SECONDS and the visibility keeper keeps that writer's messages from
 * every other consumer for as long as the process lives. With them, the write fails as transient
 * and is retried like any other (consumer.ts).
 */
import pg from 'pg';
import type { IngestSettings } from './settings.js';

/** Longest wait for a new connection (a silent server never completes the handshake). */
const CONNECT_TIMEOUT_MS = 10_000;
/** Probes of an idle connection start after this much silence (Node then probes every second). */
const KEEPALIVE_AFTER_MS = 10_000;

export function ingestPoolConfig(
  databaseUrl: string,
  settings: Pick<IngestSettings, 'writers' | 'statementTimeoutSeconds'>,
): pg.PoolConfig {
  const statementMs = settings.statementTimeoutSeconds * 1000;
  return {
    connectionString: databaseUrl,
    // A connection per writer (INGEST_WRITERS), two for the quarantine expiry and the gauges.
    max: settings.writers + 2,
    connectionTimeoutMillis: CONNECT_TIMEOUT_MS,
    // Lets an operator find the consumer in pg_stat_activity.
    application_name: 'solar-iot-ingest',
    // Server side: PostgreSQL cancels a statement (57014) or a lock wait (55P03) itself and the
    // connection stays usable. A lock wait gets half: its own error tells the operator that
    // another session holds the rows, not that the database is slow.
    statement_timeout: statementMs,
    lock_timeout: Math.ceil(statementMs / 2),
    // A transaction whose client vanished (silent network) ends instead of holding its locks.
    idle_in_transaction_session_timeout: statementMs,
    // Client side, for a server that does not answer at all (its cancel never arrives): later
    // than the server's own limit, so that a live server always answers first.
    query_timeout: statementMs + Math.min(statementMs, 5_000),
    // A connection dropped while idle in the pool is found before a batch waits on it.
    keepAlive: true,
    keepAliveInitialDelayMillis: KEEPALIVE_AFTER_MS,
  };
}

/** The pool of ingestPoolConfig; pg errors of its idle connections go to `onIdleError`. */
export function openIngestPool(
  databaseUrl: string,
  settings: Pick<IngestSettings, 'writers' | 'statementTimeoutSeconds'>,
  onIdleError: (err: Error) => void,
): pg.Pool {
  const pool = new pg.Pool(ingestPoolConfig(databaseUrl, settings));
  pool.on('error', onIdleError);
  return pool;
}
