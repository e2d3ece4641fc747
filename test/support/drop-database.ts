import type pg from 'pg';

/**
 * Drops a test's own database once its connections are gone. `pool.end()` resolves before its
 * sockets have closed; a `DROP ... WITH (FORCE)` in that window terminates a client that is still
 * ending, which then emits the server's 57P01 as an unhandled 'error' and fails the whole run.
 * A connection still open after the wait is a leak, and FORCE ends it.
 */
export async function dropDatabaseWhenClosed(admin: pg.Client, name: string, waitMs = 10_000): Promise<void> {
  const deadline = Date.now() + waitMs;
  for (;;) {
    const { rows } = await admin.query<{ n: number }>(
      'SELECT count(*)::int AS n FROM pg_stat_activity WHERE datname = $1',
      [name],
    );
    if ((rows[0]?.n ?? 0) === 0 || Date.now() > deadline) break;
    await new Promise((resolve) => setTimeout(resolve, 50));
  }
  await admin.query(`DROP DATABASE IF EXISTS ${name} WITH (FORCE)`);
}
