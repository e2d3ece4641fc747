import {
  type Client,
  ScheduleAlreadyRunning,
  type ScheduleOptionsAction,
  ScheduleOverlapPolicy,
} from '@temporalio/client';
import type { Duration } from '@temporalio/common';

/**
 * Creates a Schedule, or brings an existing one to this action and interval: safe to call at
 * every start-up or deployment. Runs never overlap: a run still going makes the next tick skip.
 */
export async function upsertSchedule(
  client: Client,
  scheduleId: string,
  options: { action: ScheduleOptionsAction; every: Duration; catchupWindow: Duration },
): Promise<{ scheduleId: string; created: boolean }> {
  const { action } = options;
  const spec = { intervals: [{ every: options.every }] };
  const policies = { overlap: ScheduleOverlapPolicy.SKIP, catchupWindow: options.catchupWindow };
  try {
    await client.schedule.create({ scheduleId, spec, action, policies });
    return { scheduleId, created: true };
  } catch (error) {
    if (!(error instanceof ScheduleAlreadyRunning)) throw error;
  }
  await client.schedule.getHandle(scheduleId).update((previous) => ({ ...previous, spec, action, policies }));
  return { scheduleId, created: false };
}
