/** Quarantine rows written straight into PostgreSQL, as the consumer writes them (API and CLI tests). */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { ruleOutput } from '../../src/ingest/message.js';

/**
 * A quarantine row for `body` with `reason` (`kind: detail`); its id. `truncated`: stored as an
 * oversized body's prefix (its whole size counted as ten times the stored one).
 */
export async function quarantined(
  pool: pg.Pool,
  body: string,
  reason: string,
  extra: { truncated?: boolean } = {},
): Promise<string> {
  const { rows } = await pool.query<{ id: string }>(
    `INSERT INTO quarantine (message_id, body, reason, body_bytes, body_sha256, body_truncated)
     VALUES ($1, $2, $3, $4, encode(sha256(convert_to($2, 'UTF8')), 'hex'), $5) RETURNING id::text`,
    [
      `q-${randomUUID()}`,
      body,
      reason,
      Buffer.byteLength(body) * (extra.truncated ? 10 : 1),
      Boolean(extra.truncated),
    ],
  );
  return rows[0]?.id ?? '';
}

/** The SQS body the telemetry rule delivers for one reading of inverter-01. */
export const deviceMessage = (
  plantId: string,
  timestamp: string,
  metrics: Record<string, unknown> = { power_ac: 4200 },
) => ruleOutput({ plantId, deviceId: 'inverter-01', timestamp, metrics }, plantId);
