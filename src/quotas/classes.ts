/**
 * Which activities spend which AWS IoT request-rate quota, and the task queue each quota class
 * runs on. Pure data: imported by workflows (bundled) and by the worker.
 *
 * Every activity below makes exactly one call of its quota's operation per attempt, so a task
 * queue that dispatches at most N activities a second (`maxTaskQueueActivitiesPerSecond`, which
 * the Temporal server enforces for every worker polling the queue) keeps the whole fleet under N.
 */

/** The AWS IoT operations with a request-rate quota that provisioning and deprovisioning hit. */
export const QUOTA_OPERATIONS = [
  'CreateThing',
  'AttachThingPrincipal',
  'CreatePolicy',
  'AttachPolicy',
  'DeletePolicy',
  'UpdateCertificate',
  'DeleteCertificate',
] as const;
export type QuotaOperation = (typeof QUOTA_OPERATIONS)[number];

/** Default AWS IoT Core quotas, requests per second per account and region (DESIGN.md). */
export const DEFAULT_QUOTAS: Readonly<Record<QuotaOperation, number>> = {
  CreateThing: 100,
  AttachThingPrincipal: 100,
  CreatePolicy: 10,
  AttachPolicy: 15,
  DeletePolicy: 10,
  UpdateCertificate: 10,
  DeleteCertificate: 10,
};

/** Activity name -> the quota its one AWS call spends. */
export const ACTIVITY_QUOTAS: Readonly<Record<string, QuotaOperation>> = {
  createThing: 'CreateThing',
  attachThingPrincipal: 'AttachThingPrincipal',
  createPolicy: 'CreatePolicy',
  attachPolicy: 'AttachPolicy',
  deletePolicy: 'DeletePolicy',
  deactivateCertificate: 'UpdateCertificate',
  deleteCertificate: 'DeleteCertificate',
};

export function quotaOfActivity(activity: string): QuotaOperation | undefined {
  return Object.hasOwn(ACTIVITY_QUOTAS, activity) ? ACTIVITY_QUOTAS[activity] : undefined;
}

/**
 * The task queue of a quota class, derived from the workflow's own task queue so that every
 * deployment (and every test with its fresh queue) gets its own set: `solar-iot@CreatePolicy`.
 */
export function quotaTaskQueue(taskQueue: string, operation: QuotaOperation): string {
  return `${taskQueue}@${operation}`;
}
