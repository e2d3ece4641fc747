/**
 * Time partitions of the telemetry tables: created ahead, dropped after the retention period.
 *
 * `processed_data` is partitioned by month: it is kept for years, and a month keeps the partition
 * count small (60 for five years) so planning stays cheap, while a query for "one plant, one
 * metric, a time range" still reads only the months it covers. `raw_mqtt_data` is partitioned by
 * day: it is kept for weeks, its rows are large (the whole body), and dropping a day at a time
 * keeps the disk it holds close to the retention. Bounds are UTC.
 *
 * Each table also has a `_default` partition, so no reading is ever refused for lack of a
 * partition: it catches readings older than the oldest partition (they arrived later than the
 * retention) and, if maintenance fell behind, readings past the newest one. When a partition is
 * created, the rows of its range are moved out of the default first. Rows of the default are
 * deleted once they have been there (by arrival time) longer than the retention.
 *
 * Safe with several consumer processes: one maintainer at a time per database (a session-level
 * advisory lock; a second one waits, then finds the work done), and every DDL statement gives up
 * after a short lock timeout instead of queueing the inserts behind it (the next run retries).
 */
import type pg from 'pg';

export type Granularity = 'day' | 'month';

export interface TelemetryTable {
  readonly name: 'processed_data' | 'raw_mqtt_data';
  readonly granularity: Granularity;
  /** When a row of the default partition arrived (its age there is counted from this). */
  readonly arrivalColumn: 'inserted_at' | 'received_at';
}

export const PROCESSED: TelemetryTable = {
  name: 'processed_data',
  granularity: 'month',
  arrivalColumn: 'inserted_at',
};
export const RAW: TelemetryTable = {
  name: 'raw_mqtt_data',
  granularity: 'day',
  arrivalColumn: 'received_at',
};

export interface RetentionSettings {
  /** Days of raw_mqtt_data kept (a partition is dropped when all of it is older). */
  readonly rawRetentionDays: number;
  /** Days of processed_data kept. */
  readonly processedRetentionDays: number;
  /** Partitions exist this many days past now. */
  readonly aheadDays: number;
}

export interface MaintenanceResult {
  created: string[];
  dropped: string[];
  /** Rows moved out of a default partition into a partition created for their range. */
  movedFromDefault: number;
  /** Rows deleted from the default partitions for being older (by arrival) than the retention. */
  deletedFromDefault: number;
}

const DAY_MS = 86_400_000;
/** Arbitrary constant (the ASCII bytes of "solarprt"), distinct from the migration lock. */
const MAINTENANCE_LOCK_KEY = '8317986202563736180';
/** A DDL statement waiting longer than this for its lock gives up: inserts must not queue behind it. */
const DDL_LOCK_TIMEOUT_MS = 3_000;

export function periodStart(at: Date, granularity: Granularity): Date {
  return granularity === 'day'
    ? new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), at.getUTCDate()))
    : new Date(Date.UTC(at.getUTCFullYear(), at.getUTCMonth(), 1));
}

export function nextPeriod(start: Date, granularity: Granularity): Date {
  return granularity === 'day'
    ? new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth(), start.getUTCDate() + 1))
    : new Date(Date.UTC(start.getUTCFullYear(), start.getUTCMonth() + 1, 1));
}

const pad = (n: number) => String(n).padStart(2, '0');

/** `processed_data_p2024_06`, `raw_mqtt_data_p2024_06_21` (the migration names them the same way). */
export function partitionName(table: TelemetryTable, start: Date): string {
  const month = `${start.getUTCFullYear()}_${pad(start.getUTCMonth() + 1)}`;
  return `${table.name}_p${table.granularity === 'day' ? `${month}_${pad(start.getUTCDate())}` : month}`;
}

/** The start of the period a partition of ours covers, or undefined for another table's name. */
export function partitionStart(table: TelemetryTable, name: string): Date | undefined {
  const m = new RegExp(`^${table.name}_p(\\d{4})_(\\d{2})(?:_(\\d{2}))?$`).exec(name);
  if (!m || (table.granularity === 'day') !== (m[3] !== undefined)) return undefined;
  return new Date(Date.UTC(Number(m[1]), Number(m[2]) - 1, Number(m[3] ?? 1)));
}

function retentionDays(table: TelemetryTable, settings: RetentionSettings): number {
  return table === RAW ? settings.rawRetentionDays : settings.processedRetentionDays;
}

async function partitionsOf(client: pg.ClientBase, table: TelemetryTable): Promise<Set<string>> {
  const { rows } = await client.query<{ name: string }>(
    `SELECT c.relname AS name FROM pg_inherits i JOIN pg_class c ON c.oid = i.inhrelid
      WHERE i.inhparent = $1::regclass`,
    [table.name],
  );
  return new Set(rows.map((r) => r.name));
}

async function inTransaction<T>(client: pg.ClientBase, fn: () => Promise<T>): Promise<T> {
  await client.query('BEGIN');
  try {
    await client.query(`SET LOCAL lock_timeout = ${DDL_LOCK_TIMEOUT_MS}`);
    const result = await fn();
    await client.query('COMMIT');
    return result;
  } catch (err) {
    await client.query('ROLLBACK').catch(() => undefined);
    throw err;
  }
}

/**
 * Creates the partition of [start, end): a plain table filled with the default partition's rows of
 * that range, then attached (ATTACH does not block inserts into the parent, unlike CREATE TABLE ...
 * PARTITION OF). Returns how many rows it moved.
 */
async function createPartition(
  client: pg.ClientBase,
  table: TelemetryTable,
  name: string,
  start: Date,
  end: Date,
): Promise<number> {
  return inTransaction(client, async () => {
    const parent = client.escapeIdentifier(table.name);
    const child = client.escapeIdentifier(name);
    const fallback = client.escapeIdentifier(`${table.name}_default`);
    const [from, to] = [start.toISOString(), end.toISOString()];
    // First, so no insert can put a row of this range into the default between the move and ATTACH.
    await client.query(`LOCK TABLE ${fallback} IN ACCESS EXCLUSIVE MODE`);
    await client.query(`CREATE TABLE ${child} (LIKE ${parent} INCLUDING DEFAULTS)`);
    const moved = await client.query(
      `WITH moved AS (DELETE FROM ${fallback} WHERE "timestamp" >= $1 AND "timestamp" < $2 RETURNING *)
       INSERT INTO ${child} SELECT * FROM moved`,
      [from, to],
    );
    await client.query(
      `ALTER TABLE ${parent} ATTACH PARTITION ${child} FOR VALUES FROM ('${from}') TO ('${to}')`,
    );
    return moved.rowCount ?? 0;
  });
}

/** Some steps failed (retried next run); `result` holds what the others did. */
export class PartitionMaintenanceError extends Error {
  constructor(
    message: string,
    readonly result: MaintenanceResult,
  ) {
    super(message);
    this.name = 'PartitionMaintenanceError';
  }
}

/**
 * Brings the partitions of both tables in line with `settings` at `now`: every period from the
 * retention cut-off to `aheadDays` past now exists, periods entirely older than the cut-off are
 * dropped, and the default partitions lose rows older (by arrival) than the retention.
 */
export async function maintainPartitions(
  client: pg.ClientBase,
  settings: RetentionSettings,
  now: Date = new Date(),
): Promise<MaintenanceResult> {
  const result: MaintenanceResult = { created: [], dropped: [], movedFromDefault: 0, deletedFromDefault: 0 };
  // One step that fails (a lock timeout behind a long reader) does not stop the others: otherwise
  // a drop waiting on a dashboard's query would keep the partitions ahead from being created, run
  // after run, and every reading would go to the default partition. Failures are reported at the end.
  const failures: string[] = [];
  const attempt = async (what: string, step: () => Promise<void>) => {
    try {
      await step();
    } catch (err) {
      failures.push(`${what}: ${err instanceof Error ? err.message : String(err)}`);
    }
  };
  await client.query('SELECT pg_advisory_lock($1::bigint)', [MAINTENANCE_LOCK_KEY]);
  try {
    for (const table of [PROCESSED, RAW]) {
      const days = retentionDays(table, settings);
      const cutoff = new Date(now.getTime() - days * DAY_MS);
      const horizon = new Date(now.getTime() + settings.aheadDays * DAY_MS);
      const existing = await partitionsOf(client, table);

      // Ahead first: ingestion needs these, retention can wait for the next run.
      for (let start = periodStart(cutoff, table.granularity); start < horizon; ) {
        const end = nextPeriod(start, table.granularity);
        const name = partitionName(table, start);
        if (!existing.has(name)) {
          const from = start;
          await attempt(`create ${name}`, async () => {
            result.movedFromDefault += await createPartition(client, table, name, from, end);
            result.created.push(name);
          });
        }
        start = end;
      }
      for (const name of [...existing].sort()) {
        const start = partitionStart(table, name);
        if (!start || nextPeriod(start, table.granularity) > cutoff) continue;
        await attempt(`drop ${name}`, async () => {
          await inTransaction(client, () => client.query(`DROP TABLE ${client.escapeIdentifier(name)}`));
          result.dropped.push(name);
        });
      }
      await attempt(`expire ${table.name}_default`, async () => {
        const deleted = await inTransaction(client, () =>
          client.query(
            `DELETE FROM ${client.escapeIdentifier(`${table.name}_default`)}
              WHERE ${client.escapeIdentifier(table.arrivalColumn)} < $1::timestamptz - make_interval(days => $2)`,
            [now.toISOString(), days],
          ),
        );
        result.deletedFromDefault += deleted.rowCount ?? 0;
      });
    }
  } finally {
    await client.query('SELECT pg_advisory_unlock($1::bigint)', [MAINTENANCE_LOCK_KEY]);
  }
  if (failures.length > 0)
    throw new PartitionMaintenanceError(
      `telemetry partition maintenance left work for the next run: ${failures.join('; ')}`,
      result,
    );
  return result;
}
