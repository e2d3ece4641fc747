/**
 * Silent plants: when each plant's devices last sent an accepted reading (device_last_reading,
 * kept by the ingest write path), for GET /plants/{id}, `plants list --silent` and the ingest's
 * silent-plants gauge.
 *
 * A plant is silent when it is expected to send (iotStatus `active`, unless the caller asks for
 * another status) and its newest reading is older than the threshold, or it never sent one.
 * Times are the readings' own timestamps (device clocks) against the database's clock.
 */
import { asc, eq, sql } from 'drizzle-orm';
import type { Db } from '../db/client.js';
import { deviceLastReading } from '../db/schema.js';
import { mapDbError } from './errors.js';

export interface DeviceLastReading {
  deviceId: string;
  lastReadingAt: string;
}

export interface PlantTelemetryStatus {
  /** The newest reading of any of its devices; null when it never sent one. */
  lastReadingAt: string | null;
  /** Every device that ever sent an accepted reading, in id order. */
  devices: DeviceLastReading[];
}

export const NO_TELEMETRY: PlantTelemetryStatus = Object.freeze({ lastReadingAt: null, devices: [] });

/** The plant's newest reading time: a correlated subquery on device_last_reading's key. */
export const plantLastReadingAt = (plantIdColumn: unknown) =>
  sql<
    string | null
  >`(SELECT max(d.last_reading_at) FROM device_last_reading d WHERE d.plant_id = ${plantIdColumn})`;

/** Active plants whose newest reading is older than the threshold, or that never sent one. */
export const COUNT_SILENT_PLANTS_SQL = `
  SELECT count(*)::int AS silent FROM plants p
   WHERE p.iot_status = 'active'
     AND coalesce((SELECT max(d.last_reading_at) FROM device_last_reading d WHERE d.plant_id = p.id), '-infinity')
         < now() - make_interval(secs => $1)`;

export async function plantTelemetryStatus(db: Db, plantId: string): Promise<PlantTelemetryStatus> {
  try {
    const rows = await db
      .select({ deviceId: deviceLastReading.deviceId, lastReadingAt: deviceLastReading.lastReadingAt })
      .from(deviceLastReading)
      .where(eq(deviceLastReading.plantId, plantId))
      .orderBy(asc(deviceLastReading.deviceId));
    const devices = rows.map((r) => ({ deviceId: r.deviceId, lastReadingAt: r.lastReadingAt.toISOString() }));
    const lastReadingAt = devices.reduce<string | null>(
      (latest, d) => (latest === null || d.lastReadingAt > latest ? d.lastReadingAt : latest),
      null,
    );
    return { lastReadingAt, devices };
  } catch (error) {
    throw mapDbError(error);
  }
}
