/** Tiny workflows for infrastructure tests (bundled by the worker through workflowsPath). */
import { defineSearchAttributeKey, SearchAttributeType } from '@temporalio/common';
import { sleep, upsertSearchAttributes } from '@temporalio/workflow';

/** Sleeps for `ms` of workflow time, then returns the workflow's own elapsed time in ms. */
export async function sleeper(ms: number): Promise<number> {
  const start = Date.now();
  await sleep(ms);
  return Date.now() - start;
}

export async function greet(name: string): Promise<string> {
  return `hello, ${name}`;
}

const PlantId = defineSearchAttributeKey('PlantId', SearchAttributeType.KEYWORD);
const IotStatus = defineSearchAttributeKey('IotStatus', SearchAttributeType.KEYWORD);

/** Upserts the project's search attributes: fails unless the server has them registered. */
export async function tagged(plantId: string): Promise<string> {
  upsertSearchAttributes([
    { key: PlantId, value: plantId },
    { key: IotStatus, value: 'TEST' },
  ]);
  return plantId;
}
