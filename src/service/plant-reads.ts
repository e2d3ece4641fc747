/** Reading plants: one plant's status, pages of plants, and their telemetry. */
import type { IotMode } from '../config/index.js';
import { IOT_STATUSES, type IotStatus } from '../db/schema.js';
import type { ServiceContext } from './context.js';
import { parseDuration } from './durations.js';
import { InvalidInputError } from './errors.js';
import type { OperationView } from './operations.js';
import { DEFAULT_PAGE_SIZE, MAX_PAGE_SIZE, type PlantPage, type PlantView, requirePlant } from './plants.js';
import { type PlantTelemetryStatus, plantTelemetryStatus } from './silence.js';
import {
  type LatestTelemetryView,
  type TelemetryQueryOptions,
  type TelemetryView,
  telemetryRepository,
} from './telemetry.js';

/** Every answer says which mode produced it, so mock data is never mistaken for real. */
export interface PlantStatus {
  iotMode: IotMode;
  plant: PlantView;
  operation: OperationView | null;
  /** When its devices last sent an accepted reading. */
  telemetry: PlantTelemetryStatus;
}

export interface ListPlantsOptions {
  iotStatus?: IotStatus | undefined;
  /**
   * Only plants silent this long (`15m`, `2h`): newest reading older than that, or none ever.
   * Without iotStatus, only `active` plants (the ones expected to send) are considered.
   */
  silentFor?: string | undefined;
  limit?: number | undefined;
  cursor?: string | undefined;
}

/** The plant's record (status, resource ids, last error) and its latest operation's step. */
export async function plantStatus(ctx: ServiceContext, plantId: string): Promise<PlantStatus> {
  await requirePlant(ctx.plants, plantId); // an unknown plant is a 404 even with Temporal down
  // The row is read again after the operation: a step the operation reports done
  // (record-start sets the status) is then always in the row returned. Read once, before,
  // it could show a deprovision past record-start on a plant still 'active'.
  const operation = await ctx.calls.operationOf(plantId);
  const plant = await requirePlant(ctx.plants, plantId);
  return {
    iotMode: ctx.backend.mode,
    plant,
    operation,
    telemetry: await plantTelemetryStatus(ctx.db, plantId),
  };
}

async function listPlants(
  ctx: ServiceContext,
  options: ListPlantsOptions,
): Promise<PlantPage & { iotMode: IotMode }> {
  const limit = options.limit ?? DEFAULT_PAGE_SIZE;
  if (!Number.isInteger(limit) || limit < 1 || limit > MAX_PAGE_SIZE) {
    throw new InvalidInputError(`limit must be a whole number from 1 to ${MAX_PAGE_SIZE}`);
  }
  if (options.iotStatus !== undefined && !IOT_STATUSES.includes(options.iotStatus)) {
    throw new InvalidInputError(`iotStatus must be one of ${IOT_STATUSES.join(', ')}`);
  }
  // Silence is asked of plants expected to send, unless the caller names another status.
  const silentForSeconds =
    options.silentFor === undefined ? undefined : parseDuration(options.silentFor, 'silentFor');
  const iotStatus = options.iotStatus ?? (silentForSeconds === undefined ? undefined : 'active');
  const page = await ctx.plants.list({
    limit,
    ...(silentForSeconds === undefined ? {} : { silentForSeconds }),
    ...(iotStatus ? { iotStatus } : {}),
    ...(options.cursor ? { cursor: options.cursor } : {}),
  });
  return { iotMode: ctx.backend.mode, ...page };
}

export function plantReads(ctx: ServiceContext) {
  const telemetry = telemetryRepository(ctx.db);
  return {
    /** The plant's record (status, resource ids, last error) and its latest operation's step. */
    getPlantIoTStatus(plantId: string): Promise<PlantStatus> {
      return plantStatus(ctx, plantId);
    },

    listPlants(options: ListPlantsOptions = {}): Promise<PlantPage & { iotMode: IotMode }> {
      return listPlants(ctx, options);
    },

    /**
     * The plant's readings in time buckets: avg, min, max, last and count per device and metric
     * (default: the last 24 hours, at most 60 buckets). InvalidInputError names the limit a
     * request breaks (range, buckets, points).
     */
    async getTelemetry(plantId: string, options: TelemetryQueryOptions = {}): Promise<TelemetryView> {
      await requirePlant(ctx.plants, plantId);
      return telemetry.buckets(plantId, options);
    },

    /** The latest value of every metric of every device of the plant. */
    async getLatestTelemetry(plantId: string): Promise<LatestTelemetryView> {
      await requirePlant(ctx.plants, plantId);
      return telemetry.latest(plantId);
    },
  };
}
