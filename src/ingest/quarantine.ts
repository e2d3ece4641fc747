/**
 * The quarantine table beyond the write path: expiry (the consumer), and listing and replaying
 * quarantined messages after a fix (src/service/quarantine.ts, for the API and `solar-iot
 * quarantine list | replay`).
 */
import type { Pool } from 'pg';
import { type ParseOptions, parseMessage, type QuarantineReason } from './message.js';
import { classifyDbError, writeBatch } from './store.js';

/**
 * Deletes quarantine rows older than `retentionDays`, `batchRows` at a time (short transactions,
 * short locks), and returns how many it deleted. Safe with several consumers at once: `SKIP LOCKED`
 * gives each a disjoint slice instead of making them wait on each other's rows.
 */
export async function purgeExpiredQuarantine(
  pool: Pool,
  options: { retentionDays: number; batchRows?: number },
): Promise<number> {
  const batchRows = options.batchRows ?? 1_000;
  let total = 0;
  for (;;) {
    const res = await pool.query(
      `DELETE FROM quarantine WHERE id IN (
         SELECT id FROM quarantine WHERE received_at < now() - make_interval(days => $1)
         ORDER BY received_at LIMIT $2 FOR UPDATE SKIP LOCKED)`,
      [options.retentionDays, batchRows],
    );
    const deleted = res.rowCount ?? 0;
    total += deleted;
    if (deleted < batchRows) return total;
  }
}

/** The reason code: the stored reason is `code: detail`. */
const CODE = `split_part(reason, ':', 1)`;

export interface ReasonSummary {
  reason: string;
  count: number;
  oldest: Date;
  newest: Date;
}

export async function summarizeQuarantine(pool: Pool): Promise<ReasonSummary[]> {
  const { rows } = await pool.query<ReasonSummary>(
    `SELECT ${CODE} AS reason, count(*)::int AS count, min(received_at) AS oldest, max(received_at) AS newest
       FROM quarantine GROUP BY 1 ORDER BY 1`,
  );
  return rows;
}

export interface QuarantinedMessage {
  id: string;
  messageId: string | null;
  reason: string;
  detail: string;
  receivedAt: Date;
  /** Size of the whole body as received; `body` is only its prefix when `truncated`. */
  bodyBytes: number;
  bodySha256: string;
  truncated: boolean;
  body: string;
}

/**
 * One page in id order. A row is kept while the page holds fewer than `limit` and the bodies before
 * it stay under `bodyBudget` (the first always: a page is never empty while rows remain); one row
 * past the page is read, without its body, to tell whether more follow.
 */
const PAGE = `
  SELECT id::text AS id, message_id AS "messageId", ${CODE} AS reason,
         ltrim(substr(reason, length(${CODE}) + 2)) AS detail, received_at AS "receivedAt",
         body_bytes AS "bodyBytes", body_sha256 AS "bodySha256", body_truncated AS truncated,
         CASE WHEN kept THEN body END AS body, kept
    FROM (SELECT q.*,
                 row_number() OVER w <= $3
                 AND ($4::bigint IS NULL OR sum(octet_length(q.body)) OVER w - octet_length(q.body) < $4) AS kept
            FROM quarantine q
           WHERE ($1::text IS NULL OR split_part(q.reason, ':', 1) = $1)
             AND ($2::bigint IS NULL OR q.id > $2::bigint)
             AND ($5::bigint[] IS NULL OR q.id = ANY($5::bigint[]))
          WINDOW w AS (ORDER BY q.id)
           ORDER BY q.id
           LIMIT $3 + 1) page
   ORDER BY page.id`;

export interface QuarantineSelection {
  /** Only this reason code. */
  reason?: string | undefined;
  /** Only these ids. */
  ids?: readonly string[] | undefined;
  /** Only ids after this one. */
  after?: string | undefined;
  limit: number;
  /** Body bytes after which the page ends early; none: `limit` alone bounds it. */
  bodyBudget?: number | undefined;
}

/** Quarantined messages by id, oldest first, and whether more follow the page. */
export async function listQuarantined(
  pool: Pool,
  select: QuarantineSelection,
): Promise<{ messages: QuarantinedMessage[]; more: boolean }> {
  const { rows } = await pool.query<QuarantinedMessage & { kept: boolean }>(PAGE, [
    select.reason ?? null,
    select.after ?? null,
    select.limit,
    select.bodyBudget ?? null,
    select.ids ?? null,
  ]);
  const messages = rows.filter((r) => r.kept).map(({ kept: _, ...m }) => m);
  return { messages, more: messages.length < rows.length };
}

export type ReplayOutcome =
  /** Valid now: written through the normal write path and removed from the quarantine. */
  | 'stored'
  /** Valid now, and the tables already had it (same message or reading): removed from the quarantine. */
  | 'duplicate'
  /** Still refused: the row stays, with the reason of today's validation. */
  | 'still_invalid'
  /** Only a prefix of the body was kept (oversized): nothing to replay; the row stays as it was. */
  | 'not_replayable';

export interface ReplayResult {
  id: string;
  result: ReplayOutcome;
  /** The row's reason after the replay (`code: detail`), null once removed. */
  reason: string | null;
}

/**
 * Runs each message through today's validation (`options`: the consumer's settings) and, when it
 * passes, through the consumer's write path; the quarantine row is deleted in the same
 * transaction, so a crash leaves it either quarantined or stored, never both or neither.
 */
export async function replayQuarantined(
  pool: Pool,
  messages: readonly QuarantinedMessage[],
  options: ParseOptions,
): Promise<ReplayResult[]> {
  const results: ReplayResult[] = [];
  for (const m of messages) {
    const stored = `${m.reason}: ${m.detail}`;
    if (m.truncated) {
      results.push({ id: m.id, result: 'not_replayable', reason: stored });
      continue;
    }
    const parsed = parseMessage(m.body, m.messageId ?? `quarantine-${m.id}`, options);
    let reason: string;
    if (parsed.ok) {
      try {
        const outcome = await writeBatch(pool, [parsed.reading], [], {
          beforeCommit: async (client) => {
            await client.query('DELETE FROM quarantine WHERE id = $1', [m.id]);
          },
        });
        results.push({ id: m.id, result: outcome.rawInserted > 0 ? 'stored' : 'duplicate', reason: null });
        continue;
      } catch (err) {
        if (classifyDbError(err) !== 'data') throw err;
        reason = `${'db_rejected' satisfies QuarantineReason}: ${err instanceof Error ? err.message : String(err)}`;
      }
    } else {
      reason = `${parsed.rejection.reason}: ${parsed.rejection.detail}`;
    }
    await pool.query('UPDATE quarantine SET reason = $2 WHERE id = $1', [m.id, reason]);
    results.push({ id: m.id, result: 'still_invalid', reason });
  }
  return results;
}
