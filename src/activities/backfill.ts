import { and, asc, count, gt, inArray } from 'drizzle-orm';
import { plants } from '../db/schema.js';
import { BACKFILL_STATUSES } from '../workflows/backfill-contract.js';
import type { ActivityDeps } from './deps.js';

export interface PlantToBackfill {
  id: string;
  name: string;
}

/** The backfill's reads: pages of plants without IoT resources, in plant id order. */
export function backfillActivities({ db }: ActivityDeps) {
  const needsProvisioning = (afterId: string | null) =>
    and(
      inArray(plants.iotStatus, [...BACKFILL_STATUSES]),
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
