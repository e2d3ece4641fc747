/**
 * The certificate rotation Schedule: `rotateExpiringCertificates` every ROTATION_EVERY.
 * `ensureRotationSchedule` creates it or brings an existing one to the given options, so the
 * worker calls it at every start-up and `tsx src/rotation/schedule.ts` does the same by hand.
 * The client must carry the payload codec (its arguments are stored encrypted like any input).
 */
import { fileURLToPath } from 'node:url';
import type { Client, ScheduleOptionsAction } from '@temporalio/client';
import { createTemporalClient } from '../codec/data-converter.js';
import { ConfigError, loadConfig } from '../config/index.js';
import { ROTATION_RUN_WORKFLOW_ID } from '../schedules/scheduled-workflow-ids.js';
import { upsertSchedule } from '../schedules/upsert-schedule.js';
import type { RotateExpiringInput } from './contract.js';
import { type RotationSettings, readRotationSettings } from './settings.js';

export const ROTATION_SCHEDULE_ID = 'rotate-expiring-certificates';
export { ROTATION_RUN_WORKFLOW_ID };

export async function ensureRotationSchedule(
  client: Client,
  options: Omit<RotationSettings, 'scheduleEnabled'> & { taskQueue: string; scheduleId?: string },
): Promise<{ scheduleId: string; created: boolean }> {
  const scheduleId = options.scheduleId ?? ROTATION_SCHEDULE_ID;
  const input: RotateExpiringInput = {
    maxAgeDays: options.maxAgeDays,
    maxRotations: options.maxRotations,
    gracePeriod: options.gracePeriod,
  };
  const action: ScheduleOptionsAction = {
    type: 'startWorkflow',
    workflowType: 'rotateExpiringCertificates',
    workflowId: ROTATION_RUN_WORKFLOW_ID,
    args: [input],
    taskQueue: options.taskQueue,
  };
  return upsertSchedule(client, scheduleId, { action, every: options.every, catchupWindow: '1h' });
}

if (process.argv[1] && fileURLToPath(import.meta.url) === process.argv[1]) {
  try {
    const config = loadConfig();
    const settings = readRotationSettings();
    const temporal = await createTemporalClient(config);
    try {
      const { scheduleId, created } = await ensureRotationSchedule(temporal.client, {
        ...settings,
        taskQueue: config.temporal.taskQueue,
      });
      console.log(
        `${created ? 'created' : 'updated'} schedule ${scheduleId}: every ${settings.every}, certificates older than ${settings.maxAgeDays} days, at most ${settings.maxRotations} per run, grace period ${settings.gracePeriod}`,
      );
    } finally {
      await temporal.close();
    }
  } catch (error) {
    if (error instanceof ConfigError) {
      console.error(error.message);
      process.exit(2);
    }
    console.error(`rotation schedule: ${(error as Error).message}`);
    process.exit(1);
  }
}
