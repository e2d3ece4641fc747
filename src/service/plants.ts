/** The plants table as the plant service sees it: rows in, JSON-ready views out. */
import { and, asc, eq, gt, inArray, type SQL, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { type IotStatus, plants } from '../db/schema.js';
import { assertValidPlantId, THING_NAME_PREFIX } from '../iot/naming.js';
import { MOCK_THING_NAME_PREFIX } from '../mock/resources.js';
import type { PlantCertificateMode } from '../workflows/contract.js';
import { ConflictError, mapDbError, PlantNotFoundError } from './errors.js';
import { assertPlantId } from './plant-input.js';
import { plantLastReadingAt } from './silence.js';

export interface PlantView {
  id: string;
  name: string;
  iotStatus: IotStatus;
  thingName: string | null;
  thingArn: string | null;
  certificateId: string | null;
  certificateArn: string | null;
  policyName: string | null;
  /** The plant's own topic rule (per-plant mode); null when the shared rule carries its telemetry. */
  ruleName: string | null;
  /** Where its key is made: `server`, or `device-csr` (the device's choice, kept until switched explicitly). */
  certificateMode: PlantCertificateMode;
  lastError: string | null;
  createdAt: string;
  updatedAt: string;
  provisionedAt: string | null;
  deprovisionedAt: string | null;
}

export interface PlantListItem extends PlantView {
  /** The newest accepted reading of any of its devices; null when it never sent one. */
  lastReadingAt: string | null;
}

export interface PlantPage {
  items: PlantListItem[];
  /** Pass as `cursor` to get the next page; null on the last page. */
  nextCursor: string | null;
}

export const DEFAULT_PAGE_SIZE = 50;
export const MAX_PAGE_SIZE = 500;

type Row = typeof plants.$inferSelect;
type NewPlant = { id: string; name: string; iotStatus: IotStatus; certificateMode?: PlantCertificateMode };

const iso = (d: Date | null) => (d ? d.toISOString() : null);

export function toPlantView(row: Row): PlantView {
  return {
    id: row.id,
    name: row.name,
    iotStatus: row.iotStatus,
    thingName: row.thingName,
    thingArn: row.thingArn,
    certificateId: row.certificateId,
    certificateArn: row.certificateArn,
    policyName: row.policyName,
    ruleName: row.ruleName,
    certificateMode: row.certificateMode,
    lastError: row.lastError,
    createdAt: row.createdAt.toISOString(),
    updatedAt: row.updatedAt.toISOString(),
    provisionedAt: iso(row.provisionedAt),
    deprovisionedAt: iso(row.deprovisionedAt),
  };
}

async function guarded<T>(run: () => Promise<T>): Promise<T> {
  try {
    return await run();
  } catch (error) {
    throw mapDbError(error);
  }
}

export function plantRepository(db: Db) {
  return {
    async get(id: string): Promise<PlantView | null> {
      const [row] = await guarded(() => db.select().from(plants).where(eq(plants.id, id)));
      return row ? toPlantView(row) : null;
    },

    /** Plants whose id is one of `ids`. */
    async getMany(ids: string[]): Promise<PlantView[]> {
      if (ids.length === 0) return [];
      const rows = await guarded(() => db.select().from(plants).where(inArray(plants.id, ids)));
      return rows.map(toPlantView);
    },

    /** Inserts a new plant; null when a plant with this id exists already. */
    async insert(values: NewPlant): Promise<PlantView | null> {
      const [row] = await guarded(() =>
        db.insert(plants).values(values).onConflictDoNothing({ target: plants.id }).returning(),
      );
      return row ? toPlantView(row) : null;
    },

    /** The plant, created first with `values` if it does not exist (callers may own plant ids). */
    async ensure(values: NewPlant): Promise<PlantView> {
      const created = await this.insert(values);
      if (created) return created;
      const existing = await this.get(values.id);
      if (!existing) throw new Error(`Plant ${values.id} vanished while being created`);
      return existing;
    },

    /** Where the plant's key is made from now on (an explicit switch; the status is left as it is). */
    async setCertificateMode(id: string, certificateMode: PlantCertificateMode): Promise<void> {
      await guarded(() =>
        db.update(plants).set({ certificateMode, updatedAt: new Date() }).where(eq(plants.id, id)),
      );
    },

    async setStatus(
      id: string,
      iotStatus: IotStatus,
      extra: Partial<typeof plants.$inferInsert> = {},
    ): Promise<void> {
      await guarded(() =>
        db
          .update(plants)
          .set({ iotStatus, updatedAt: new Date(), ...extra })
          .where(eq(plants.id, id)),
      );
    },

    /**
     * Pages in plant id order; `cursor` is the last id of the previous page. `silentForSeconds`:
     * only plants whose newest reading is older than that, or that never sent one.
     */
    async list(options: {
      iotStatus?: IotStatus;
      limit: number;
      cursor?: string;
      silentForSeconds?: number;
    }): Promise<PlantPage> {
      const conditions: SQL[] = [];
      if (options.iotStatus) conditions.push(eq(plants.iotStatus, options.iotStatus));
      if (options.cursor) conditions.push(gt(plants.id, options.cursor));
      const last = plantLastReadingAt(plants.id);
      if (options.silentForSeconds !== undefined)
        conditions.push(
          sql`coalesce(${last}, '-infinity') < now() - make_interval(secs => ${options.silentForSeconds})`,
        );
      const rows = await guarded(() =>
        db
          .select({
            plant: plants,
            lastReadingAt: sql<
              string | null
            >`to_char(${last} AT TIME ZONE 'UTC', 'YYYY-MM-DD"T"HH24:MI:SS.MS"Z"')`,
          })
          .from(plants)
          .where(and(...conditions))
          .orderBy(asc(plants.id))
          .limit(options.limit + 1),
      );
      const items = rows
        .slice(0, options.limit)
        .map((r) => ({ ...toPlantView(r.plant), lastReadingAt: r.lastReadingAt }));
      const nextCursor = rows.length > options.limit ? (items.at(-1)?.id ?? null) : null;
      return { items, nextCursor };
    },
  };
}

export type PlantRepository = ReturnType<typeof plantRepository>;

/** The plant, or PlantNotFoundError (404); the id is checked first. */
export async function requirePlant(repository: PlantRepository, plantId: string): Promise<PlantView> {
  assertPlantId(plantId);
  const plant = await repository.get(plantId);
  if (!plant) throw new PlantNotFoundError(plantId);
  return plant;
}

/** The plant ids a thing name can stand for (thing names derive from plant ids, in mock mode too). */
function idsNamedBy(key: string): string[] {
  const ids = [key];
  for (const prefix of [THING_NAME_PREFIX, MOCK_THING_NAME_PREFIX])
    if (key.startsWith(prefix)) ids.push(key.slice(prefix.length));
  return ids.filter((id) => {
    try {
      assertValidPlantId(id);
      return true;
    } catch {
      return false;
    }
  });
}

/**
 * The plant whose id or thing name is `key`: the seed's callers address shadows by thing name
 * (`solar-plant-123`). Only the ids the key can stand for are read (primary key). A key that is
 * one plant's id and another's thing name is refused rather than guessed.
 */
export async function requirePlantByIdOrThingName(
  repository: PlantRepository,
  key: string,
): Promise<PlantView> {
  const ids = idsNamedBy(key);
  if (ids.length === 0) assertPlantId(key); // throws: neither a plant id nor a thing name
  const found = (await repository.getMany(ids)).filter((p) => p.id === key || p.thingName === key);
  const [plant, other] = found;
  if (!plant) throw new PlantNotFoundError(key);
  if (other) {
    const byThing = found.find((p) => p.id !== key)?.id;
    throw new ConflictError(
      'ambiguous_plant',
      `${key} is the id of one plant and the thing name of plant ${byThing}; address the plant by its id`,
    );
  }
  return plant;
}
