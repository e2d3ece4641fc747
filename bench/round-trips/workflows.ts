import { proxyActivities, proxyLocalActivities } from '@temporalio/workflow';

type Noop = { noop(i: number): Promise<number> };
const remote = proxyActivities<Noop>({ startToCloseTimeout: '30s' });
const local = proxyLocalActivities<Noop>({ startToCloseTimeout: '30s' });

/** `steps` activities in sequence, each a task-queue round trip or a local activity. */
export async function steps(count: number, kind: 'activity' | 'local'): Promise<number> {
  const run = kind === 'local' ? local : remote;
  let sum = 0;
  for (let i = 0; i < count; i++) sum += await run.noop(i);
  return sum;
}
