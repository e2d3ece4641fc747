import { and, eq, isNull } from 'drizzle-orm';
import { certificates, type IotStatus, plants } from '../db/schema.js';
import { policyNameFor, SHARED_POLICY_NAME } from '../iot/naming.js';
import type {
  PlantRecordActivities,
  StoredCertificate,
} from '../workflows/activity-contracts/plant-records.js';
import type { PlantPolicy } from '../workflows/activity-contracts/policies.js';
import type { PlantIotResources } from '../workflows/contract.js';
import type { ActivityDeps } from './deps.js';

export function plantRecordActivities({ db }: Pick<ActivityDeps, 'db'>): PlantRecordActivities {
  async function setStatus(
    plantId: string,
    iotStatus: IotStatus,
    extra: Partial<typeof plants.$inferInsert> = {},
  ) {
    await db
      .update(plants)
      .set({ iotStatus, updatedAt: new Date(), ...extra })
      .where(eq(plants.id, plantId));
  }

  return {
    /**
     * Creates the plant row if the plant service has not, and marks it provisioning. A plant that
     * is already active returns its resources, so provisioning it again changes nothing.
     */
    async beginProvisioning({
      plantId,
      plantName,
    }: {
      plantId: string;
      plantName: string;
    }): Promise<PlantIotResources | null> {
      await db
        .insert(plants)
        .values({ id: plantId, name: plantName })
        .onConflictDoNothing({ target: plants.id });
      const [plant] = await db.select().from(plants).where(eq(plants.id, plantId));
      if (
        plant?.iotStatus === 'active' &&
        plant.thingName &&
        plant.thingArn &&
        plant.certificateId &&
        plant.certificateArn &&
        plant.policyName
      ) {
        return {
          thingName: plant.thingName,
          thingArn: plant.thingArn,
          certificateId: plant.certificateId,
          certificateArn: plant.certificateArn,
          policyName: plant.policyName,
          ...(plant.ruleName ? { ruleName: plant.ruleName } : {}),
          endpoint: '',
        };
      }
      await setStatus(plantId, 'provisioning', { lastError: null });
      return null;
    },

    async recordCsrWait({
      plantId,
      iotStatus,
    }: {
      plantId: string;
      iotStatus: 'awaiting-csr' | 'provisioning';
    }) {
      await setStatus(plantId, iotStatus);
    },

    async recordProvisioned({ plantId, resources }: { plantId: string; resources: PlantIotResources }) {
      await setStatus(plantId, 'active', {
        thingName: resources.thingName,
        thingArn: resources.thingArn,
        certificateId: resources.certificateId,
        certificateArn: resources.certificateArn,
        policyName: resources.policyName,
        ruleName: resources.ruleName ?? null,
        lastError: null,
        provisionedAt: new Date(),
      });
    },

    async recordFailed({ plantId, reason }: { plantId: string; reason: string }) {
      await setStatus(plantId, 'failed', { lastError: reason });
    },

    /** Marks the plant deprovisioning and lists every certificate it may still hold. */
    async beginDeprovisioning({ plantId }: { plantId: string }): Promise<StoredCertificate[]> {
      await setStatus(plantId, 'deprovisioning', { lastError: null });
      return db
        .select({
          requestId: certificates.requestId,
          certificateId: certificates.certificateId,
          certificateArn: certificates.certificateArn,
        })
        .from(certificates)
        .where(and(eq(certificates.plantId, plantId), isNull(certificates.destroyedAt)));
    },

    /**
     * The policy the plant's certificates carry, from our record: the shared policy or the
     * plant's own. Unknown (never fully provisioned): the plant's own name, whose removal is a
     * no-op when it does not exist.
     */
    async recordedPolicy({ plantId }: { plantId: string }): Promise<PlantPolicy> {
      const [row] = await db
        .select({ policyName: plants.policyName })
        .from(plants)
        .where(eq(plants.id, plantId));
      const policyName = row?.policyName ?? policyNameFor(plantId);
      return { policyName, shared: policyName === SHARED_POLICY_NAME };
    },

    async recordDeprovisioned({ plantId }: { plantId: string }) {
      await setStatus(plantId, 'deprovisioned', {
        thingName: null,
        thingArn: null,
        certificateId: null,
        certificateArn: null,
        policyName: null,
        ruleName: null,
        lastError: null,
        deprovisionedAt: new Date(),
      });
    },
  };
}
