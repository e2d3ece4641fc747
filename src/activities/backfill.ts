import { and, asc, count, eq, gt, inArray } from 'drizzle-orm';
import { plants } from '../db/schema.js';
import type { BackfillActivities, PlantToBackfill } from '../workflows/activity-contracts/backfill.js';
import { BACKFILL_STATUSES } from '../workflows/backfill-contract.js';
import type { ActivityDeps } from './deps.js';

export function backfillActivities({ db }: Pick<ActivityDeps, 'db'>): BackfillActivities {
  // A device-csr plant is left out: its provision waits (days) for its device's CSR, which only
  // its installer can time; `solar-iot plants provision <id>` starts it in its own mode.
  const needsProvisioning = (afterId: string | null) =>
    and(
      inArray(plants.iotStatus, [...BACKFILL_STATUSES]),
      eq(plants.certificateMode, 'server'),
      afterId === null ? undefined : gt(plants.id, afterId),
    );

  return {
    async listPlantsToBackfill({
      afterId,
      limit,
    }: {
      afterId: string | null;
      limit: number;
    }): Promise<PlantToBackfill[]> {
      return db
        .select({ id: plants.id, name: plants.name })
        .from(plants)
        .where(needsProvisioning(afterId))
        .orderBy(asc(plants.id))
        .limit(limit);
    },

    async countPlantsToBackfill({ afterId }: { afterId: string | null }): Promise<number> {
      const [row] = await db.select({ n: count() }).from(plants).where(needsProvisioning(afterId));
      return row?.n ?? 0;
    },
  };
}
