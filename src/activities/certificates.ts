import { createHash, X509Certificate } from 'node:crypto';
import { setTimeout as sleep } from 'node:timers/promises';
import {
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  DeleteCertificateCommand,
  DescribeCertificateCommand,
  ListCertificatesCommand,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { Context } from '@temporalio/activity';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, inArray, isNull } from 'drizzle-orm';
import { certificates } from '../db/schema.js';
import { awsCall, isAwsError, isRetryableAwsError, toActivityFailure } from '../iot/aws-errors.js';
import {
  csrFor,
  generateDeviceKey,
  publicKeyFingerprintOfCertificate,
  publicKeyFingerprintOfKey,
} from '../iot/device-keys.js';
import { thingNameFor } from '../iot/naming.js';
import type { ActivityDeps } from './deps.js';

/** What workflows may know of a certificate: ids, never PEM or key. */
export interface CertificateRef {
  certificateId: string;
  certificateArn: string;
}

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
function requestMarker(requestId: string): string {
  return createHash('sha256').update(requestId).digest('hex').slice(0, 32);
}

export function certificateActivities({ iot, db, vault, settings }: ActivityDeps) {
  async function storedRow(requestId: string) {
    const [row] = await db.select().from(certificates).where(eq(certificates.requestId, requestId));
    return row;
  }

  /**
   * Records the certificate AWS issued for a request, unless another attempt of the same request
   * recorded one first. That happens when an attempt's call reaches AWS only after the attempt
   * timed out and its retry already got a certificate: the late attempt is still running, sees
   * it lost, and deletes its own certificate (inactive, attached to nothing) so no orphan remains.
   * The same holds when the request was rolled back (key destroyed) before the late call landed.
   * Returns the certificate the request keeps.
   */
  async function claimIssued(
    requestId: string,
    issued: CertificateRef & { certificatePem?: string | undefined },
  ): Promise<CertificateRef> {
    const claimed = await db
      .update(certificates)
      .set({
        certificateId: issued.certificateId,
        certificateArn: issued.certificateArn,
        encryptedCertificatePem: issued.certificatePem ? await vault.encrypt(issued.certificatePem) : null,
        status: 'active',
        activatedAt: new Date(),
      })
      .where(
        and(
          eq(certificates.requestId, requestId),
          isNull(certificates.certificateId),
          isNull(certificates.destroyedAt),
        ),
      )
      .returning({ id: certificates.id });
    if (claimed.length > 0)
      return { certificateId: issued.certificateId, certificateArn: issued.certificateArn };
    const kept = await storedRow(requestId);
    if (kept?.certificateId !== issued.certificateId) await retireDuplicate(issued.certificateId);
    if (!kept?.certificateId || !kept.certificateArn || kept.destroyedAt) {
      throw ApplicationFailure.nonRetryable(
        `Certificate request ${requestId} was released while it was being created`,
        'CertificateReleased',
      );
    }
    return { certificateId: kept.certificateId, certificateArn: kept.certificateArn };
  }

  async function retireDuplicate(certificateId: string) {
    for (const command of [
      new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }),
      new DeleteCertificateCommand({ certificateId }),
    ]) {
      try {
        await iot.send(command as UpdateCertificateCommand);
      } catch (error) {
        if (!isAwsError(error, 'ResourceNotFoundException')) {
          throw toActivityFailure('Removing duplicate certificate', error, certificateId);
        }
      }
    }
  }

  /**
   * CreateCertificateFromCsr is not idempotent: if AWS issued a certificate but the answer was
   * lost, a retry must find it rather than mint a second one. Issued certificates carry our
   * public key (real AWS) or our CSR subject (moto), and are younger than our submission.
   *
   * Candidates are narrowed before any DescribeCertificate: created after our submission (less
   * the clock skew), and not already recorded for another request (one CSR, one certificate).
   * Under concurrent provisioning that leaves the few certificates whose answers are still in
   * flight, not every certificate of the last minutes. Each read is retried on its own (`read`).
   */
  async function findIssuedCertificate(
    requestId: string,
    submittedAt: Date,
    privateKeyPem: string,
  ): Promise<(CertificateRef & { certificatePem: string }) | undefined> {
    const since = submittedAt.getTime() - LOST_CERTIFICATE_SKEW_MS;
    const publicKey = publicKeyFingerprintOfKey(privateKeyPem);
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
        const sameRequest = new X509Certificate(d.certificatePem).subject.includes(marker);
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

  async function createFromCsr(plantId: string, requestId: string): Promise<CertificateRef> {
    let row = await storedRow(requestId);
    if (row?.certificateId && row.certificateArn)
      return { certificateId: row.certificateId, certificateArn: row.certificateArn };
    if (!row) {
      // Generated and sealed before AWS hears of it, so every retry signs with the same key.
      const { privateKeyPem } = generateDeviceKey();
      await db
        .insert(certificates)
        .values({ requestId, plantId, encryptedPrivateKey: await vault.encrypt(privateKeyPem) })
        .onConflictDoNothing({ target: certificates.requestId });
      row = await storedRow(requestId);
    }
    if (!row?.encryptedPrivateKey) {
      throw ApplicationFailure.nonRetryable(
        `The stored key of request ${requestId} was destroyed`,
        'KeyDestroyed',
      );
    }
    const privateKeyPem = await vault.decrypt(row.encryptedPrivateKey);

    if (row.submittedAt) {
      const lost = await findIssuedCertificate(requestId, row.submittedAt, privateKeyPem);
      if (lost) return claimIssued(requestId, lost);
    }

    const csr = await csrFor(privateKeyPem, `CN=${thingNameFor(plantId)}, OU=${requestMarker(requestId)}`);
    await db
      .update(certificates)
      .set({ submittedAt: new Date() })
      .where(eq(certificates.requestId, requestId));
    const issued = await awsCall('CreateCertificateFromCsr', plantId, () =>
      iot.send(new CreateCertificateFromCsrCommand({ certificateSigningRequest: csr, setAsActive: true })),
    );
    if (!issued.certificateId || !issued.certificateArn) {
      throw ApplicationFailure.retryable(
        'CreateCertificateFromCsr answered without a certificate id',
        'IncompleteResponse',
      );
    }
    return claimIssued(requestId, {
      certificateId: issued.certificateId,
      certificateArn: issued.certificateArn,
      certificatePem: issued.certificatePem,
    });
  }

  /**
   * The seed's way: AWS generates the key and returns it once. Sealed and stored in this same
   * activity so it never reaches workflow history. If the answer is lost the certificate cannot
   * be recognised (its key was never seen), which is why `csr` is the default.
   */
  async function createWithAwsKeys(plantId: string, requestId: string): Promise<CertificateRef> {
    const row = await storedRow(requestId);
    if (row?.certificateId && row.certificateArn)
      return { certificateId: row.certificateId, certificateArn: row.certificateArn };
    const issued = await awsCall('CreateKeysAndCertificate', plantId, () =>
      iot.send(new CreateKeysAndCertificateCommand({ setAsActive: true })),
    );
    const privateKeyPem = issued.keyPair?.PrivateKey;
    if (!issued.certificateId || !issued.certificateArn || !privateKeyPem) {
      throw ApplicationFailure.retryable(
        'CreateKeysAndCertificate answered without a certificate or key',
        'IncompleteResponse',
      );
    }
    await db.insert(certificates).values({
      requestId,
      plantId,
      encryptedPrivateKey: await vault.encrypt(privateKeyPem),
      certificateId: issued.certificateId,
      certificateArn: issued.certificateArn,
      encryptedCertificatePem: issued.certificatePem ? await vault.encrypt(issued.certificatePem) : null,
      submittedAt: new Date(),
      status: 'active',
      activatedAt: new Date(),
    });
    return { certificateId: issued.certificateId, certificateArn: issued.certificateArn };
  }

  return {
    async createCertificate({
      plantId,
      requestId,
    }: {
      plantId: string;
      requestId: string;
    }): Promise<CertificateRef> {
      return settings.certificateMode === 'create-keys'
        ? createWithAwsKeys(plantId, requestId)
        : createFromCsr(plantId, requestId);
    },

    /** The certificate a request produced, if any, including one whose creation answer was lost. */
    async findCertificate({ requestId }: { requestId: string }): Promise<CertificateRef | null> {
      const row = await storedRow(requestId);
      if (!row) return null;
      if (row.certificateId && row.certificateArn)
        return { certificateId: row.certificateId, certificateArn: row.certificateArn };
      if (!row.submittedAt || !row.encryptedPrivateKey) return null;
      const lost = await findIssuedCertificate(
        requestId,
        row.submittedAt,
        await vault.decrypt(row.encryptedPrivateKey),
      );
      if (!lost) return null;
      return claimIssued(requestId, lost);
    },

    async deactivateCertificate({ certificateId }: { certificateId: string }) {
      try {
        await iot.send(new UpdateCertificateCommand({ certificateId, newStatus: 'INACTIVE' }));
      } catch (error) {
        if (isAwsError(error, 'ResourceNotFoundException')) return;
        throw toActivityFailure('UpdateCertificate', error, certificateId);
      }
      await db
        .update(certificates)
        .set({ status: 'inactive' })
        .where(eq(certificates.certificateId, certificateId));
    },

    async deleteCertificate({ certificateId }: { certificateId: string }) {
      try {
        await iot.send(new DeleteCertificateCommand({ certificateId }));
      } catch (error) {
        if (isAwsError(error, 'ResourceNotFoundException')) return;
        // Attachments still propagating after a detach: retry with backoff.
        if (isAwsError(error, 'DeleteConflictException')) {
          throw ApplicationFailure.retryable(
            `DeleteCertificate ${certificateId}: ${(error as Error).message}`,
            'DeleteConflictException',
          );
        }
        throw toActivityFailure('DeleteCertificate', error, certificateId);
      }
    },

    /** Erases the sealed private key once its certificate is gone from AWS. */
    async destroyStoredKey({ requestId }: { requestId: string }) {
      await db
        .update(certificates)
        .set({
          encryptedPrivateKey: null,
          encryptedCertificatePem: null,
          status: 'destroyed',
          destroyedAt: new Date(),
        })
        .where(and(eq(certificates.requestId, requestId), isNull(certificates.destroyedAt)));
    },
  };
}
