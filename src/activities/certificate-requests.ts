/**
 * A certificate request (one per workflow run) and the one certificate it keeps: its row holds the
 * sealed key, and every retry of the request ends with the certificate recorded there.
 */
import {
  CreateCertificateFromCsrCommand,
  CreateKeysAndCertificateCommand,
  DeleteCertificateCommand,
  type IoTClient,
  UpdateCertificateCommand,
} from '@aws-sdk/client-iot';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, isNull, sql } from 'drizzle-orm';
import { keyInUseMessage, otherPlantWithKey } from '../db/certificate-keys.js';
import type { Db } from '../db/client.js';
import { certificates } from '../db/schema.js';
import { awsCall, isAwsError, toActivityFailure } from '../iot/aws-errors.js';
import { CsrRejectedError, checkDeviceCsr } from '../iot/device-csr.js';
import { csrFor, generateDeviceKey, publicKeyFingerprintOfKey, publicKeySha256 } from '../iot/device-keys.js';
import { thingNameFor } from '../iot/naming.js';
import type { CertificateRef } from '../workflows/activity-contracts/certificates.js';
import type { ActivityDeps } from './deps.js';
import { findIssuedCertificate, requestMarker } from './lost-certificate.js';

export type CertificateDeps = Pick<ActivityDeps, 'iot' | 'db' | 'vault'>;

/** The request's row, if the request has stored its key. */
export async function storedRow(db: Db, requestId: string) {
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
export async function claimIssued(
  { iot, db, vault }: CertificateDeps,
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
  const kept = await storedRow(db, requestId);
  if (kept?.certificateId !== issued.certificateId) await retireDuplicate(iot, issued.certificateId);
  if (!kept?.certificateId || !kept.certificateArn || kept.destroyedAt) {
    throw ApplicationFailure.nonRetryable(
      `Certificate request ${requestId} was released while it was being created`,
      'CertificateReleased',
    );
  }
  return { certificateId: kept.certificateId, certificateArn: kept.certificateArn };
}

/** A certificate this request does not keep: deactivated and deleted, so no orphan remains. */
async function retireDuplicate(iot: IoTClient, certificateId: string) {
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
 * We generate the key and AWS signs its CSR, so a certificate whose answer was lost can still be
 * recognised (lost-certificate.ts) and adopted instead of issued twice.
 */
export async function createFromCsr(
  deps: CertificateDeps,
  plantId: string,
  requestId: string,
): Promise<CertificateRef> {
  const { db, vault } = deps;
  let row = await storedRow(db, requestId);
  if (row?.certificateId && row.certificateArn)
    return { certificateId: row.certificateId, certificateArn: row.certificateArn };
  if (!row) {
    // Generated and sealed before AWS hears of it, so every retry signs with the same key.
    const { privateKeyPem } = generateDeviceKey();
    await db
      .insert(certificates)
      .values({
        requestId,
        plantId,
        encryptedPrivateKey: await vault.encrypt(privateKeyPem),
        publicKeySha256: publicKeySha256(publicKeyFingerprintOfKey(privateKeyPem)),
      })
      .onConflictDoNothing({ target: certificates.requestId });
    row = await storedRow(db, requestId);
  }
  if (!row?.encryptedPrivateKey) {
    throw ApplicationFailure.nonRetryable(
      `The stored key of request ${requestId} was destroyed`,
      'KeyDestroyed',
    );
  }
  const privateKeyPem = await vault.decrypt(row.encryptedPrivateKey);

  if (row.submittedAt) {
    const lost = await findIssuedCertificate(
      deps,
      requestId,
      row.submittedAt,
      publicKeyFingerprintOfKey(privateKeyPem),
    );
    if (lost) return claimIssued(deps, requestId, lost);
  }

  const csr = await csrFor(privateKeyPem, `CN=${thingNameFor(plantId)}, OU=${requestMarker(requestId)}`);
  return submitCsr(deps, plantId, requestId, csr);
}

/**
 * Certificate mode device-csr: the device made its key and sent this CSR. Checked again here (a
 * CSR can reach the workflow past the service's check), then certified by AWS. The request's row
 * records the key's digest (a key of another plant's certificate is refused: CsrKeyInUse), the
 * submission and the certificate, never a key; a retry after a lost answer finds the
 * certificate by the CSR's public key, as createFromCsr does by the stored key's.
 */
export async function createFromDeviceCsr(
  deps: CertificateDeps,
  plantId: string,
  requestId: string,
  csrPem: string,
): Promise<CertificateRef> {
  const { db } = deps;
  let row = await storedRow(db, requestId);
  if (row?.certificateId && row.certificateArn)
    return { certificateId: row.certificateId, certificateArn: row.certificateArn };
  let csr: Awaited<ReturnType<typeof checkDeviceCsr>>;
  try {
    csr = await checkDeviceCsr(csrPem, thingNameFor(plantId));
  } catch (error) {
    if (error instanceof CsrRejectedError) throw ApplicationFailure.nonRetryable(error.message, 'InvalidCsr');
    throw error;
  }
  if (!row) {
    await recordDeviceKey(db, plantId, requestId, publicKeySha256(csr.publicKey));
    row = await storedRow(db, requestId);
  }
  if (!row || row.destroyedAt) {
    throw ApplicationFailure.nonRetryable(
      `Certificate request ${requestId} was released while it was being created`,
      'CertificateReleased',
    );
  }
  if (row.submittedAt) {
    const lost = await findIssuedCertificate(deps, requestId, row.submittedAt, csr.publicKey);
    if (lost) return claimIssued(deps, requestId, lost);
  }
  return submitCsr(deps, plantId, requestId, csr.pem);
}

/** Two-key advisory locks in this space are taken on device keys (the other space is one bigint). */
const DEVICE_KEY_LOCKS = 0x50_4b_45_59;

/**
 * The request's row for the device's key, unless another plant's certificate has that key
 * (CsrKeyInUse, not retried: the provision rolls back). Two plants' provisions sent one key at the
 * same moment take turns on a lock on the key, so the second sees the first's row.
 */
async function recordDeviceKey(db: Db, plantId: string, requestId: string, keySha256: string) {
  await db.transaction(async (tx) => {
    await tx.execute(sql`SELECT pg_advisory_xact_lock(${DEVICE_KEY_LOCKS}, hashtext(${keySha256}))`);
    const holder = await otherPlantWithKey(tx, keySha256, plantId);
    if (holder) throw ApplicationFailure.nonRetryable(keyInUseMessage(holder, plantId), 'CsrKeyInUse');
    await tx
      .insert(certificates)
      .values({ requestId, plantId, encryptedPrivateKey: null, publicKeySha256: keySha256 })
      .onConflictDoNothing({ target: certificates.requestId });
  });
}

/**
 * CERTIFICATE_MODE=create-keys: AWS generates the key and returns it once. Sealed and stored in this same
 * activity so it never reaches workflow history. If the answer is lost the certificate cannot
 * be recognised (its key was never seen), which is why `csr` is the default.
 */
export async function createWithAwsKeys(
  { iot, db, vault }: CertificateDeps,
  plantId: string,
  requestId: string,
): Promise<CertificateRef> {
  const row = await storedRow(db, requestId);
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
    publicKeySha256: publicKeySha256(publicKeyFingerprintOfKey(privateKeyPem)),
    certificateId: issued.certificateId,
    certificateArn: issued.certificateArn,
    encryptedCertificatePem: issued.certificatePem ? await vault.encrypt(issued.certificatePem) : null,
    submittedAt: new Date(),
    status: 'active',
    activatedAt: new Date(),
  });
  return { certificateId: issued.certificateId, certificateArn: issued.certificateArn };
}

/**
 * Records the submission (a retry then looks for a certificate whose answer was lost), has AWS
 * certify the CSR, and claims the certificate for the request. Both certificate modes end here.
 */
async function submitCsr(
  deps: CertificateDeps,
  plantId: string,
  requestId: string,
  csrPem: string,
): Promise<CertificateRef> {
  await deps.db
    .update(certificates)
    .set({ submittedAt: new Date() })
    .where(eq(certificates.requestId, requestId));
  const issued = await awsCall('CreateCertificateFromCsr', plantId, () =>
    deps.iot.send(
      new CreateCertificateFromCsrCommand({ certificateSigningRequest: csrPem, setAsActive: true }),
    ),
  );
  if (!issued.certificateId || !issued.certificateArn) {
    throw ApplicationFailure.retryable(
      'CreateCertificateFromCsr answered without a certificate id',
      'IncompleteResponse',
    );
  }
  return claimIssued(deps, requestId, {
    certificateId: issued.certificateId,
    certificateArn: issued.certificateArn,
    certificatePem: issued.certificatePem,
  });
}
