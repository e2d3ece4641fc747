/**
 * The write path: one batch of readings and rejections in ONE transaction.
 *
 * - raw_mqtt_data: one row per message, `ON CONFLICT DO NOTHING` on both unique indexes
 *   (message_id: a redelivery; message_hash: the same reading under a new message id). Layer 2.
 * - processed_data: one row per metric of every valid message, keyed (plant_id, tag_id, timestamp,
 *   device_id) since device names repeat across plants. Layer 3, which holds even without layer 2:
 *   a message whose raw row already exists still offers its rows (`ON CONFLICT DO NOTHING`), and
 *   the primary key keeps one.
 * - Fast path (every batch first): layer 2 is asked which messages raw_mqtt_data already has
 *   (KNOWN_RAW), and the raw and processed rows of the new ones go in with `COPY FROM STDIN`
 *   (copy-rows.ts), which has no ON CONFLICT but writes rows in bulk. A duplicate key there (a
 *   concurrent writer committed the same reading between the question and the COPY, or a reading
 *   whose raw row the retention dropped) rolls the batch back, and it is written again with the
 *   INSERT ... ON CONFLICT statements below, for every row.
 * - quarantine: one row per rejected message, with the body (an oversized one: its prefix), its
 *   size and sha256, and `reason: detail`; unique
 *   message_id, `ON CONFLICT DO NOTHING`: a poison message delivered again (or a batch retried
 *   after a lost COMMIT answer) is counted as a message_id duplicate, not quarantined twice.
 *
 * - device_last_reading: the greatest reading timestamp per (plant, device) of the batch, upserted
 *   with GREATEST (silent plants). Reduced per device here, so one short statement per batch.
 *
 * Arrays go through `unnest` (or one COPY stream), so a batch is a handful of statements whatever
 * its size.
 */
import type { Pool, PoolClient } from 'pg';
import { COPY_CHUNK_CHARS, copyField, copyRows } from './copy-rows.js';
import { type QuarantineReason, type Reading, type Rejection, sha256Hex } from './message.js';

export interface BatchOutcome {
  /** Messages whose raw row was new. */
  rawInserted: number;
  /** Messages refused by layer 2, by the index that refused them (a poison message already in
   *  quarantine counts as a message_id duplicate). */
  duplicates: { messageId: number; messageHash: number };
  /** processed_data rows written, and rows the primary key already had. */
  rowsInserted: number;
  rowsDuplicate: number;
  quarantined: Partial<Record<QuarantineReason, number>>;
  /** Batches the fast path (COPY) gave back to INSERT ... ON CONFLICT after a duplicate key. */
  fallbacks: number;
}

export function emptyOutcome(): BatchOutcome {
  return {
    rawInserted: 0,
    duplicates: { messageId: 0, messageHash: 0 },
    rowsInserted: 0,
    rowsDuplicate: 0,
    quarantined: {},
    fallbacks: 0,
  };
}

export function addOutcome(into: BatchOutcome, other: BatchOutcome): BatchOutcome {
  into.rawInserted += other.rawInserted;
  into.duplicates.messageId += other.duplicates.messageId;
  into.duplicates.messageHash += other.duplicates.messageHash;
  into.rowsInserted += other.rowsInserted;
  into.rowsDuplicate += other.rowsDuplicate;
  into.fallbacks += other.fallbacks;
  for (const [reason, n] of Object.entries(other.quarantined) as [QuarantineReason, number][]) {
    into.quarantined[reason] = (into.quarantined[reason] ?? 0) + n;
  }
  return into;
}

const INSERT_RAW = `
  INSERT INTO raw_mqtt_data (message_id, message_hash, plant_id, device_id, "timestamp", payload)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::text[], $5::timestamptz[], $6::jsonb[])
  ON CONFLICT DO NOTHING
  RETURNING message_id`;

// With the timestamp (the partition key, and in the unique index), each id is looked up in its
// partition only, not in every day's index.
const EXISTING_IDS = `
  SELECT r.message_id FROM unnest($1::text[], $2::timestamptz[]) AS u(message_id, "timestamp")
  JOIN raw_mqtt_data r ON r.message_id = u.message_id AND r."timestamp" = u."timestamp"`;

const INSERT_PROCESSED = `
  INSERT INTO processed_data (device_id, tag_id, "timestamp", value, plant_id)
  SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[], $4::float8[], $5::text[])
  ON CONFLICT DO NOTHING`;

/**
 * Layer 2 asked before COPY, which cannot skip a row: the stored messages with one of the batch's
 * reading hashes. The hash covers the timestamp, so the time range only prunes the partitions to
 * the batch's days; each hash is then one probe of a day's (message_hash, timestamp) index. A
 * redelivery (same message id) has the same body, hence the same hash: it is found too, and
 * told apart by its message id.
 */
const KNOWN_RAW = `
  SELECT message_id, message_hash FROM raw_mqtt_data
   WHERE message_hash = ANY($1::text[]) AND "timestamp" BETWEEN $2::timestamptz AND $3::timestamptz`;

const COPY_RAW =
  'COPY raw_mqtt_data (message_id, message_hash, plant_id, device_id, "timestamp", payload) FROM STDIN';
// Columns in this order so a reading's plant, device and instant are one prefix of all its rows.
const COPY_PROCESSED = 'COPY processed_data (plant_id, device_id, "timestamp", tag_id, value) FROM STDIN';

/**
 * A reading's metrics by name. With the readings in hash order (writeBatch sorts them, and every
 * subset keeps that order), rows then come in (hash, metric) order: the hash stands for (plant,
 * device, instant) one to one (message.ts refuses `|`, its separator, in ids and names) and a
 * reading names a metric once (they are an object's keys), so this is a total order over the
 * primary key. Concurrent writers (several consumer processes) therefore take row locks (and wait
 * on each other's uncommitted keys) in the same order and do not deadlock. Cheaper than sorting
 * every row by the key: the readings are sorted once, and a device sends its metrics in one order.
 */
function byName(metrics: readonly [string, number][]): readonly [string, number][] {
  for (let i = 1; i < metrics.length; i++) {
    if ((metrics[i - 1] as [string, number])[0] > (metrics[i] as [string, number])[0]) {
      return [...metrics].sort((a, b) => (a[0] < b[0] ? -1 : 1));
    }
  }
  return metrics;
}

interface MetricRows {
  device: string[];
  tag: string[];
  ts: string[];
  value: number[];
  plant: string[];
}

/** The rows of the readings (in hash order) as unnest's arrays, in (hash, metric) order. */
function metricRows(readings: readonly Reading[]): MetricRows {
  const rows: MetricRows = { device: [], tag: [], ts: [], value: [], plant: [] };
  for (const r of readings) {
    for (const [tag, value] of byName(r.metrics)) {
      rows.device.push(r.deviceId);
      rows.tag.push(tag);
      rows.ts.push(r.timestamp);
      rows.value.push(value);
      rows.plant.push(r.plantId);
    }
  }
  return rows;
}

/**
 * COPY_PROCESSED's rows: the same rows, in the same order, as metricRows, in chunks of about
 * COPY_CHUNK_CHARS, built while the previous chunk is sent (copyRows).
 */
function* metricCopyChunks(readings: readonly Reading[]): Generator<string> {
  let chunk = '';
  for (const r of readings) {
    // The columns start with what all of a reading's rows share: escaped once.
    const prefix = `${copyField(r.plantId)}\t${copyField(r.deviceId)}\t${r.timestamp}\t`;
    // A finite number (message.ts): its shortest round-trip decimal is what float8 reads back.
    for (const [tag, value] of byName(r.metrics)) chunk += `${prefix}${copyField(tag)}\t${value}\n`;
    if (chunk.length >= COPY_CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

/** COPY_RAW's rows for these messages, in chunks as metricCopyChunks. */
function* rawCopyChunks(readings: readonly Reading[]): Generator<string> {
  let chunk = '';
  for (const r of readings) {
    chunk += `${copyField(r.messageId)}\t${r.hash}\t${copyField(r.plantId)}\t${copyField(r.deviceId)}\t${r.timestamp}\t${copyField(r.body)}\n`;
    if (chunk.length >= COPY_CHUNK_CHARS) {
      yield chunk;
      chunk = '';
    }
  }
  if (chunk) yield chunk;
}

// Only a newer reading rewrites the row (the WHERE): a batch of old or duplicate readings adds
// no row version. Rows come sorted by (plant, device), so concurrent writers lock them in order.
const UPSERT_LAST_READING = `
  INSERT INTO device_last_reading AS d (plant_id, device_id, last_reading_at)
  SELECT * FROM unnest($1::text[], $2::text[], $3::timestamptz[])
  ON CONFLICT (plant_id, device_id) DO UPDATE
    SET last_reading_at = GREATEST(d.last_reading_at, EXCLUDED.last_reading_at)
    WHERE d.last_reading_at < EXCLUDED.last_reading_at`;

/** The latest timestamp per (plant, device) of the readings, sorted by plant then device. */
function lastReadings(readings: readonly Reading[]): { plant: string[]; device: string[]; ts: string[] } {
  const latest = new Map<string, Reading>();
  for (const r of readings) {
    const key = `${r.plantId}\u0000${r.deviceId}`;
    const seen = latest.get(key);
    // Canonical timestamps (same format, UTC) compare as strings.
    if (!seen || seen.timestamp < r.timestamp) latest.set(key, r);
  }
  const sorted = [...latest.values()].sort((a, b) =>
    a.plantId !== b.plantId ? (a.plantId < b.plantId ? -1 : 1) : a.deviceId < b.deviceId ? -1 : 1,
  );
  return {
    plant: sorted.map((r) => r.plantId),
    device: sorted.map((r) => r.deviceId),
    ts: sorted.map((r) => r.timestamp),
  };
}

const INSERT_QUARANTINE = `
  INSERT INTO quarantine (message_id, body, reason, body_bytes, body_sha256, body_truncated)
  SELECT * FROM unnest($1::text[], $2::text[], $3::text[], $4::int[], $5::text[], $6::bool[])
  ON CONFLICT (message_id) DO NOTHING
  RETURNING message_id`;

export interface WriteHooks {
  /** Called inside the transaction, just before COMMIT (tests: fail or stall mid-batch). */
  beforeCommit?: (client: PoolClient) => Promise<void>;
}

/**
 * Writes the batch in one transaction and reports what each layer did. Throws whatever
 * PostgreSQL throws (see `classifyDbError`); on a throw nothing of the batch is committed, unless
 * the connection died during COMMIT, in which case a retry finds the rows and counts duplicates.
 */
export async function writeBatch(
  pool: Pool,
  readings: readonly Reading[],
  rejections: readonly Rejection[],
  hooks: WriteHooks = {},
): Promise<BatchOutcome> {
  const outcome = emptyOutcome();

  // The same SQS message twice in one batch (a standard queue may do that): keep the first.
  const seen = new Set<string>();
  const unique: Reading[] = [];
  for (const r of readings) {
    if (seen.has(r.messageId)) outcome.duplicates.messageId++;
    else {
      seen.add(r.messageId);
      unique.push(r);
    }
  }
  const poison: Rejection[] = [];
  const seenPoison = new Set<string>();
  for (const r of rejections) {
    if (seenPoison.has(r.messageId)) outcome.duplicates.messageId++;
    else {
      seenPoison.add(r.messageId);
      poison.push(r);
    }
  }
  if (unique.length === 0 && poison.length === 0) return outcome;

  // A fixed order makes concurrent writers (several consumer processes, several writers of one)
  // take row locks in the same order, which keeps them from deadlocking on each other's duplicates
  // (raw_mqtt_data, whose rows have two unique keys, also needs one row per hash: insertRaw).
  unique.sort((a, b) => (a.hash < b.hash ? -1 : a.hash > b.hash ? 1 : 0));
  poison.sort((a, b) => (a.messageId < b.messageId ? -1 : a.messageId > b.messageId ? 1 : 0));
  const client = await pool.connect();
  let broken = false;
  // The connection can die while we hold it between statements; pg then emits 'error' on the
  // client, which would crash the process without a listener. The next query fails anyway.
  const onError = () => {
    broken = true;
  };
  client.on('error', onError);
  try {
    // Fast path (COPY) first; a duplicate key from it rolls the batch back and writes it again
    // with ON CONFLICT everywhere. The counts start again from `outcome`.
    for (let fastPath = true; ; fastPath = false) {
      const attempt = addOutcome(emptyOutcome(), outcome);
      await client.query('BEGIN');
      try {
        await writeRows(client, unique, poison, attempt, fastPath);
      } catch (err) {
        if (!fastPath || (err as { code?: unknown }).code !== '23505') throw err;
        await client.query('ROLLBACK');
        outcome.fallbacks++;
        continue;
      }
      await hooks.beforeCommit?.(client);
      await client.query('COMMIT');
      return attempt;
    }
  } catch (err) {
    broken = classifyDbError(err) === 'transient';
    // After the client-side timeout (pool.ts) the connection still waits for the unanswered
    // statement: a ROLLBACK would only queue behind it. Destroying the connection ends the
    // transaction instead (on the server at the latest at its idle_in_transaction timeout).
    if (isQueryTimeout(err)) broken = true;
    else
      await client.query('ROLLBACK').catch(() => {
        broken = true;
      });
    throw err;
  } finally {
    client.off('error', onError);
    // A connection that failed mid-transaction is not given back to the pool.
    client.release(broken ? true : undefined);
  }
}

/** The statements of one batch, inside the caller's transaction; counts into `outcome`. */
async function writeRows(
  client: PoolClient,
  unique: readonly Reading[],
  poison: readonly Rejection[],
  outcome: BatchOutcome,
  fastPath: boolean,
): Promise<void> {
  if (unique.length > 0) {
    const insertRows = async (readings: readonly Reading[]) => {
      const rows = metricRows(readings);
      const result = await client.query({
        name: 'ingest_insert_processed',
        text: INSERT_PROCESSED,
        values: [rows.device, rows.tag, rows.ts, rows.value, rows.plant],
      });
      outcome.rowsInserted += result.rowCount ?? 0;
      outcome.rowsDuplicate += rows.device.length - (result.rowCount ?? 0);
    };
    let refused: readonly Reading[];
    if (fastPath) refused = await copyNew(client, unique, outcome);
    else {
      const raw = await insertRaw(client, unique, outcome);
      if (raw.fresh.length > 0) await insertRows(raw.fresh);
      refused = raw.refused;
    }
    // Every valid message offers its rows: layer 3 holds even where layer 2 did not.
    if (refused.length > 0) await insertRows(refused);
    const last = lastReadings(unique);
    await client.query({
      name: 'ingest_upsert_last_reading',
      text: UPSERT_LAST_READING,
      values: [last.plant, last.device, last.ts],
    });
  }
  if (poison.length > 0) {
    const quarantined = await client.query<{ message_id: string }>({
      name: 'ingest_insert_quarantine',
      text: INSERT_QUARANTINE,
      values: [
        poison.map((p) => p.messageId),
        poison.map((p) => p.body),
        poison.map((p) => `${p.reason}: ${p.detail}`),
        poison.map((p) => p.bodyBytes ?? Buffer.byteLength(p.body)),
        poison.map((p) => p.bodySha256 ?? sha256Hex(p.body)),
        poison.map((p) => p.truncated ?? false),
      ],
    });
    const inserted = new Set(quarantined.rows.map((row) => row.message_id));
    for (const p of poison) {
      if (inserted.has(p.messageId)) {
        outcome.quarantined[p.reason] = (outcome.quarantined[p.reason] ?? 0) + 1;
      } else outcome.duplicates.messageId++;
    }
  }
}

/**
 * Layer 2 by INSERT ... ON CONFLICT DO NOTHING (the fallback): what it took, and what it refused.
 * Only the first message of each hash is offered, as in the fast path; the others are refused
 * without a try. A row takes two unique keys, its message id and then its hash, so a transaction
 * that inserted one message of a reading and then tried another could hold the reading's hash
 * while waiting on that other message's id, which a second writer holds while it waits on the
 * hash: a deadlock that no order of the rows prevents. One row per hash, and a message id always
 * comes with the same hash (the same body), so two writers meet on one key first and one waits.
 */
async function insertRaw(
  client: PoolClient,
  unique: readonly Reading[],
  outcome: BatchOutcome,
): Promise<{ fresh: Reading[]; refused: Reading[] }> {
  const offered = unique.filter((r, i) => r.hash !== unique[i - 1]?.hash); // sorted by hash
  const raw = await client.query<{ message_id: string }>({
    name: 'ingest_insert_raw',
    text: INSERT_RAW,
    values: [
      offered.map((r) => r.messageId),
      offered.map((r) => r.hash),
      offered.map((r) => r.plantId),
      offered.map((r) => r.deviceId),
      offered.map((r) => r.timestamp),
      offered.map((r) => r.body),
    ],
  });
  outcome.rawInserted = raw.rowCount ?? raw.rows.length;
  const inserted = new Set(raw.rows.map((row) => row.message_id));
  const fresh = offered.filter((r) => inserted.has(r.messageId));
  const refused = unique.filter((r) => !inserted.has(r.messageId));
  if (refused.length > 0) {
    const existing = await client.query<{ message_id: string }>({
      name: 'ingest_existing_ids',
      text: EXISTING_IDS,
      values: [refused.map((r) => r.messageId), refused.map((r) => r.timestamp)],
    });
    outcome.duplicates.messageId += existing.rows.length;
    outcome.duplicates.messageHash += refused.length - existing.rows.length;
  }
  return { fresh, refused };
}

/**
 * The fast path: layer 2 by question, then COPY of the raw and processed rows of what it found
 * new; returns the refused messages. A message whose hash raw_mqtt_data has is
 * refused (as a message_id duplicate when the stored row is this very message), and so is one
 * whose hash an earlier message of the batch took (the one INSERT_RAW would have kept: `unique`
 * is sorted by hash, stably); the rest is copied. What the question cannot see makes the COPY fail
 * with 23505 and writeBatch fall back: another writer's rows committed since, a stored row of this
 * message id under another hash, or readings whose raw row the retention dropped.
 */
async function copyNew(
  client: PoolClient,
  unique: readonly Reading[],
  outcome: BatchOutcome,
): Promise<Reading[]> {
  let first = unique[0] as Reading;
  let last = first;
  for (const r of unique) {
    if (r.timestamp < first.timestamp) first = r;
    if (r.timestamp > last.timestamp) last = r;
  }
  // Unnamed, so planned for each batch: a prepared statement's generic plan, made while the
  // partition was small, kept scanning it whole as it grew (measured: 20 s instead of 1 s for
  // bench:ingest's 10,000).
  const known = await client.query<{ message_id: string; message_hash: string }>(KNOWN_RAW, [
    unique.map((r) => r.hash),
    first.timestamp,
    last.timestamp,
  ]);
  let fresh = unique;
  const refused: Reading[] = [];
  if (known.rows.length > 0 || hasRepeatedHash(unique)) {
    const knownHashes = new Set(known.rows.map((row) => row.message_hash));
    const knownIds = new Set(known.rows.map((row) => row.message_id));
    const kept: Reading[] = [];
    let lastKeptHash: string | undefined;
    for (const r of unique) {
      if (!knownHashes.has(r.hash) && r.hash !== lastKeptHash) {
        kept.push(r);
        lastKeptHash = r.hash;
        continue;
      }
      refused.push(r);
      if (knownIds.has(r.messageId)) outcome.duplicates.messageId++;
      else outcome.duplicates.messageHash++;
    }
    fresh = kept;
  }
  if (fresh.length > 0) {
    outcome.rawInserted = await copyRows(client, COPY_RAW, rawCopyChunks(fresh));
    // Every reading has a metric (message.ts refuses an empty `metrics`).
    outcome.rowsInserted += await copyRows(client, COPY_PROCESSED, metricCopyChunks(fresh));
  }
  return refused;
}

/** `sorted` by hash: does a hash occur twice? */
function hasRepeatedHash(sorted: readonly Reading[]): boolean {
  for (let i = 1; i < sorted.length; i++) if (sorted[i]?.hash === sorted[i - 1]?.hash) return true;
  return false;
}

/** pg's error when a statement got no answer within the pool's query_timeout. */
const isQueryTimeout = (err: unknown): boolean =>
  err instanceof Error && err.message === 'Query read timeout';

export type DbErrorKind = 'data' | 'transient';

/**
 * `data`: PostgreSQL refused these values (SQLSTATE class 22 data exception, 23 integrity, 54
 * too complex); retrying the same batch cannot succeed, so the batch is split and the culprit
 * quarantined. Everything else (connection refused or lost, shutdown, deadlock, a missing table
 * before migrations, a default partition's constraint after a concurrent ATTACH) is `transient`:
 * back off and retry the same batch, delete nothing.
 */
export function classifyDbError(err: unknown): DbErrorKind {
  const { code, table } = (err ?? {}) as { code?: unknown; table?: unknown };
  // A row routed to a default partition just before maintenance attached the partition of its
  // range violates the default's new partition constraint (check_violation on the default);
  // written again, it goes to the new partition. As 'data' the batch would be split and valid
  // readings could be quarantined as db_rejected.
  if (code === '23514' && typeof table === 'string' && table.endsWith('_default')) return 'transient';
  if (typeof code === 'string' && /^(22|23|54)[0-9A-Z]{3}$/.test(code)) return 'data';
  return 'transient';
}

export const LONE_SURROGATE = /[\uD800-\uDBFF](?![\uDC00-\uDFFF])|(?<![\uD800-\uDBFF])[\uDC00-\uDFFF]/g;

/** Makes a body storable as text whatever it holds (the fallback when PostgreSQL refused it). */
export function storableText(text: string): string {
  return text.replaceAll('\u0000', '\\u0000').replace(LONE_SURROGATE, '\uFFFD');
}
