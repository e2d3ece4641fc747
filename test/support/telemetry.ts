/** Telemetry written the way the consumer writes it (the ingest store), for read-side tests. */
import { randomUUID } from 'node:crypto';
import type pg from 'pg';
import { parseMessage, type Reading, ruleOutput } from '../../src/ingest/message.js';
import { writeBatch } from '../../src/ingest/store.js';

export interface TestReading {
  deviceId: string;
  timestamp: string;
  metrics: Record<string, number>;
}

/** Validates each reading as the consumer would and writes them as one batch. */
export async function storeReadings(pool: pg.Pool, plantId: string, readings: TestReading[]): Promise<void> {
  const parsed: Reading[] = readings.map((r) => {
    const result = parseMessage(ruleOutput({ plantId, ...r }, plantId), randomUUID(), {
      maxBodyBytes: 1_048_576,
    });
    if (!result.ok) throw new Error(`${result.rejection.reason}: ${result.rejection.detail}`);
    return result.reading;
  });
  const outcome = await writeBatch(pool, parsed, []);
  if (outcome.rawInserted !== parsed.length) throw new Error(`only ${outcome.rawInserted} readings stored`);
}
