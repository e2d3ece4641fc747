export interface PlantToBackfill {
  id: string;
  name: string;
}

/** The backfill's reads: pages of plants without IoT resources, in plant id order. */
export interface BackfillActivities {
  listPlantsToBackfill(input: { afterId: string | null; limit: number }): Promise<PlantToBackfill[]>;
  countPlantsToBackfill(input: { afterId: string | null }): Promise<number>;
}
