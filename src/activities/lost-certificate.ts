/**
 * Finding a certificate whose CreateCertificateFromCsr answer was lost, so that a retry adopts it
 * instead of minting a second one.
 */
import { createHash, X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import { DescribeCertificateCommand, ListCertificatesCommand } from '@aws-sdk/client-iot';
import { Context } from '@temporalio/activity';
import { inArray } from 'drizzle-orm';
import { certificates } from '../db/schema.js';
import { isRetryableAwsError, toActivityFailure } from '../iot/aws-errors.js';
import { publicKeyFingerprintOfCertificate } from '../iot/device-keys.js';
import type { CertificateRef } from '../workflows/activity-contracts/certificates.js';
import type { ActivityDeps } from './deps.js';

/** A certificate AWS issued, with the PEM it answered (stored sealed, never returned to workflows). */
export type IssuedCertificate = CertificateRef & { certificatePem: string };

/**
 * Clock skew allowed between our worker and AWS when looking for a certificate we lost: only
 * certificates AWS dates after our submission, minus this, can be the one we asked for.
 */
const LOST_CERTIFICATE_SKEW_MS = 60_000;

/** Attempts of one read inside the lost-certificate search, and the backoff between them. */
const READ_ATTEMPTS = 6;
const READ_BACKOFF_MS = { initial: 100, max: 2_000 } as const;

/** The activity's context, or undefined when called outside an activity (reconciliation CLI, tests). */
function activityContext(): Context | undefined {
  try {
    return Context.current();
  } catch {
    return undefined;
  }
}

/**
 * One read-only AWS call, retried a few times with jittered backoff when the failure is transient.
 * The lost-certificate search makes one ListCertificates and a DescribeCertificate per candidate:
 * failing the whole activity attempt on any one of them would make a search over k candidates
 * succeed with (1-p)^k under a fault rate p. Reads are safe to repeat; writes are not retried here.
 * Heartbeats between attempts, and a cancelled activity stops waiting (CancelledFailure).
 */
async function read<T>(operation: string, context: string, call: () => Promise<T>): Promise<T> {
  const ctx = activityContext();
  for (let attempt = 1; ; attempt++) {
    try {
      return await call();
    } catch (error) {
      if (attempt >= READ_ATTEMPTS || !isRetryableAwsError(error))
        throw toActivityFailure(operation, error, context);
      const ceiling = Math.min(READ_BACKOFF_MS.initial * 2 ** (attempt - 1), READ_BACKOFF_MS.max);
      const pause = ceiling / 2 + Math.random() * (ceiling / 2);
      ctx?.heartbeat({ retrying: operation, attempt });
      if (ctx) await ctx.sleep(pause);
      else await sleep(pause);
    }
  }
}

/** Goes in the CSR subject so a certificate issued for this request can be recognised later. */
export function requestMarker(requestId: string): string {
  return createHash('sha256').update(requestId).digest('hex').slice(0, 32);
}

/**
 * CreateCertificateFromCsr is not idempotent: if AWS issued a certificate but the answer was
 * lost, a retry must find it rather than mint a second one. Issued certificates carry the CSR's
 * public key (`publicKey`, base64 DER SubjectPublicKeyInfo: real AWS) or our CSR subject (moto),
 * and are younger than our submission.
 *
 * Candidates are narrowed before any DescribeCertificate: created after our submission (less
 * the clock skew), and not already recorded for another request (one CSR, one certificate).
 * Under concurrent provisioning that leaves the few certificates whose answers are still in
 * flight, not every certificate of the last minutes. Each read is retried on its own (`read`).
 */
export async function findIssuedCertificate(
  { iot, db }: Pick<ActivityDeps, 'iot' | 'db'>,
  requestId: string,
  submittedAt: Date,
  publicKey: string,
): Promise<IssuedCertificate | undefined> {
  const since = submittedAt.getTime() - LOST_CERTIFICATE_SKEW_MS;
  const marker = requestMarker(requestId);
  let pageMarker: string | undefined;
  do {
    const page = await read('ListCertificates', requestId, () =>
      iot.send(new ListCertificatesCommand({ ascendingOrder: false, pageSize: 250, marker: pageMarker })),
    );
    const listed = page.certificates ?? [];
    const recent = listed.filter((c) => c.certificateId && (c.creationDate?.getTime() ?? 0) >= since);
    const ids = recent.map((c) => c.certificateId as string);
    const taken = ids.length
      ? await db
          .select({ certificateId: certificates.certificateId })
          .from(certificates)
          .where(inArray(certificates.certificateId, ids))
      : [];
    const recordedElsewhere = new Set(taken.map((t) => t.certificateId));
    for (const certificateId of ids.filter((id) => !recordedElsewhere.has(id))) {
      const { certificateDescription: d } = await read('DescribeCertificate', certificateId, () =>
        iot.send(new DescribeCertificateCommand({ certificateId })),
      );
      if (!d?.certificatePem || !d.certificateId || !d.certificateArn) continue;
      const sameKey = publicKeyFingerprintOfCertificate(d.certificatePem) === publicKey;
      // Exactly our OU, not a subject that merely contains it (device CSRs cannot carry one:
      // src/iot/device-csr.ts reserves the form).
      const sameRequest = new X509Certificate(d.certificatePem).subject.split('\n').includes(`OU=${marker}`);
      if (sameKey || sameRequest) {
        return {
          certificateId: d.certificateId,
          certificateArn: d.certificateArn,
          certificatePem: d.certificatePem,
        };
      }
    }
    // Newest first (AWS): once a page reaches past the window, older pages cannot hold ours. A
    // server that ignores the order (moto does) gets every page read.
    const dates = listed.map((c) => c.creationDate?.getTime() ?? 0);
    const newestFirst = dates.every((d, i) => i === 0 || d <= (dates[i - 1] as number));
    const reachedOlder = newestFirst && dates.some((d) => d < since);
    pageMarker = reachedOlder ? undefined : page.nextMarker;
  } while (pageMarker);
  return undefined;
}
