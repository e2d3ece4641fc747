/**
 * The `certificates_aging` gauge: active plants on a certificate older than
 * CERTIFICATE_MAX_AGE_DAYS (src/service/certificate-age.ts), counted once at start and then every
 * hour (ages move by days). It lives in the consumer because that is the process with a /metrics
 * endpoint and a database pool, like the silent-plants gauge. Every consumer computes the same
 * number; alert on max() of it.
 */
import type pg from 'pg';
import { type Logger, serializeError } from '../logging/index.js';
import { type Periodic, startPeriodic } from '../metrics/periodic.js';
import type { CertificateAgeSettings } from '../rotation/settings.js';
import { COUNT_AGING_CERTIFICATES_SQL } from '../service/certificate-age.js';
import type { IngestMetrics } from './metrics.js';

export const CERTIFICATE_AGE_CHECK_MS = 3_600_000;

/** Counts aging certificates now, sets the gauge and answers the count (throws what PostgreSQL throws). */
export async function countAgingCertificates(
  pool: Pick<pg.Pool, 'query'>,
  metrics: IngestMetrics,
  maxAgeDays: number,
): Promise<number> {
  const { rows } = await pool.query<{ aging: number }>(COUNT_AGING_CERTIFICATES_SQL, [maxAgeDays]);
  const aging = rows[0]?.aging ?? 0;
  metrics.agingCertificates.set(aging);
  return aging;
}

export function startAgingCertificatesMonitor(
  pool: Pick<pg.Pool, 'query'>,
  metrics: IngestMetrics,
  settings: CertificateAgeSettings,
  logger: Logger,
): Periodic {
  return startPeriodic(CERTIFICATE_AGE_CHECK_MS, () =>
    countAgingCertificates(pool, metrics, settings.maxAgeDays).then(
      () => undefined,
      // The gauge keeps its last value; the next run tries again.
      (err: unknown) => logger.warn({ err: serializeError(err) }, 'counting aging certificates failed'),
    ),
  );
}
