import { DeleteCertificateCommand, UpdateCertificateCommand } from '@aws-sdk/client-iot';
import { ApplicationFailure } from '@temporalio/common';
import { and, eq, isNull } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { certificates, plants } from '../db/schema.js';
import { awsDelete, isAwsError, toActivityFailure } from '../iot/aws-errors.js';
import { publicKeyOfCsr } from '../iot/device-csr.js';
import { publicKeyFingerprintOfKey } from '../iot/device-keys.js';
import type { CertificateActivities, CertificateRef } from '../workflows/activity-contracts/certificates.js';
import {
  claimIssued,
  createFromCsr,
  createFromDeviceCsr,
  createWithAwsKeys,
  storedRow,
} from './certificate-requests.js';
import type { ActivityDeps } from './deps.js';
import { findIssuedCertificate } from './lost-certificate.js';

/**
 * A plant whose device makes its key (certificate mode device-csr, stored with the plant) gets no
 * key made here, whoever started its provision without the mode: the backfill, an old client.
 */
async function refuseDeviceKeyPlant(db: Db, plantId: string): Promise<void> {
  const [plant] = await db
    .select({ certificateMode: plants.certificateMode })
    .from(plants)
    .where(eq(plants.id, plantId));
  if (plant?.certificateMode !== 'device-csr') return;
  throw ApplicationFailure.nonRetryable(
    `Plant ${plantId} has certificate mode device-csr: its device makes its key, none is made here. Provision it without a mode (it keeps device-csr), or with certificateMode server to switch deliberately`,
    'DeviceKeyPlant',
  );
}

export function certificateActivities(
  deps: Pick<ActivityDeps, 'iot' | 'db' | 'vault' | 'settings'>,
): CertificateActivities {
  const { iot, db, vault, settings } = deps;
  return {
    async createCertificate({
      plantId,
      requestId,
    }: {
      plantId: string;
      requestId: string;
    }): Promise<CertificateRef> {
      await refuseDeviceKeyPlant(db, plantId);
      return settings.certificateMode === 'create-keys'
        ? createWithAwsKeys(deps, plantId, requestId)
        : createFromCsr(deps, plantId, requestId);
    },

    async createCertificateFromDeviceCsr({
      plantId,
      requestId,
      csrPem,
    }: {
      plantId: string;
      requestId: string;
      csrPem: string;
    }): Promise<CertificateRef> {
      return createFromDeviceCsr(deps, plantId, requestId, csrPem);
    },

    /** The certificate a request produced, if any, including one whose creation answer was lost. */
    async findCertificate({
      requestId,
      csrPem,
    }: {
      requestId: string;
      csrPem?: string;
    }): Promise<CertificateRef | null> {
      const row = await storedRow(db, requestId);
      if (!row) return null;
      if (row.certificateId && row.certificateArn)
        return { certificateId: row.certificateId, certificateArn: row.certificateArn };
      if (!row.submittedAt) return null;
      // The public key the lost certificate carries: the stored key's, or the device CSR's.
      const publicKey = row.encryptedPrivateKey
        ? publicKeyFingerprintOfKey(await vault.decrypt(row.encryptedPrivateKey))
        : csrPem
          ? publicKeyOfCsr(csrPem)
          : null;
      if (!publicKey) return null;
      const lost = await findIssuedCertificate(deps, requestId, row.submittedAt, publicKey);
      if (!lost) return null;
      return claimIssued(deps, requestId, lost);
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
      // Attachments still propagating after a detach: DeleteConflict, retried with backoff.
      await awsDelete('DeleteCertificate', certificateId, 'DeleteConflictException', () =>
        iot.send(new DeleteCertificateCommand({ certificateId })),
      );
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
