/** Tiny workflows for infrastructure tests (bundled by the worker through workflowsPath). */
import { sleep } from '@temporalio/workflow';

/** Sleeps for `ms` of workflow time, then returns the workflow's own elapsed time in ms. */
export async function sleeper(ms: number): Promise<number> {
  const start = Date.now();
  await sleep(ms);
  return Date.now() - start;
}

export async function greet(name: string): Promise<string> {
  return `hello, ${name}`;
}
