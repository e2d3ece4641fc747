/**
 * The certificate-age report: active plants whose current certificate was activated longer ago
 * than an age (CERTIFICATE_MAX_AGE_DAYS by default), for GET /certificates/aging,
 * `solar-iot certificates aging` and the consumer's `certificates_aging` gauge. With automatic
 * rotation off (the default) this is how an operator learns which plants to rotate on request.
 *
 * Age is measured like the rotation Schedule measures it: from the certificate's activation (its
 * creation if never marked active), on the database's clock. A plant whose certificate has no row
 * of ours (made outside solar-iot) has no known age and is not listed.
 */
import { sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { DEFAULT_MAX_CERTIFICATE_AGE_DAYS } from '../rotation/contract.js';
import { InvalidInputError, mapDbError } from './errors.js';

export const MAX_CERTIFICATE_AGE_DAYS = 3650;
export const DEFAULT_AGING_LIMIT = 100;
export const MAX_AGING_LIMIT = 1000;

export interface AgingCertificate {
  plantId: string;
  plantName: string;
  certificateId: string;
  /** When it was activated (ISO time; its creation if never marked active). */
  activatedAt: string;
  /** Whole days since then. */
  ageDays: number;
}

export interface AgingCertificatesReport {
  olderThanDays: number;
  /** The cutoff used: certificates activated before this time are listed. */
  activatedBefore: string;
  /** Every aging certificate, also those beyond `limit`. */
  total: number;
  /** Oldest first, at most `limit`. */
  certificates: AgingCertificate[];
}

export interface AgingCertificatesOptions {
  /** Default: CERTIFICATE_MAX_AGE_DAYS of the process (365 unless set). */
  olderThanDays?: number | undefined;
  /** Default 100, at most 1000. */
  limit?: number | undefined;
}

/** Active plants on a certificate activated before now() - $1 days: the gauge's count. */
export const COUNT_AGING_CERTIFICATES_SQL = `
  SELECT count(*)::int AS aging FROM plants p
    JOIN certificates c ON c.certificate_id = p.certificate_id
   WHERE p.iot_status = 'active'
     AND coalesce(c.activated_at, c.created_at) < now() - make_interval(days => $1::int)`;

function wholeNumber(value: number | undefined, name: string, fallback: number, max: number): number {
  if (value === undefined) return fallback;
  if (!Number.isInteger(value) || value < 1 || value > max) {
    throw new InvalidInputError(`${name} must be a whole number from 1 to ${max}`);
  }
  return value;
}

export async function listAgingCertificates(
  db: Db,
  options: AgingCertificatesOptions,
  defaultMaxAgeDays = DEFAULT_MAX_CERTIFICATE_AGE_DAYS,
): Promise<AgingCertificatesReport> {
  const olderThanDays = wholeNumber(
    options.olderThanDays,
    'olderThanDays',
    defaultMaxAgeDays,
    MAX_CERTIFICATE_AGE_DAYS,
  );
  const limit = wholeNumber(options.limit, 'limit', DEFAULT_AGING_LIMIT, MAX_AGING_LIMIT);
  try {
    const { rows } = await db.execute<{
      plant_id: string;
      plant_name: string;
      certificate_id: string;
      activated_at: string | Date;
      age_days: number;
      cutoff: string | Date;
      total: number;
    }>(sql`
      WITH cutoff AS (SELECT now() - make_interval(days => ${olderThanDays}::int) AS at),
      aging AS (
        SELECT p.id AS plant_id, p.name AS plant_name, c.certificate_id,
               coalesce(c.activated_at, c.created_at) AS activated_at,
               floor(extract(epoch FROM now() - coalesce(c.activated_at, c.created_at)) / 86400)::int AS age_days
          FROM plants p
          JOIN certificates c ON c.certificate_id = p.certificate_id, cutoff
         WHERE p.iot_status = 'active' AND coalesce(c.activated_at, c.created_at) < cutoff.at
      )
      SELECT cutoff.at AS cutoff, (SELECT count(*)::int FROM aging) AS total, page.*
        FROM cutoff
        LEFT JOIN LATERAL (
          SELECT * FROM aging ORDER BY activated_at, plant_id LIMIT ${limit}
        ) page ON true`);
    const first = rows[0];
    return {
      olderThanDays,
      activatedBefore: new Date(first?.cutoff ?? Date.now()).toISOString(),
      total: first?.total ?? 0,
      certificates: rows
        .filter((r) => r.plant_id !== null)
        .map((r) => ({
          plantId: r.plant_id,
          plantName: r.plant_name,
          certificateId: r.certificate_id,
          activatedAt: new Date(r.activated_at).toISOString(),
          ageDays: r.age_days,
        })),
    };
  } catch (error) {
    throw mapDbError(error);
  }
}
