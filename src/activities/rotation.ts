import { ApplicationFailure } from '@temporalio/common';
import { and, asc, eq, isNotNull, lt, sql } from 'drizzle-orm';
import { certificates, plants } from '../db/schema.js';
import type { CertificateRef } from '../workflows/activity-contracts/certificates.js';
import type { RotationActivities, RotationTarget } from '../workflows/activity-contracts/rotation.js';
import type { ActivityDeps } from './deps.js';

export function rotationActivities({ db }: Pick<ActivityDeps, 'db'>): RotationActivities {
  return {
    /** The plant's current certificate; fails (not retryable) unless the plant is active. */
    async beginRotation({ plantId }: { plantId: string }): Promise<RotationTarget> {
      const [plant] = await db.select().from(plants).where(eq(plants.id, plantId));
      if (
        plant?.iotStatus !== 'active' ||
        !plant.thingName ||
        !plant.policyName ||
        !plant.certificateId ||
        !plant.certificateArn
      ) {
        throw ApplicationFailure.nonRetryable(
          `Plant ${plantId} has no active IoT identity (status ${plant?.iotStatus ?? 'unknown'}); only an active plant's certificate can be rotated`,
          'PlantNotActive',
        );
      }
      const [row] = await db
        .select({
          requestId: certificates.requestId,
          encryptedPrivateKey: certificates.encryptedPrivateKey,
          destroyedAt: certificates.destroyedAt,
        })
        .from(certificates)
        .where(eq(certificates.certificateId, plant.certificateId));
      if (row && !row.encryptedPrivateKey && !row.destroyedAt) {
        // Certificate mode device-csr: a rotation here would make the new key on our side.
        throw ApplicationFailure.nonRetryable(
          `Plant ${plantId}'s key is held by its device (certificate mode device-csr); a rotation would make a new key here. Provision it again (deprovision, then provision with certificateMode device-csr) so the device sends a new CSR`,
          'DeviceHeldKey',
        );
      }
      return {
        thingName: plant.thingName,
        policyName: plant.policyName,
        current: {
          certificateId: plant.certificateId,
          certificateArn: plant.certificateArn,
          requestId: row?.requestId ?? null,
        },
      };
    },

    /**
     * The switch: the plant's record names the new certificate from here on (status, hand-over,
     * the next rotation). Only if the plant is still active on the certificate the rotation
     * started from; a deprovision or another change in between fails it, not retryably, and the
     * rotation removes its new certificate. A retry after a lost answer finds it already done.
     */
    async recordRotated({
      plantId,
      previousCertificateId,
      certificate,
    }: {
      plantId: string;
      previousCertificateId: string;
      certificate: CertificateRef;
    }): Promise<void> {
      const switched = await db
        .update(plants)
        .set({
          certificateId: certificate.certificateId,
          certificateArn: certificate.certificateArn,
          updatedAt: new Date(),
        })
        .where(
          and(
            eq(plants.id, plantId),
            eq(plants.iotStatus, 'active'),
            eq(plants.certificateId, previousCertificateId),
          ),
        )
        .returning({ id: plants.id });
      if (switched.length > 0) return;
      const [plant] = await db.select().from(plants).where(eq(plants.id, plantId));
      if (plant?.iotStatus === 'active' && plant.certificateId === certificate.certificateId) return;
      throw ApplicationFailure.nonRetryable(
        `Plant ${plantId} changed during the rotation (status ${plant?.iotStatus ?? 'unknown'}, certificate ${plant?.certificateId ?? 'none'} instead of ${previousCertificateId})`,
        'PlantChanged',
      );
    },

    /**
     * Active plants whose current certificate was activated more than `maxAgeDays` ago, oldest
     * first, but for those whose device holds its key (certificate mode device-csr). Age is measured on the database clock, the one activation times are compared with
     * (not workflow time, which a time-skipping test server moves at will).
     */
    async listCertificatesToRotate({
      maxAgeDays,
      limit,
    }: {
      maxAgeDays: number;
      limit: number;
    }): Promise<{ activatedBefore: string; due: { plantId: string; certificateId: string }[] }> {
      const since = sql`coalesce(${certificates.activatedAt}, ${certificates.createdAt})`;
      const cutoff = sql`now() - make_interval(days => ${maxAgeDays}::int)`;
      const [clock] = await db
        .execute<{ cutoff: string | Date }>(sql`select ${cutoff} as cutoff`)
        .then((r) => r.rows);
      const activatedBefore = new Date(clock?.cutoff ?? Date.now()).toISOString();
      const rows = await db
        .select({ plantId: plants.id, certificateId: certificates.certificateId })
        .from(plants)
        .innerJoin(certificates, eq(certificates.certificateId, plants.certificateId))
        .where(
          and(
            eq(plants.iotStatus, 'active'),
            lt(since, new Date(activatedBefore)),
            // A key held by the device (certificate mode device-csr) is not ours to replace.
            isNotNull(certificates.encryptedPrivateKey),
          ),
        )
        .orderBy(asc(since), asc(plants.id))
        .limit(limit);
      return {
        activatedBefore,
        due: rows.map((r) => ({ plantId: r.plantId, certificateId: r.certificateId ?? '' })),
      };
    },
  };
}
