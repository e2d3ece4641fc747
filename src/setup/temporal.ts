/**
 * `solar-iot setup temporal`: what a Temporal cluster needs before these workers run on it, done
 * or checked idempotently (run it at every deploy; `npm start` runs it on its own dev server):
 *
 *   search attributes   PlantId and IotStatus (Keyword) registered in the namespace, added if missing
 *   dynamic config      one partition for each AWS quota task queue (<task queue>@<operation>):
 *                       with more, the server releases several token buckets' worth of tasks at
 *                       once against AWS's one (deploy/temporal-dynamicconfig.yaml). Checked, not
 *                       changed: the dynamic config is the cluster's file. The server lists a
 *                       queue's write partitions (ListTaskQueuePartitions); the file sets read and
 *                       write partitions together.
 *   rotation schedule   brought to ROTATION_SCHEDULE (created or updated when on, removed when
 *                       off): here, once per deploy, rather than by every worker at start-up,
 *                       where two workers of different versions starting at once would each write
 *                       their own settings.
 */
import type { Client } from '@temporalio/client';
// Default import: @temporalio/proto is CommonJS, and Node's ESM loader cannot name its exports.
import proto from '@temporalio/proto';
import { QUOTA_OPERATIONS, quotaTaskQueue } from '../quotas/classes.js';
import { type RotationScheduleState, syncRotationSchedule } from '../rotation/schedule.js';
import type { RotationSettings } from '../rotation/settings.js';
import { SEARCH_ATTRIBUTES } from './search-attributes.js';

const { IndexedValueType } = proto.temporal.api.enums.v1;
const KEYWORD = IndexedValueType.INDEXED_VALUE_TYPE_KEYWORD;

/** INDEXED_VALUE_TYPE_KEYWORD_LIST as the CLI and Web UI name it: KeywordList. */
function typeName(value: unknown): string {
  const name = IndexedValueType[value as number];
  if (typeof name !== 'string') return `type ${String(value)}`;
  return name
    .replace(/^INDEXED_VALUE_TYPE_/, '')
    .toLowerCase()
    .replace(/(?:^|_)([a-z])/g, (_, c: string) => c.toUpperCase());
}
const GRPC_ALREADY_EXISTS = 6;

export interface SetupStep {
  what: string;
  ok: boolean;
  /** What was found or done, or what is wrong and how to fix it. */
  detail: string;
}

export interface TemporalSetupReport {
  ok: boolean;
  steps: SetupStep[];
}

export interface TemporalSetupOptions {
  namespace: string;
  taskQueue: string;
  rotation: RotationSettings;
  /** Called as each step ends (the CLI's progress). */
  onStep?: (step: SetupStep, index: number, total: number) => void;
}

const message = (error: unknown) => (error instanceof Error ? error.message : String(error)).split('\n')[0];

async function searchAttributes(client: Client, namespace: string): Promise<SetupStep[]> {
  const operator = client.connection.operatorService;
  let existing: Record<string, unknown>;
  try {
    existing = (await operator.listSearchAttributes({ namespace })).customAttributes ?? {};
  } catch (error) {
    return [
      {
        what: 'search attributes',
        ok: false,
        detail: `cannot list them (${message(error)}). Fix: register ${SEARCH_ATTRIBUTES.map((a) => `${a.name} (${a.type})`).join(', ')} in namespace ${namespace} (Temporal Cloud: tcld namespace search-attributes add)`,
      },
    ];
  }
  const steps: SetupStep[] = [];
  for (const { name, type } of SEARCH_ATTRIBUTES) {
    const what = `search attribute ${name}`;
    const found = existing[name];
    if (found !== undefined) {
      const ok = found === KEYWORD;
      // A name cannot change type in place; the workflows' upserts of a Keyword would fail.
      const fix = `Fix: remove it (temporal operator search-attribute remove --namespace ${namespace} --name ${name}; on Temporal Cloud, which cannot remove one, rename it: tcld namespace search-attributes rename) and run again`;
      steps.push({
        what,
        ok,
        detail: ok ? `${type}, registered` : `registered as ${typeName(found)}, not ${type}. ${fix}`,
      });
      continue;
    }
    try {
      await operator.addSearchAttributes({ namespace, searchAttributes: { [name]: KEYWORD } });
      steps.push({ what, ok: true, detail: `${type}, added` });
    } catch (error) {
      // Another setup added it meanwhile.
      if ((error as { code?: number }).code === GRPC_ALREADY_EXISTS)
        steps.push({ what, ok: true, detail: `${type}, registered` });
      else steps.push({ what, ok: false, detail: `cannot add it (${message(error)})` });
    }
  }
  return steps;
}

async function quotaPartitions(client: Client, namespace: string, taskQueue: string): Promise<SetupStep> {
  const wrong: string[] = [];
  try {
    for (const operation of QUOTA_OPERATIONS) {
      const name = quotaTaskQueue(taskQueue, operation);
      const { activityTaskQueuePartitions } = await client.connection.workflowService.listTaskQueuePartitions(
        {
          namespace,
          taskQueue: { name },
        },
      );
      const count = activityTaskQueuePartitions?.length ?? 0;
      if (count !== 1) wrong.push(`${name}: ${count}`);
    }
  } catch (error) {
    return {
      what: 'quota task queue partitions',
      ok: false,
      detail: `cannot list them (${message(error)}); make sure the dynamic config of deploy/temporal-dynamicconfig.yaml is applied (Temporal Cloud: lower SOLAR_IOT_QUOTA_UTILIZATION instead)`,
    };
  }
  if (wrong.length === 0)
    return {
      what: 'quota task queue partitions',
      ok: true,
      detail: `1 each (${QUOTA_OPERATIONS.length} queues of ${taskQueue})`,
    };
  return {
    what: 'quota task queue partitions',
    ok: false,
    detail: `not 1 partition (${wrong.join(', ')}): each partition releases its own burst, so AWS throttles. Fix: merge deploy/temporal-dynamicconfig.yaml (with your namespace and TEMPORAL_TASK_QUEUE) into the cluster's dynamic config`,
  };
}

async function rotationSchedule(client: Client, options: TemporalSetupOptions): Promise<SetupStep> {
  const { rotation, taskQueue } = options;
  try {
    const { scheduleId, state } = await syncRotationSchedule(client, { ...rotation, taskQueue });
    const said: Record<RotationScheduleState, string> = {
      created: 'created',
      updated: 'up to date',
      removed: 'removed (ROTATION_SCHEDULE=off)',
      absent: 'none (ROTATION_SCHEDULE=off)',
    };
    const settings = rotation.scheduleEnabled
      ? `: every ${rotation.every}, certificates older than ${rotation.maxAgeDays} days, at most ${rotation.maxRotations} per run, grace period ${rotation.gracePeriod}`
      : '';
    return { what: `rotation schedule ${scheduleId}`, ok: true, detail: `${said[state]}${settings}` };
  } catch (error) {
    return { what: 'rotation schedule', ok: false, detail: `not synced (${message(error)})` };
  }
}

/** Every step, each reported whatever the others did; `ok` when all are. */
export async function setupTemporal(
  client: Client,
  options: TemporalSetupOptions,
): Promise<TemporalSetupReport> {
  const total = SEARCH_ATTRIBUTES.length + 2;
  const steps: SetupStep[] = [];
  const record = (step: SetupStep) => {
    steps.push(step);
    options.onStep?.(step, steps.length, total);
  };
  for (const step of await searchAttributes(client, options.namespace)) record(step);
  record(await quotaPartitions(client, options.namespace, options.taskQueue));
  record(await rotationSchedule(client, options));
  return { ok: steps.every((s) => s.ok), steps };
}
