/**
 * The certificate rotation Schedule: `rotateExpiringCertificates` every ROTATION_EVERY, only
 * with ROTATION_SCHEDULE=on. `syncRotationSchedule` brings Temporal to the setting (creates or
 * updates the Schedule when on, removes it when off); `solar-iot setup temporal` calls it, once
 * per deploy (src/setup/temporal.ts), and `npm start` before its worker starts. The client must carry the payload
 * codec (the Schedule's arguments are stored encrypted like any input).
 */
import { type Client, ScheduleNotFoundError, type ScheduleOptionsAction } from '@temporalio/client';
import { ROTATION_RUN_WORKFLOW_ID } from '../schedules/scheduled-workflow-ids.js';
import { upsertSchedule } from '../schedules/upsert-schedule.js';
import type { RotateExpiringInput } from './contract.js';
import type { RotationSettings } from './settings.js';

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

export type RotationScheduleState = 'created' | 'updated' | 'removed' | 'absent';

/**
 * On: creates or updates the Schedule. Off: deletes it if it exists (one created while the
 * setting was on), so off means no automatic rotation.
 */
export async function syncRotationSchedule(
  client: Client,
  options: RotationSettings & { taskQueue: string; scheduleId?: string },
): Promise<{ scheduleId: string; state: RotationScheduleState }> {
  const scheduleId = options.scheduleId ?? ROTATION_SCHEDULE_ID;
  if (options.scheduleEnabled) {
    const { created } = await ensureRotationSchedule(client, { ...options, scheduleId });
    return { scheduleId, state: created ? 'created' : 'updated' };
  }
  try {
    await client.schedule.getHandle(scheduleId).delete();
    return { scheduleId, state: 'removed' };
  } catch (error) {
    if (error instanceof ScheduleNotFoundError) return { scheduleId, state: 'absent' };
    throw error;
  }
}
